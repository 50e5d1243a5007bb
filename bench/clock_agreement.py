"""Whether the harness's measured time is the time the measured steps took on a clock outside it.

    python bench/clock_agreement.py [--backends jax,torch] [--models mlp,cnn] [--quick]

For each workload and backend, one process runs the harness in-process
(harness.runner.run, which writes the result file as `python -m harness`
does) while an observer reads time.monotonic() just before the first measured
epoch's begin_epoch() and just after the last measured epoch's end_epoch(),
the Recorder's own calls, wrapped. The harness's figure is the result file's
metrics.measured.seconds (the sum of the measured epochs' seconds, the
denominator of every speed it reports); the outside figure is the
observer's span. Target: they agree within 2%.

Why this is a fair check: the observer brackets the Recorder's own clock
reads from outside (its span starts no later and ends no earlier), so the
measured steps are inside it whatever the harness does; what the span holds
beyond the steps is what Keras does between two measured epochs (ending one,
starting the next), which the harness leaves out of every epoch. Agreement
within 2% says the reported time neither drops steps nor hides a cost that
the measured phase pays. The observer also reports its own sum over the
measured epochs and the gap between epochs, to say which part a miss comes from.
"""
import argparse
import json
import tempfile
import time

import common

TARGET = 0.02
MODEL_STEPS = {"mlp": 200, "cnn": 25}
QUICK_STEPS = 10


def observe(model, backend, steps, epochs):
    """Run the harness here with the observer on; returns the harness's and the observer's times."""
    from harness import runner, schema, spec as specs, timing
    begins, ends = [], []
    begin_epoch, end_epoch = timing.Recorder.begin_epoch, timing.Recorder.end_epoch

    def observed_begin(recorder):
        begins.append(time.monotonic())
        begin_epoch(recorder)

    def observed_end(recorder):
        end_epoch(recorder)
        ends.append(time.monotonic())

    timing.Recorder.begin_epoch, timing.Recorder.end_epoch = observed_begin, observed_end
    with tempfile.TemporaryDirectory() as out:
        spec = specs.make_spec(model=model, backend=backend, steps_per_epoch=steps, epochs=epochs,
                               warmup=1, out=out)
        code, path = runner.run(spec, ["bench/clock_agreement.py", "--observe", model, backend])
        record = schema.read(path)
    if code != 0 or record["status"] != "ok":
        raise RuntimeError("the harness's run failed: %s" % record["error"])
    harness_seconds = record["metrics"]["measured"]["seconds"]
    span = ends[-1] - begins[spec.warmup]
    epochs_seconds = sum(end - begin for begin, end in zip(begins[spec.warmup:], ends[spec.warmup:]))
    return {"model": model, "backend": backend, "steps_per_epoch": steps, "epochs": epochs,
            "warmup": spec.warmup, "harness_seconds": harness_seconds, "outside_seconds": span,
            "outside_epochs_seconds": epochs_seconds, "between_epochs_seconds": span - epochs_seconds,
            "harness_over_outside": harness_seconds / span,
            "passed": abs(harness_seconds / span - 1) <= TARGET}


def main():
    options = common.parser("clock_agreement", __doc__.splitlines()[0])
    options.add_argument("--models", type=lambda text: text.split(","), default=["mlp", "cnn"],
                         help="comma-separated, of mlp and cnn (default: mlp,cnn)")
    options.add_argument("--epochs", type=int, help="measured epochs (default: 3; --quick: 2)")
    # The child process of one observed run: MODEL BACKEND STEPS EPOCHS; figures on stdout.
    options.add_argument("--observe", nargs=4, help=argparse.SUPPRESS)
    args = common.parse(options)
    if args.observe:
        model, backend, steps, epochs = args.observe
        print(json.dumps(observe(model, backend, int(steps), int(epochs))))
        return 0
    epochs = args.epochs or (2 if args.quick else 3)
    results = []
    for model in args.models:
        for backend in args.backends:
            steps = QUICK_STEPS if args.quick else MODEL_STEPS[model]
            # A fresh process per backend: Keras fixes its backend when it is imported.
            result = common.run_python("bench/clock_agreement.py",
                                       ["--observe", model, backend, steps, epochs])
            results.append(result)
            print("%s on %s: harness %.4f s, outside %.4f s (ratio %.4f; %.4f s between epochs)"
                  % (model, backend, result["harness_seconds"], result["outside_seconds"],
                     result["harness_over_outside"], result["between_epochs_seconds"]), flush=True)
    return common.report("clock_agreement", args, "harness within %d%% of the outside clock"
                         % (100 * TARGET), {"configurations": results},
                         all(r["passed"] for r in results))


if __name__ == "__main__":
    raise SystemExit(main())
