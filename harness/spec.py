"""The configuration of one run: what to train, where, and how to measure it.

A RunSpec is frozen once the CLI has built it; the runner, the result file and
the sweep all read the same object. OPTIONS lists its fields once: their defaults,
and the options and help of the command line (harness.options) come from it. No
framework is imported here.
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

# Every field of a run's spec, once: its default, the parsers that take it as an
# option, and its help. Option(name, default, takes, keywords, help): `takes` is
# "all" (every run and the sweep, which passes them on), "one" (one run's own: the
# sweep gives each run its own), a tuple of the workloads that take it (for the
# others it is None, so that a default changing here never makes two mlp runs look
# like different setups), or None (not an option); `keywords` are argparse's,
# "flag" among them where the flag is not the name's; `help` shows "{default}" as
# the default (with its $VARIABLE, see ENVIRONMENT_DEFAULTS), and None hides it.
Option = namedtuple("Option", "name default takes keywords help")
OPTIONS = (
    Option("model", None, None, {}, None),
    Option("backend", None, None, {}, None),
    Option("dataset", "synthetic", "all", dict(choices=DATASETS),
           "data set (default: {default})"),
    Option("data_dir", None, "all", {}, "folder of real data sets (default: $BENCH_DATA, then "
                                        "the Keras cache folder ~/.keras/datasets)"),
    Option("batch_size", None, "all", dict(type=int),
           "global batch size, split over the devices (default: the workload's)"),
    Option("per_device_batch", False, "all", dict(action="store_true"),
           "--batch-size is per device: the global batch is it times the devices"),
    Option("epochs", 5, "all", dict(type=int),  # README: why 5
           "measured epochs at least (default: {default})"),
    Option("warmup", 1, "all", dict(type=int),
           "epochs run first and not counted: they include graph building and compilation "
           "(default: {default})"),
    Option("steps_per_epoch", None, "all", dict(type=int),
           "steps in an epoch (default: the workload's for synthetic data, one full pass for "
           "real data)"),
    Option("epoch_seconds", 1.0, "all", dict(type=float),
           "make each measured epoch of synthetic data last about this long: the warm-up's "
           "pace sets its steps (one at least); 0: the workload's steps (default: {default})"),
    Option("min_steps", 0, "all", dict(type=int),
           "measure more epochs until at least this many steps are measured (default: {default})"),
    Option("min_seconds", 10.0, "all", dict(type=float),  # README: why 10
           "measure more epochs until at least this many seconds are measured "
           "(default: {default})"),
    Option("method", "fit", "all", dict(choices=METHODS),
           "Keras fit on arrays, one train_on_batch call per step, or fit on a generator "
           "(default: {default})"),
    Option("timing", None, "all", dict(choices=TIMINGS),
           "read the clock after every step (each step then waits for the device) or only at "
           "epoch ends, letting the backend queue steps ahead (default: epoch when training "
           "on GPUs, else step)"),
    Option("inference", False, "all", dict(action="store_true"),
           "measure predict throughput instead of training"),
    Option("data_format", None, "all", dict(choices=DATA_FORMATS),
           "image layout (default: the backend's configured one)"),
    Option("gpus", None, "all", dict(type=int), "GPUs to use, data-parallel when more than one; "
                                                "0 is the CPU (default: 1 if a GPU is visible, "
                                                "else 0)"),
    Option("cpu_devices", 1, "all", dict(type=int),
           "split the CPU into this many devices and train data-parallel on them, as on GPUs "
           "(default: {default})"),
    # Several processes (harness.cluster): their number, this one's rank, rank 0's host:port.
    Option("num_processes", None, "all", dict(type=int),
           "processes of a multi-process job, on one or more machines (default: what "
           "torchrun's, Slurm's, TF_CONFIG's or KERAS_DISTRIBUTION_* variables say, else 1; "
           "see docs/multi-node.md)"),
    Option("process_id", None, "all", dict(type=int),
           "this process's rank in the job, 0 to N-1; rank 0 writes the result (default: "
           "from the variables)"),
    Option("coordinator", None, "all", dict(metavar="HOST:PORT"),
           "rank 0's address, where the processes meet (default: from the variables)"),
    Option("precision", "float32", "all", dict(choices=PRECISIONS),
           "dtype policy (default: {default})"),
    Option("jit_compile", "auto", "all", dict(choices=JIT_COMPILE),
           "compile the training step: XLA on TensorFlow and JAX, torch.compile on PyTorch; "
           "auto lets Keras choose (default: {default}). The result records what each backend "
           "resolved it to"),
    Option("tf32", "off", "all", dict(choices=TF32),
           "TF32 matmuls on NVIDIA Ampere and newer, set alike on every backend (default: "
           "{default}, the seeds' float32)"),
    Option("seed", 1234, "all", dict(type=int),
           "seed of the synthetic data and the weights (default: {default})"),
    Option("out", "results", "all", {}, "folder the result files go to (default: {default})"),
    Option("instance", None, "all", {},
           "the tables' Instance Type label (default: derived from the host)"),
    Option("run_id", None, "one", {}, "the result's id (default: a fresh unique one)"),
    Option("telemetry_interval", 0.5, "all", dict(type=float),
           "seconds between samples of GPU and host use while training; 0 turns the sampler "
           "off (default: {default})"),
    Option("profile", False, "all", dict(action="store_true"),
           "also write the backend's own profiler trace beside the result (slows the run: "
           "its speed is marked as profiled)"),
    Option("repeat", 1, "all", dict(type=int),
           "run each configuration this many times, each in a fresh process, and report the "
           "spread of their speeds (default: {default})"),
    # A repeat's place among the repeats (0-based) and the id they share: the parent
    # passes them, users do not.
    Option("repeat_index", None, "one", dict(type=int), None),
    Option("repeat_group", None, "one", {}, None),
    Option("resnet_version", 1, ("resnet",), dict(flag="--version", type=int),
           "ResNet version, 1 or 2 (default: {default})"),
    Option("resnet_layers", 20, ("resnet",), dict(flag="--layers", type=int),
           "ResNet depth: 20, 56 or 110 (default: {default})"),
    Option("image_size", 224, ("resnet50", "vgg16"), dict(type=int),
           "image side in pixels; the seed's synthetic set used 256 (default: {default})"),
)
FIELD_NAMES = tuple(option.name for option in OPTIONS)
# Options only some workloads take.
MODEL_FIELDS = dict((o.name, o.takes) for o in OPTIONS if isinstance(o.takes, tuple))
DEFAULTS = dict((option.name, option.default) for option in OPTIONS)
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
