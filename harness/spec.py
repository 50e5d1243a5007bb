"""The configuration of one run: what to train, where, and how to measure it.

A RunSpec is frozen once the CLI has built it; the runner, the result file and
the sweep all read the same object. No framework is imported here.
"""
import os
from collections import namedtuple

# Keras 3 runs on these three (the sweep's default list). The seeds' Keras 2
# ran on TensorFlow 1.x and on three that only Keras 2 has (harness.backends
# says which Keras drives which).
KERAS3_BACKENDS = ("tensorflow", "jax", "torch")
# The same networks written natively on each framework, no Keras: how far
# Keras-on-X is from X itself (harness.backends.native).
NATIVE_BACKENDS = ("native-tensorflow", "native-jax", "native-torch")
BACKENDS = KERAS3_BACKENDS + ("mxnet", "theano", "cntk") + NATIVE_BACKENDS

METHODS = ("fit", "train_on_batch", "generator")
# How often the clock is read: after every step (each step waits for the device),
# or only at epoch ends (the backend may queue steps ahead, as plain training does).
TIMINGS = ("step", "epoch")
PRECISIONS = ("float32", "mixed_float16", "mixed_bfloat16")
DATA_FORMATS = ("channels_first", "channels_last")
# Speed knobs set alike on every backend and recorded with the result.
# jit_compile goes to Keras's compile (XLA on TensorFlow and JAX, torch.compile on
# PyTorch; "auto" lets Keras choose) and to the native networks' own compilers.
JIT_COMPILE = ("auto", "on", "off")
# TF32 matmuls on NVIDIA Ampere and newer: TensorFlow and JAX use them by default,
# PyTorch does not; "off" keeps the seeds' float32 on every backend.
TF32 = ("on", "off")

# Per workload: the data sets it reads, the seeds' batch size, the steps of one
# synthetic warm-up epoch (about a second or two on two cores; measured epochs
# are sized from its pace to last about --epoch-seconds), and what one sample is
# called in the tables.
Workload = namedtuple("Workload", "datasets batch_size steps_per_epoch unit summary")
WORKLOADS = {
    "mlp": Workload(("synthetic", "mnist"), 128, 200, "images",
                    "MNIST MLP 784-512-512-10, RMSprop"),
    "cnn": Workload(("synthetic", "cifar10"), 32, 50, "images",
                    "Keras CIFAR-10 simple CNN, RMSprop"),
    "resnet": Workload(("synthetic", "cifar10"), 32, 10, "images",
                       "ResNet v1/v2 for CIFAR-10 (--version, --layers), Adam"),
    "resnet50": Workload(("synthetic", "imagenet"), 32, 4, "images",
                         "ResNet50 v1, 1000 classes, 224x224 (--image-size), SGD"),
    "vgg16": Workload(("synthetic",), 16, 4, "images",
                      "VGG16, 1000 classes, 224x224 (--image-size), SGD"),
    "lstm": Workload(("synthetic", "nietzsche", "wikitext2"), 128, 25, "sequences",
                     "character LSTM 128 over 40 characters, RMSprop"),
}
# The workloads with convolutions: the ones whose image layout (--data-format) matters.
CONV_WORKLOADS = ("cnn", "resnet", "resnet50", "vgg16")
DATASETS = ("synthetic", "mnist", "cifar10", "imagenet", "nietzsche", "wikitext2")
# Data sets too large to hold in memory: they are read batch by batch.
STREAMING_DATASETS = ("imagenet",)

RESNET_VERSIONS = (1, 2)
RESNET_DEPTHS = (20, 56, 110)

_FIELDS = (
    ("model", None),
    ("backend", None),
    ("dataset", "synthetic"),
    ("data_dir", None),         # None: $BENCH_DATA, then the Keras cache folder
    ("batch_size", None),       # None: the workload's batch size
    ("per_device_batch", False),  # True: batch_size is per device, not global
    ("epochs", 5),              # measured epochs at least, after the warm-up (README: why 5)
    ("warmup", 1),              # epochs run first and not counted
    ("steps_per_epoch", None),  # None: the workload's (synthetic) or one full pass (real data)
    ("epoch_seconds", 1.0),     # synthetic epochs sized from the warm-up's pace to last this long
    ("min_steps", 0),           # measure on until at least this many steps...
    ("min_seconds", 10.0),      # ...and this many seconds are measured (README: why 10)
    ("method", "fit"),
    ("timing", None),           # None: per epoch when training on GPUs, else per step
    ("inference", False),
    ("data_format", None),      # None: the backend's configured default
    ("gpus", None),             # None: one GPU if any is visible, else the CPU
    ("cpu_devices", 1),         # >1: split the CPU into this many devices, data-parallel
    ("process_id", None),       # several processes (harness.cluster): this one's rank...
    ("num_processes", None),    # ...their number (None: what a launcher's variables say)...
    ("coordinator", None),      # ...and rank 0's "host:port"
    ("precision", "float32"),
    ("jit_compile", "auto"),    # auto: Keras's own choice per backend
    ("tf32", "off"),            # TF32 matmuls off on every backend (the seeds' float32)
    ("seed", 1234),
    ("out", "results"),
    ("instance", None),         # None: derived from the host
    ("run_id", None),           # None: a fresh unique id
    ("profile", False),         # write the backend's own profiler trace beside the result
    ("telemetry_interval", 0.5),  # seconds between GPU and host samples; 0: no sampler
    ("repeat", 1),              # run the configuration this many times, fresh processes
    ("repeat_index", None),     # this run's place among them (0-based; None: no repeats)
    ("repeat_group", None),     # the id the repeats of one configuration share
    ("resnet_version", 1),
    ("resnet_layers", 20),
    ("image_size", 224),
)
FIELD_NAMES = tuple(name for name, _ in _FIELDS)
# Options only some workloads take; for the others they are None, so that a
# default changing here never makes two mlp runs look like different setups.
MODEL_FIELDS = {
    "resnet_version": ("resnet",),
    "resnet_layers": ("resnet",),
    "image_size": ("resnet50", "vgg16"),
}
DEFAULTS = dict(_FIELDS)
# How long a run measures, when the command line does not say: these variables replace
# the defaults above. The test suite sets them to 0 so that its many runs stay tiny;
# the value a run used is in its result's config either way, and the variable in
# environment.env_vars.
ENVIRONMENT_DEFAULTS = {"min_seconds": "BENCH_MIN_SECONDS", "epoch_seconds": "BENCH_EPOCH_SECONDS"}


class RunSpec(namedtuple("RunSpec", FIELD_NAMES)):
    """One run's resolved configuration (immutable)."""

    __slots__ = ()

    @property
    def workload(self):
        return WORKLOADS[self.model]

    def global_batch(self, devices):
        """Samples per step over all `devices`: --batch-size, or that per device."""
        return self.batch_size * devices if self.per_device_batch else self.batch_size

    def to_dict(self):
        return dict(self._asdict())


class UsageError(ValueError):
    """A request that cannot be run as asked; reported in one line, exit code 2."""


def make_spec(**values):
    """Fill in the defaults (the workload's among them) and check the whole spec."""
    unknown = set(values) - set(FIELD_NAMES)
    if unknown:
        raise UsageError("unknown run option(s): " + ", ".join(sorted(unknown)))
    merged = dict(DEFAULTS)
    merged.update(_environment_defaults())
    merged.update((k, v) for k, v in values.items() if v is not None)
    model = merged["model"]
    if model not in WORKLOADS:
        raise UsageError("unknown model %r; choose from %s" % (model, ", ".join(WORKLOADS)))
    if merged["batch_size"] is None:
        merged["batch_size"] = WORKLOADS[model].batch_size
    for name, models in MODEL_FIELDS.items():
        if model not in models:
            if values.get(name) is not None:
                raise UsageError("model %s takes no %s" % (model, name))
            merged[name] = None
    if merged["cpu_devices"] > 1 and merged["gpus"] is None:
        merged["gpus"] = 0  # devices made of the CPU: a CPU run, whatever GPUs are visible
    spec = RunSpec(**merged)
    check(spec)
    return spec


def _environment_defaults():
    """The defaults that ENVIRONMENT_DEFAULTS's variables replace, as numbers."""
    found = {}
    for name, variable in ENVIRONMENT_DEFAULTS.items():
        text = os.environ.get(variable, "").strip()
        if not text:
            continue
        try:
            found[name] = float(text)
        except ValueError:
            raise UsageError("%s=%r is not a number of seconds" % (variable, text))
    return found


def check(spec):
    """Raise UsageError for any option, or mix of options, that cannot run."""
    workload = spec.workload
    if spec.backend not in BACKENDS:
        raise UsageError("unknown backend %r; choose from %s" % (spec.backend, ", ".join(BACKENDS)))
    if spec.dataset not in workload.datasets:
        raise UsageError("model %s does not read data set %r; it reads %s"
                         % (spec.model, spec.dataset, ", ".join(workload.datasets)))
    for name in ("batch_size", "epochs", "steps_per_epoch", "cpu_devices", "repeat"):
        value = getattr(spec, name)
        if value is not None and value < 1:
            raise UsageError("--%s must be at least 1, not %d" % (name.replace("_", "-"), value))
    for name in ("warmup", "min_steps", "min_seconds", "epoch_seconds", "telemetry_interval"):
        if getattr(spec, name) < 0:
            raise UsageError("--%s must be 0 or more, not %s"
                             % (name.replace("_", "-"), getattr(spec, name)))
    if spec.num_processes is not None and spec.num_processes < 1:
        raise UsageError("--num-processes must be at least 1, not %d" % spec.num_processes)
    if spec.process_id is not None and spec.process_id < 0:
        raise UsageError("--process-id must be 0 or more, not %d" % spec.process_id)
    if spec.gpus is not None and spec.gpus < 0:
        raise UsageError("--gpus must be 0 (CPU) or more, not %d" % spec.gpus)
    if spec.cpu_devices > 1 and spec.gpus:
        raise UsageError("--cpu-devices %d splits the CPU; it cannot be mixed with --gpus %d"
                         % (spec.cpu_devices, spec.gpus))
    if spec.method not in METHODS:
        raise UsageError("unknown method %r; choose from %s" % (spec.method, ", ".join(METHODS)))
    if spec.timing is not None and spec.timing not in TIMINGS:
        raise UsageError("unknown timing %r; choose from %s" % (spec.timing, ", ".join(TIMINGS)))
    if spec.timing == "epoch" and spec.inference:
        raise UsageError("--timing epoch times training epochs; inference is timed per step")
    if spec.precision not in PRECISIONS:
        raise UsageError("unknown precision %r; choose from %s"
                         % (spec.precision, ", ".join(PRECISIONS)))
    if spec.jit_compile not in JIT_COMPILE:
        raise UsageError("unknown --jit-compile %r; choose from %s"
                         % (spec.jit_compile, ", ".join(JIT_COMPILE)))
    if spec.tf32 not in TF32:
        raise UsageError("unknown --tf32 %r; choose from %s" % (spec.tf32, ", ".join(TF32)))
    if spec.data_format is not None and spec.data_format not in DATA_FORMATS:
        raise UsageError("unknown data format %r; choose from %s"
                         % (spec.data_format, ", ".join(DATA_FORMATS)))
    if spec.dataset in STREAMING_DATASETS and spec.method == "fit":
        raise UsageError("data set %s is streamed from disk and cannot be held in memory for "
                         "--method fit; use --method train_on_batch or generator" % spec.dataset)
    if spec.model == "resnet":
        if spec.resnet_version not in RESNET_VERSIONS:
            raise UsageError("--version must be 1 or 2, not %r" % spec.resnet_version)
        if spec.resnet_layers not in RESNET_DEPTHS:
            raise UsageError("--layers must be one of %s, not %r"
                             % (", ".join(map(str, RESNET_DEPTHS)), spec.resnet_layers))
    if spec.model in ("resnet50", "vgg16") and spec.image_size < 32:
        raise UsageError("--image-size must be at least 32 for %s, not %d"
                         % (spec.model, spec.image_size))
