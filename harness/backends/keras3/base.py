"""What every Keras 3 adapter shares.

Everything here happens after the backend is chosen: the environment is set
first, then Keras and the framework are imported. The framework's own parts
are in its module (tensorflow, jax, torch); how the run's processes are started
and work together is its launcher's (harness.backends.launchers).
"""
import importlib
import os
import random

import numpy as np

from harness import models
from harness.backends import frameworks
from harness.backends.common import Adapter as BaseAdapter
from harness.backends.common import (batch_sequence, check_backend, gpus_to_use,
                                     hide_gpus_for_cpu_run, timing_callback)
from harness.environment import providing_package
from harness.spec import UsageError


class Adapter(BaseAdapter):
    """Drives one Keras 3 backend for the runner (the calls of common.Adapter).

    A framework's module adds `_data_parallel` (its launcher over several devices),
    `_replicas` and, where it has them, the hooks below that do nothing here; its
    devices, description and drain are its tools' (harness.backends.frameworks).
    """

    api = "keras3"

    def __init__(self, spec, framework, place):
        self.name = spec.backend
        self.place = place
        os.environ["KERAS_BACKEND"] = spec.backend
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
        hide_gpus_for_cpu_run(spec)
        frameworks.before_import(framework, spec)
        import keras
        self.keras = keras
        self.framework = importlib.import_module(framework)
        self.tools = frameworks.tools(framework)
        check_backend(keras.backend.backend(), spec.backend)
        self._prepare(spec)
        self.tf32 = frameworks.set_tf32(framework, self.framework, spec.tf32 == "on")
        # Keras's compile takes True, False or "auto" (its own choice per backend).
        self._jit_compile = {"on": True, "off": False, "auto": "auto"}[spec.jit_compile]
        self.gpus = gpus_to_use(spec, self.visible_gpus())
        self.processes = place.num_processes
        self.devices = (self.gpus or spec.cpu_devices) * self.processes
        self.device_kind = "gpu" if self.gpus else "cpu"
        if self.devices > 1:
            self.launcher = self._data_parallel()
        self._seed(spec.seed)
        if spec.data_format:
            keras.config.set_image_data_format(spec.data_format)
        self.data_format = keras.config.image_data_format()
        keras.config.set_dtype_policy(spec.precision)

    def _prepare(self, spec):
        """What the framework needs set after its import, before it looks for devices."""

    def _seed(self, seed):
        """Seed Python, NumPy and this backend's framework, as keras.utils.set_random_seed
        does, but without its import of TensorFlow on every backend: that costs a JAX or
        PyTorch run seconds of start-up and puts TensorFlow's memory in its RSS. Keras
        draws its initializers' and dropout's seeds from Python's generator."""
        random.seed(seed)
        np.random.seed(seed)
        self._seed_framework(seed)

    def _seed_framework(self, seed):
        """Seed the framework's own generator, where Keras draws from it."""

    def visible_gpus(self):
        return self.tools.visible_gpus(self.framework)

    def _check_count(self, devices):
        """Fail if the backend sees fewer than the run's devices of its kind."""
        if len(devices) < self.devices:
            raise UsageError("%d %s devices asked, but the backend sees %d" % (
                self.devices, self.device_kind.upper(), len(devices)))

    # --- what runs where ---

    def unsupported(self, spec):
        """Why this backend cannot run `spec`, or None. Recorded as a skipped run."""
        return self.launcher.unsupported(spec)

    def replicas(self, model):
        """The framework's own account of where the model lives: the proof it was replicated."""
        if self.devices == 1:
            return None
        found = self._replicas(model)
        found.update(self.launcher.per_rank())
        return found

    def describe(self):
        """The framework's part of the result's environment."""
        info = {
            "keras_version": self.keras.__version__,
            "keras_api": self.api,
            "backend": self.name,
            "backend_version": self.framework.__version__,
            "backend_package": providing_package(self.framework.__name__),
            "keras_package": providing_package("keras"),
            "dtype_policy": self.keras.config.dtype_policy().name,  # what --precision set
            "cuda": None,
            "cudnn": None,
        }
        info.update(self.tools.describe(self.framework, self.gpus))
        info["tf32"] = self.tf32
        info["threads"] = frameworks.thread_settings(self.framework.__name__, self.framework)
        return info

    # --- measuring ---

    def sync(self, outputs):
        """Block until the device has finished all work queued so far.

        Reading the outputs back waits for the step that made them (for JAX that
        is the whole step: one compiled executable, whose outputs are ready only
        when all of it has run). TensorFlow and PyTorch queue kernels after the
        loss (the optimizer update), so on a GPU the device is drained as well.
        """
        if outputs is not None:
            for value in self.keras.tree.flatten(outputs):
                if not isinstance(value, (float, int)):
                    self.keras.ops.convert_to_numpy(value)
        if self.gpus:
            self.tools.drain(self.framework)

    def timing_callback(self, recorder, step_samples, steps):
        """A Keras callback that reports epochs and steps to `recorder` (see common)."""
        return timing_callback(self.keras, recorder, step_samples, steps)

    def memory(self):
        return frameworks.peak_memory(self.framework.__name__, self.framework, self.gpus)

    def trace(self, directory):
        return frameworks.trace(self.framework.__name__, self.framework, directory)

    # --- training and inference ---

    def build(self, spec, data):
        return models.build(spec, self.keras, data)

    def compile(self, model, recipe):
        """Compile `model` with the seed's recipe; returns the model to train."""
        optimizer = self.keras.optimizers.get(
            {"class_name": recipe.optimizer, "config": {"learning_rate": recipe.learning_rate}})
        model.compile(optimizer=optimizer, loss=recipe.loss, metrics=["accuracy"],
                      jit_compile=self._jit_compile)
        return model

    def jit_compiled(self, model):
        """Whether the training step is compiled, as Keras resolved --jit-compile: "on"
        (XLA on TensorFlow and JAX, torch.compile on PyTorch) or "off"."""
        return "on" if getattr(model, "jit_compile", False) else "off"

    def batch_sequence(self, data, batch_size, steps):
        """The data as a PyDataset of `steps` batches (the Keras 3 form of a generator)."""
        return batch_sequence(self.keras.utils.PyDataset, data, batch_size, steps)

    def fit(self, model, inputs, batch_size, epochs, steps, callback):
        """Train for `epochs` epochs of `steps` steps; returns the last epoch's logs."""
        if isinstance(inputs, tuple):
            (x, y), batch_size = self.launcher.local(inputs, batch_size)
            history = self._fit_arrays(model, x, y, batch_size, epochs, callback)
            self.launcher.fed(len(x) * len(history.history["loss"]))
        else:
            history = model.fit(inputs, epochs=epochs, steps_per_epoch=steps, shuffle=False,
                                verbose=0, callbacks=[callback])
        return {k: v[-1] for k, v in history.history.items()}

    def _fit_arrays(self, model, x, y, batch_size, epochs, callback):
        return model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False,
                         verbose=0, callbacks=[callback])

    def predict(self, model, inputs, batch_size, steps, callback):
        if isinstance(inputs, tuple):
            return model.predict(inputs[0], batch_size=batch_size, verbose=0, callbacks=[callback])
        return model.predict(inputs, steps=steps, verbose=0, callbacks=[callback])

    def train_on_batch(self, model, x, y):
        (x, y), _ = self.launcher.local((x, y), len(x))
        self.launcher.fed(len(x))
        return model.train_on_batch(x, y, return_dict=True)

    def predict_on_batch(self, model, x):
        return model.predict_on_batch(x)

    def evaluate(self, model, inputs, batch_size, steps):
        """Loss and accuracy over `inputs` with the trained weights (not timed per step)."""
        if isinstance(inputs, tuple):
            (x, y), batch_size = self.launcher.local(inputs, batch_size)
            logs = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
        else:
            logs = model.evaluate(inputs, steps=steps, verbose=0, return_dict=True)
        return {"loss": float(logs["loss"]), "accuracy": float(logs["accuracy"])}
