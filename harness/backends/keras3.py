"""Keras 3 on TensorFlow, JAX or PyTorch: the calls the runner needs, for one backend.

Everything here happens after the backend is chosen: the environment is set
first, then Keras and the framework are imported.
"""
import importlib
import os

from harness.backends.common import (batch_sequence, check_backend, gpus_to_use,
                                     hide_gpus_for_cpu_run, timing_callback)
from harness.environment import providing_package


class Adapter:
    """Drives one Keras 3 backend for the runner (framework-agnostic calls only)."""

    api = "keras3"

    def __init__(self, spec, framework):
        self.name = spec.backend
        os.environ["KERAS_BACKEND"] = spec.backend
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
        hide_gpus_for_cpu_run(spec)
        if spec.gpus == 0 and spec.backend == "jax":
            os.environ["JAX_PLATFORMS"] = "cpu"
        import keras
        self.keras = keras
        self.framework = importlib.import_module(framework)
        check_backend(keras.backend.backend(), spec.backend)
        self.gpus = gpus_to_use(spec, self.visible_gpus())
        keras.utils.set_random_seed(spec.seed)
        if spec.data_format:
            keras.config.set_image_data_format(spec.data_format)
        self.data_format = keras.config.image_data_format()
        keras.config.set_dtype_policy(spec.precision)

    # --- what runs where ---

    def visible_gpus(self):
        if self.name == "tensorflow":
            return len(self.framework.config.list_physical_devices("GPU"))
        if self.name == "jax":
            return sum(d.platform in ("gpu", "cuda", "rocm") for d in self.framework.devices())
        return self.framework.cuda.device_count()

    def unsupported(self, spec):
        """Why this backend cannot run `spec`, or None. Recorded as a skipped run."""
        if self.gpus > 1:
            return "data-parallel training on %d devices is not supported yet" % self.gpus
        return None

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
        if self.name == "tensorflow":
            build = self.framework.sysconfig.get_build_info()
            info["cuda"], info["cudnn"] = build.get("cuda_version"), build.get("cudnn_version")
            info["devices"] = [d.name for d in self.framework.config.list_logical_devices()]
        elif self.name == "jax":
            import jaxlib
            info["jaxlib_version"] = jaxlib.__version__
            info["devices"] = [str(d) for d in self.framework.devices()]
            info["cuda"] = self.framework.devices()[0].client.platform_version if self.gpus else None
        else:
            torch = self.framework
            info["cuda"] = torch.version.cuda
            info["cudnn"] = torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None
            info["devices"] = ["cuda:%d %s" % (i, torch.cuda.get_device_name(i))
                               for i in range(torch.cuda.device_count())] or ["cpu"]
            info["threads"] = torch.get_num_threads()
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
            if self.name == "torch":
                self.framework.cuda.synchronize()
            elif self.name == "tensorflow":
                self.framework.test.experimental.sync_devices()

    def timing_callback(self, recorder, step_samples):
        """A Keras callback that reports epochs and steps to `recorder` (see common)."""
        return timing_callback(self.keras, recorder, step_samples)

    # --- training and inference ---

    def compile(self, model, recipe):
        """Compile `model` with the seed's recipe; returns the model to train (this one)."""
        optimizer = self.keras.optimizers.get(
            {"class_name": recipe.optimizer, "config": {"learning_rate": recipe.learning_rate}})
        model.compile(optimizer=optimizer, loss=recipe.loss, metrics=["accuracy"])
        return model

    def batch_sequence(self, data, batch_size, steps):
        """The data as a PyDataset of `steps` batches (the Keras 3 form of a generator)."""
        return batch_sequence(self.keras.utils.PyDataset, data, batch_size, steps)

    def fit(self, model, inputs, batch_size, epochs, steps, callback):
        """Train for `epochs` epochs of `steps` steps; returns the last epoch's logs."""
        if isinstance(inputs, tuple):
            history = model.fit(inputs[0], inputs[1], batch_size=batch_size, epochs=epochs,
                                shuffle=False, verbose=0, callbacks=[callback])
        else:
            history = model.fit(inputs, epochs=epochs, steps_per_epoch=steps, shuffle=False,
                                verbose=0, callbacks=[callback])
        return {k: v[-1] for k, v in history.history.items()}

    def predict(self, model, inputs, batch_size, steps, callback):
        if isinstance(inputs, tuple):
            return model.predict(inputs[0], batch_size=batch_size, verbose=0, callbacks=[callback])
        return model.predict(inputs, steps=steps, verbose=0, callbacks=[callback])

    def train_on_batch(self, model, x, y):
        return model.train_on_batch(x, y, return_dict=True)

    def predict_on_batch(self, model, x):
        return model.predict_on_batch(x)
