"""Keras 3 on TensorFlow, JAX or PyTorch: the calls the runner needs, for one backend.

Everything here happens after the backend is chosen: the environment is set
first, then Keras and the framework are imported.
"""
import importlib
import os
import random

import numpy as np

from harness import cluster, models
from harness.backends import framework_tools
from harness.backends.common import (SingleProcessAdapter, Unsupported, batch_sequence,
                                     check_backend, gpus_to_use, hide_gpus_for_cpu_run,
                                     timing_callback)
from harness.environment import providing_package
from harness.spec import CONV_WORKLOADS, UsageError


class Adapter(SingleProcessAdapter):
    """Drives one Keras 3 backend for the runner (framework-agnostic calls only).

    On several devices (--gpus N, or --cpu-devices N to split the CPU) each
    backend trains data-parallel by its own mechanism: JAX through
    keras.distribution.DataParallel, TensorFlow through MirroredStrategy, and
    PyTorch through DistributedDataParallel as Keras's guide does it (one
    process per device; see torch_ddp).

    Several processes, on one machine or many, started by a launcher
    (harness.cluster): JAX joins them with keras.distribution.initialize
    (jax_job), PyTorch with a DDP process group (torch_ddp), and TensorFlow
    tries MultiWorkerMirroredStrategy from TF_CONFIG.
    """

    api = "keras3"

    def __init__(self, spec, framework):
        self.name = spec.backend
        os.environ["KERAS_BACKEND"] = spec.backend
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
        hide_gpus_for_cpu_run(spec)
        if spec.gpus == 0 and spec.backend == "jax":
            os.environ["JAX_PLATFORMS"] = "cpu"
            if spec.cpu_devices > 1:  # read when JAX starts, so set before it is imported
                os.environ["XLA_FLAGS"] = ("%s --xla_force_host_platform_device_count=%d"
                                           % (os.environ.get("XLA_FLAGS", ""), spec.cpu_devices)).strip()
        import keras
        self.keras = keras
        self.framework = importlib.import_module(framework)
        check_backend(keras.backend.backend(), spec.backend)
        self.place = cluster.describe(spec)
        self._strategy = self._ddp = self._job = None
        if self.place.several and spec.backend == "jax":  # before JAX looks for devices
            from harness.backends import jax_job
            self._job = jax_job.Job(keras, self.framework, self.place, spec.seed)
        self.tf32 = framework_tools.set_tf32(self.name, self.framework, spec.tf32 == "on")
        # Keras's compile takes True, False or "auto" (its own choice per backend).
        self._jit_compile = {"on": True, "off": False, "auto": "auto"}[spec.jit_compile]
        if spec.backend == "tensorflow" and spec.cpu_devices > 1:
            _split_tensorflow_cpu(self.framework, spec.cpu_devices)
        self.gpus = gpus_to_use(spec, self.visible_gpus())
        self.processes = self.place.num_processes
        self.rank = self.place.process_id
        self.devices = (self.gpus or spec.cpu_devices) * self.processes
        self.device_kind = "gpu" if self.gpus else "cpu"
        if self.place.several and spec.backend == "torch" and self.devices > self.processes:
            raise UsageError("under a launcher PyTorch trains on one device per process: "
                             "start one process per GPU (torchrun --nproc-per-node)")
        if self.devices > 1:
            self._data_parallel()
        self._seed(spec.seed)
        if spec.data_format:
            keras.config.set_image_data_format(spec.data_format)
        self.data_format = keras.config.image_data_format()
        keras.config.set_dtype_policy(spec.precision)

    def _seed(self, seed):
        """Seed Python, NumPy and this backend's framework, as keras.utils.set_random_seed
        does, but without its import of TensorFlow on every backend: that costs a JAX or
        PyTorch run seconds of start-up and puts TensorFlow's memory in its RSS. Keras
        draws its initializers' and dropout's seeds from Python's generator."""
        random.seed(seed)
        np.random.seed(seed)
        if self.name == "tensorflow":
            self.framework.random.set_seed(seed)
        elif self.name == "torch":
            self.framework.manual_seed(seed)

    # --- what runs where ---

    def visible_gpus(self):
        if self.name == "tensorflow":
            return len(self.framework.config.list_physical_devices("GPU"))
        if self.name == "jax":
            return sum(d.platform in ("gpu", "cuda", "rocm") for d in self.framework.local_devices())
        return self.framework.cuda.device_count()

    def _data_parallel(self):
        """Set up this backend's own data-parallel training over `self.devices` devices."""
        kind = self.device_kind
        if self.name == "jax":
            devices = self.keras.distribution.list_devices(kind)[:self.devices]  # every process's
            _check_count(devices, self.devices, kind)
            # Several processes each feed their own slice of the batch (jax_job.Job.local).
            self.keras.distribution.set_distribution(self.keras.distribution.DataParallel(
                devices=devices, auto_shard_dataset=self._job is None))
            self.parallel = "keras.distribution.DataParallel"
        elif self.name == "tensorflow" and self.place.several:
            # Its workers come from TF_CONFIG, which it reads itself.
            self._strategy = self.framework.distribute.MultiWorkerMirroredStrategy()
            self.parallel = "tf.distribute.MultiWorkerMirroredStrategy"
        elif self.name == "tensorflow":
            tf = self.framework
            names = [d.name for d in tf.config.list_logical_devices(kind.upper())][:self.devices]
            _check_count(names, self.devices, kind)
            # On GPUs MirroredStrategy all-reduces with NCCL; across CPU devices
            # it has no NCCL and reduces through one device instead.
            reduce = None if self.gpus else tf.distribute.ReductionToOneDevice()
            self._strategy = tf.distribute.MirroredStrategy(devices=names, cross_device_ops=reduce)
            self.parallel = "tf.distribute.MirroredStrategy"
        else:
            from harness.backends import torch_ddp
            self._ddp = torch_ddp.Group(self.framework, self.keras, self.devices, kind,
                                        self.place if self.place.several else None)
            self.rank = self._ddp.rank
            self.parallel = "torch DistributedDataParallel (%s)" % self._ddp.backend

    @property
    def _group(self):
        """The processes this one runs with, when a launcher started several (or None)."""
        return self._job or (self._ddp if self.place.several else None)

    @property
    def nodes(self):
        return len({m["node"] for m in self._group.members}) if self._group else 1

    def unsupported(self, spec):
        """Why this backend cannot run `spec`, or None. Recorded as a skipped run."""
        if self.place.several and self.name == "tensorflow" and "TF_CONFIG" not in os.environ:
            return "MultiWorkerMirroredStrategy reads its workers from TF_CONFIG, which is not set"
        if self._job and (spec.method == "generator" or spec.inference):
            return ("several JAX processes train here on arrays only: each feeds its slice of "
                    "every batch; use --method fit or train_on_batch, training")
        if self._ddp and spec.method == "generator":
            return ("Keras's PyTorch data-parallel recipe is a plain torch loop over arrays; "
                    "use --method fit or train_on_batch")
        if self._ddp and spec.jit_compile == "on":
            return ("Keras's PyTorch data-parallel recipe is a plain torch loop, outside "
                    "Keras's compile: --jit-compile on has nothing to compile")
        if self.name == "tensorflow" and spec.model in CONV_WORKLOADS:
            return framework_tools.tensorflow_cpu_layout_problem(self.framework, self.gpus,
                                                                 self.data_format)
        return None

    def scope(self):
        return self._strategy.scope() if self._strategy else SingleProcessAdapter.scope(self)

    def launch(self, measure, spec, record):
        if self._ddp:
            return self._ddp.launch(self, measure, spec, record)
        return measure(self, spec, record)

    def agree(self, value):
        group = self._job or self._ddp
        return group.agree(value) if group else value

    def publish_failure(self, text):
        if self._group:  # (TensorFlow's workers have no such channel here)
            self._group.publish_failure(text)

    def peer_failures(self):
        return self._group.peer_failures() if self._group else []

    def beat(self):
        if self._group:
            self._group.beat()

    def heartbeats(self):
        return self._group.heartbeats() if self._group else []

    def hosts(self):
        return [m["host"] for m in self._group.members] if self._group else []

    def replicas(self, model):
        """The framework's own account of where the model lives: the proof it was replicated."""
        if self.devices == 1:
            return None
        if self._ddp:
            return self._ddp.replicas()
        if self._job:
            return self._job.replicas(model)
        variable = model.trainable_variables[0].value
        if self.name == "jax":
            placed = sorted(str(d) for d in variable.sharding.device_set)
            return {"replicas": len(placed), "first_variable_on": placed}
        return {"replicas": self._strategy.num_replicas_in_sync,
                "first_variable_on": sorted(v.device for v in variable.values)}

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
            info["onednn"] = framework_tools.tensorflow_onednn(self.framework)
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
        info["tf32"] = self.tf32
        info["threads"] = framework_tools.thread_settings(self.name, self.framework)
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

    def timing_callback(self, recorder, step_samples, steps):
        """A Keras callback that reports epochs and steps to `recorder` (see common)."""
        return timing_callback(self.keras, recorder, step_samples, steps)

    # --- training and inference ---

    def build(self, spec, data):
        return models.build(spec, self.keras, data)

    def compile(self, model, recipe):
        """Compile `model` with the seed's recipe; returns the model to train (this one,
        or with PyTorch on several devices its DistributedDataParallel trainer)."""
        if self._ddp:
            return self._ddp.trainer(model, recipe)
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
            (x, y), batch_size = self._local(inputs, batch_size)
            try:
                history = model.fit(x, y, batch_size=batch_size, epochs=epochs, shuffle=False,
                                    verbose=0, callbacks=[callback])
            except ValueError as error:
                if self.parallel == "tf.distribute.MultiWorkerMirroredStrategy" and \
                        "PerReplica" in str(error):
                    raise Unsupported(
                        "Keras %s's fit fails under TensorFlow's MultiWorkerMirroredStrategy "
                        "(keras-team/keras#20585, tensorflow/tensorflow#72388): %s"
                        % (self.keras.__version__, str(error).splitlines()[0]))
                raise
            if self._job:
                self._job.samples += len(x) * len(history.history["loss"])
        else:
            history = model.fit(inputs, epochs=epochs, steps_per_epoch=steps, shuffle=False,
                                verbose=0, callbacks=[callback])
        return {k: v[-1] for k, v in history.history.items()}

    def predict(self, model, inputs, batch_size, steps, callback):
        if isinstance(inputs, tuple):
            return model.predict(inputs[0], batch_size=batch_size, verbose=0, callbacks=[callback])
        return model.predict(inputs, steps=steps, verbose=0, callbacks=[callback])

    def train_on_batch(self, model, x, y):
        (x, y), _ = self._local((x, y), len(x))
        if self._job:
            self._job.samples += len(x)
        return model.train_on_batch(x, y, return_dict=True)

    def predict_on_batch(self, model, x):
        return model.predict_on_batch(x)

    def evaluate(self, model, inputs, batch_size, steps):
        """Loss and accuracy over `inputs` with the trained weights (not timed per step)."""
        if isinstance(inputs, tuple):
            (x, y), batch_size = self._local(inputs, batch_size)
            logs = model.evaluate(x, y, batch_size=batch_size, verbose=0, return_dict=True)
        else:
            logs = model.evaluate(inputs, steps=steps, verbose=0, return_dict=True)
        return {"loss": float(logs["loss"]), "accuracy": float(logs["accuracy"])}

    def _local(self, arrays, batch_size):
        """The rows of `arrays` this process feeds, and its share of the batch (all of
        them, and the whole batch, but in a multi-process JAX job)."""
        if not self._job:
            return arrays, batch_size
        return tuple(self._job.local(a, batch_size)[0] for a in arrays), batch_size // self._job.world

    def memory(self):
        return framework_tools.peak_memory(self.name, self.framework, self.gpus)

    def trace(self, directory):
        return framework_tools.trace(self.name, self.framework, directory)


def _check_count(devices, wanted, kind):
    if len(devices) < wanted:
        raise UsageError("%d %s devices asked, but the backend sees %d" % (wanted, kind.upper(),
                                                                         len(devices)))


def _split_tensorflow_cpu(tf, count):
    """Make TensorFlow see the CPU as `count` logical devices (before it starts its runtime)."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(count)])
