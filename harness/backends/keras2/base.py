"""What every Keras 2 adapter shares: the calls the runner makes of the Keras 3
adapter (keras3.base lists them), in Keras 2's words.

The legacy shims and the environment come first, then Keras and the framework
are imported. Runs on Python 3.6 (the seeds' images) as well as today's Python.
The framework's own parts are in its module (tensorflow, mxnet, theano, cntk).
"""
import importlib
import os
import random
import re

import numpy as np

from harness import models
from harness.backends import frameworks, legacy
from harness.backends.common import Adapter as BaseAdapter
from harness.backends.common import (batch_sequence, check_backend, gpus_to_use,
                                     hide_gpus_for_cpu_run, timing_callback)
from harness.backends.keras2.config import own_keras_config
from harness.backends.launchers.one_process import OneProcess
from harness.environment import providing_package

# Keras 2 calls the accuracy metric "acc"; results use Keras 3's names.
_METRIC_NAMES = {"acc": "accuracy"}

# Keras before 2.2 ships its own keras.applications, whose models refuse
# smaller images than keras_applications (Keras 2.2 on) and Keras 3 (32 pixels).
_OLD_APPLICATIONS_MIN_SIZE = {"resnet50": 197, "vgg16": 48}


class Adapter(BaseAdapter):
    """Drives one Keras 2 backend for the runner.

    A framework's module adds `visible_gpus` and, where it has them, the hooks
    below that do nothing here.
    """

    api = "keras2"
    # How Keras 2 trains this backend data-parallel on several GPUs (None: it does not).
    PARALLEL = None

    def __init__(self, spec, framework, place):
        self.name = spec.backend
        self.shims = legacy.apply(spec.backend, "before_import")
        os.environ["KERAS_BACKEND"] = spec.backend  # beats keras.json's "backend"
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
        hide_gpus_for_cpu_run(spec)
        # Before Keras: the framework keeps its caches in the user's home (~/.theano).
        self.framework = importlib.import_module(framework)
        with own_keras_config(spec.backend):
            import keras
        self.shims += legacy.apply(spec.backend, "after_import")
        self.keras = keras
        check_backend(keras.backend.backend(), spec.backend)
        self.gpus = gpus_to_use(spec, self.visible_gpus())
        self.devices = self.gpus or 1  # --cpu-devices is a Keras 3 feature (see unsupported)
        self.device_kind = "gpu" if self.gpus else "cpu"
        if self.gpus > 1:
            self.launcher = OneProcess(self.PARALLEL)
        # keras.json may set another floatx; other precisions are skipped (unsupported).
        keras.backend.set_floatx("float32")
        # Keras 2's initializers draw from NumPy; its Theano and CNTK backends
        # seed their random streams from NumPy too.
        random.seed(spec.seed)
        np.random.seed(spec.seed)
        self._seed_framework(spec.seed)
        keras.backend.set_image_data_format(spec.data_format or self._default_data_format())
        self.data_format = keras.backend.image_data_format()

    def _seed_framework(self, seed):
        """Seed the framework's own generator, where Keras 2 draws from it."""

    def _default_data_format(self):
        """keras.json's image_data_format (--data-format overrides it)."""
        return self.keras.backend.image_data_format()

    # --- what runs where ---

    def unsupported(self, spec):
        """Why this backend cannot run `spec`, or None. Recorded as a skipped run."""
        if spec.precision != "float32":
            return "%s needs Keras 3's mixed precision; Keras %s runs float32 only" % (
                spec.precision, self.keras.__version__)
        if spec.jit_compile == "on":
            return ("--jit-compile on needs Keras 3's compile(jit_compile=True); Keras %s "
                    "compiles no training step with XLA or torch.compile" % self.keras.__version__)
        if spec.tf32 == "on":
            return ("--tf32 on: no TF32 switch is wired for Keras 2's %s backend (TensorFlow "
                    "has one from 2.4 on, Keras 2's MXNet and Theano have none)" % self.name)
        if self.gpus > 1 and self.PARALLEL is None:
            return "Keras 2's %s backend has no data-parallel training" % self.name
        if spec.cpu_devices > 1:
            return "Keras 2 trains data-parallel on GPUs only, not on a split CPU"
        if spec.profile and self._profile_problem():
            return self._profile_problem()
        smallest = _OLD_APPLICATIONS_MIN_SIZE.get(spec.model)
        if smallest and spec.image_size < smallest and _version(self.keras.__version__) < (2, 2):
            return ("Keras %s's keras.applications %s takes images of at least %dx%d, not %dx%d"
                    % (self.keras.__version__, spec.model, smallest, smallest,
                       spec.image_size, spec.image_size))
        return None

    def _profile_problem(self):
        """Why --profile cannot trace this backend, or None."""
        if frameworks.profiler(self.name) is None:
            return "no profiler is wired for %s" % self.name
        return None

    def describe(self):
        """The framework's part of the result's environment."""
        package = providing_package(self.framework.__name__)
        info = {
            "keras_version": self.keras.__version__,
            "keras_api": self.api,
            "keras_package": providing_package("keras"),  # keras, or the keras-mxnet fork
            "backend": self.name,
            "backend_version": self.framework.__version__,
            "backend_package": package,
            "cuda": None,
            "cudnn": None,
            "legacy_shims": self.shims,
        }
        info.update(self._describe_framework(package))
        info["tf32"] = None  # no switch set: see unsupported
        info["threads"] = frameworks.thread_settings(self.name, self.framework)
        return info

    # --- measuring ---

    def sync(self, outputs):
        """Block until the device has finished all work queued so far.

        Keras 2 hands back every step's results as NumPy values, and a
        TensorFlow 1.x session, Theano and CNTK return only once the whole step,
        the weight update included, has run (MXNet's module says otherwise).
        """

    def timing_callback(self, recorder, step_samples, steps):
        """A Keras callback that reports epochs and steps to `recorder` (see common)."""
        return timing_callback(self.keras, recorder, step_samples, steps)

    # --- training and inference ---

    def build(self, spec, data):
        return models.build(spec, self.keras, data)

    def compile(self, model, recipe):
        """Compile `model` with the seed's recipe; returns the model to train.

        Keras 2 builds its backend functions lazily, before the first epoch of
        fit and outside every epoch: they are built here, so that the time is
        the compile phase's (Keras 3 traces in the first step instead).
        """
        model = self.compile_model(self.keras, self.gpus, model, recipe)
        model._make_train_function()
        model._make_predict_function()
        model._make_test_function()
        return model

    @staticmethod
    def compile_model(keras, gpus, model, recipe, **options):
        """Compile `model` for `gpus` devices; returns the model to train (several GPUs:
        the framework's module wraps it, or passes its `options`). The batch given is
        the global batch."""
        optimizer = keras.optimizers.get({"class_name": recipe.optimizer,
                                          "config": {"lr": recipe.learning_rate}})
        model.compile(optimizer=optimizer, loss=recipe.loss, metrics=["accuracy"], **options)
        return model

    def jit_compiled(self, model):
        """Keras 2 compiles no training step with XLA or torch.compile (see unsupported)."""
        return "off"

    def batch_sequence(self, data, batch_size, steps):
        """The data as a keras.utils.Sequence of `steps` batches (what fit_generator reads)."""
        return batch_sequence(self.keras.utils.Sequence, data, batch_size, steps)

    def fit(self, model, inputs, batch_size, epochs, steps, callback):
        """Train for `epochs` epochs of `steps` steps; returns the last epoch's logs."""
        if isinstance(inputs, tuple):
            history = model.fit(inputs[0], inputs[1], batch_size=batch_size, epochs=epochs,
                                shuffle=False, verbose=0, callbacks=[callback])
        else:
            # workers=0: batches are made on the main thread, as Keras 3 makes a
            # PyDataset's with its one default worker, so both time the same work.
            history = model.fit_generator(inputs, steps_per_epoch=steps, epochs=epochs,
                                          shuffle=False, verbose=0, callbacks=[callback],
                                          workers=0)
        return _metrics({k: v[-1] for k, v in history.history.items()})

    def predict(self, model, inputs, batch_size, steps, callback):
        """One predict() call, timed whole.

        Keras 2's predict and predict_generator take no callbacks (Keras 2.3
        added them), so a call is one epoch of one step that holds all its
        samples: the epoch's speed is exact, its steps are not seen one by one
        (`--method train_on_batch` times predict_on_batch batch by batch).
        """
        if isinstance(inputs, tuple):
            return callback.time_whole_call(
                lambda: model.predict(inputs[0], batch_size=batch_size, verbose=0))
        return callback.time_whole_call(
            lambda: model.predict_generator(inputs, steps=steps, workers=0, verbose=0))

    def train_on_batch(self, model, x, y):
        """One step; returns {metric name: value}, as Keras 3's return_dict=True does."""
        values = model.train_on_batch(x, y)
        return _metrics(dict(zip(model.metrics_names, np.atleast_1d(values))))

    def predict_on_batch(self, model, x):
        return model.predict_on_batch(x)

    def evaluate(self, model, inputs, batch_size, steps):
        """Loss and accuracy over `inputs` with the trained weights (not timed per step)."""
        if isinstance(inputs, tuple):
            values = model.evaluate(inputs[0], inputs[1], batch_size=batch_size, verbose=0)
        else:
            values = model.evaluate_generator(inputs, steps=steps, workers=0)
        logs = _metrics(dict(zip(model.metrics_names, np.atleast_1d(values))))
        return {"loss": logs["loss"], "accuracy": logs["accuracy"]}

    def memory(self):
        """None: TensorFlow 1.x, MXNet 1.x, Theano and CNTK keep no peak counter Keras 2 can read."""
        return None

    def trace(self, directory):
        return frameworks.trace(self.name, self.framework, directory)


def _metrics(logs):
    """Keras 2's logs with Keras 3's metric names, as plain floats (for the JSON result)."""
    return {_METRIC_NAMES.get(name, name): float(value) for name, value in logs.items()}


def _version(text):
    """'2.2.4.3' -> (2, 2, 4, 3)."""
    return tuple(int(part) for part in re.findall(r"\d+", text))
