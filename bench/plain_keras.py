"""The smallest plain Keras program that trains a harness workload: bench/overhead.py's baseline.

    python bench/plain_keras.py MODEL BACKEND [--steps-per-epoch S] [--epochs E] [--warmup W]
                                [--step-hook]

Trains what `python -m harness MODEL --backend BACKEND` trains (the same network,
recipe, seed and synthetic bytes, made by harness.models and harness.datasets,
which only construct them and are not in the loop) with one `model.fit()` call
of W + E epochs, and prints one JSON line: each epoch's seconds and the
measured epochs' median samples/s, the harness's headline figure.

Why one fit() with an epoch-level clock rather than fit(epochs=1) per timed
epoch: the harness trains with one fit() call, and a fit() call has costs of its
own (a new data adapter and iterator, TensorFlow's input pipeline, the callback
list) that would then land between every pair of epochs of the baseline only.
With one call both programs do the same work in the same order, and the one
difference left is what bench/overhead.py measures: the harness's per-step
callback. A callback with epoch hooks only leaves Keras 3 its asynchronous
step dispatch (no step's logs are pulled to the host), so this is the fastest
plain fit() loop; and Keras converts the epoch's logs to Python numbers before
it calls on_epoch_end, so the device has finished the epoch when the clock is read.

--step-hook adds a callback whose on_train_batch_end does nothing and is not
async_safe: Keras then runs every step's hooks in the main thread, after
pulling its logs to the host, so the program measures that mechanism alone
(the harness's own step callback is async_safe, and Keras runs it in a worker
thread, as a plain fit()'s hooks).
"""
import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import datasets, models, spec as specs, timing  # noqa: E402


def main():
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("model", choices=("mlp", "cnn"))
    options.add_argument("backend", choices=specs.KERAS3_BACKENDS)
    options.add_argument("--steps-per-epoch", type=int)
    options.add_argument("--epochs", type=int, default=specs.DEFAULTS["epochs"])
    options.add_argument("--warmup", type=int, default=specs.DEFAULTS["warmup"])
    options.add_argument("--step-hook", action="store_true",
                         help="add a callback with an empty per-step hook")
    args = options.parse_args()
    spec = specs.make_spec(model=args.model, backend=args.backend,
                           steps_per_epoch=args.steps_per_epoch, epochs=args.epochs,
                           warmup=args.warmup)
    steps = spec.steps_per_epoch or spec.workload.steps_per_epoch

    os.environ["KERAS_BACKEND"] = spec.backend
    import keras
    keras.utils.set_random_seed(spec.seed)
    data = datasets.synthetic(spec, keras.config.image_data_format(), steps * spec.batch_size)
    x, y = data.arrays(steps * spec.batch_size)
    model, recipe = models.build(spec, keras, data)
    optimizer = keras.optimizers.get({"class_name": recipe.optimizer,
                                      "config": {"learning_rate": recipe.learning_rate}})
    model.compile(optimizer=optimizer, loss=recipe.loss, metrics=["accuracy"])

    class EpochClock(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.seconds = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.seconds.append(time.perf_counter() - self.start)

    class EmptyStepHook(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            pass

    clock = EpochClock()
    model.fit(x, y, batch_size=spec.batch_size, epochs=spec.warmup + spec.epochs, shuffle=False,
              verbose=0, callbacks=[clock] + ([EmptyStepHook()] if args.step_hook else []))
    rates = [steps * spec.batch_size / s for s in clock.seconds[spec.warmup:]]
    print(json.dumps({"epoch_seconds": clock.seconds, "steps_per_epoch": steps,
                      "batch_size": spec.batch_size, "median": timing.stats(rates)["median"]}))


if __name__ == "__main__":
    main()
