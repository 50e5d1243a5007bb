"""Result files to the seeds' Markdown tables (or CSV, JSON) and a speed chart.

    python harness/collect.py results/ > CNN_result.md
    python -m harness.collect results/ --kind rnn --format csv
    python -m harness.collect results/ --chart speed.png
    python -m harness.collect results/ --phases    # also where each run's time went

Reads the records of harness/schema.py and nothing else: no deep-learning
framework is imported, so it runs on any host that has `tabulate` (and
`matplotlib` for --chart). Repeated runs of one configuration become one row
(the median of their medians, with the coefficient of variation across them);
runs on different device counts are different rows. Where speeds are ranked (the
backend comparison, Keras against native), harness.significance decides whether a
difference is real ("≈" where not), and each run's stability verdict is shown. Profiled runs are kept out
of every speed (the profiler slows them) and shown only in the phase breakdown
(--phases).
Failed, skipped and interrupted runs are listed apart and never enter a speed.

One bad file must not cost the table of all the good ones: every field the
output reads is checked once, as a record is read (FIELDS, `checked`), so the
rendering code can trust what it gets. A file that cannot be read, or whose
required field is wrong, is named on stderr with the field and skipped; a wrong
optional field is named and emptied, and the rest of its record is shown.
"""
import argparse
import csv
import io
import json
import math
import os
import statistics
import sys
from collections import OrderedDict, namedtuple

if not __package__:
    # Run as a script: only harness/ itself is on sys.path, not the package's parent.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness import schema, significance  # noqa: E402

try:
    from tabulate import tabulate
except ImportError:  # main() says so in one line; importing this module still works
    tabulate = None

# Orders and names as the seeds write them; anything unknown keeps its own name
# and sorts after these.
MODELS = ("mlp", "cnn", "resnet", "resnet50", "vgg16", "lstm")
RNN_MODELS = ("lstm",)
MODEL_LABELS = {"mlp": "MLP", "cnn": "Simple CNN", "resnet50": "ResNet50V1",
                "vgg16": "VGG16", "lstm": "LSTM"}
DATASETS = ("cifar10", "imagenet", "synthetic", "mnist", "nietzsche", "wikitext2")
DATASET_LABELS = {"cifar10": "CIFAR-10", "imagenet": "ImageNet", "synthetic": "Synthetic",
                  "mnist": "MNIST", "nietzsche": "Nietzsche", "wikitext2": "WikiText-2"}
DATASET_LINKS = {"cifar10": "https://www.cs.toronto.edu/~kriz/cifar.html",
                 "imagenet": "http://image-net.org"}
BACKEND_LABELS = {"tensorflow": "TensorFlow", "mxnet": "MXNet", "jax": "JAX", "torch": "PyTorch",
                  "native-tensorflow": "TensorFlow (native)", "native-jax": "JAX (native)",
                  "native-torch": "PyTorch (native)", "theano": "Theano", "cntk": "CNTK"}
# native-X is the network written on framework X itself, no Keras: Keras-on-X's reference.
NATIVE_PREFIX = "native-"
METHODS = ("fit", "train_on_batch", "generator")
METHOD_LABELS = {"generator": "fit_generator"}
DATA_FORMAT_LABELS = {"channels_last": "channel last", "channels_first": "channel first"}
# The summary table's data set columns, as in the seed's README.
SUMMARY_COLUMNS = OrderedDict((("cifar10", "CIFAR-10"), ("imagenet", "ImageNet"),
                               ("synthetic", "Synthetic Data")))
SUMMARY_FIELDS = ("instance", "gpus", "devices", "backend", "backend_package", "keras_version",
                  "backend_version")

# Two runs are repeats of one configuration when everything in their config is
# equal except what only names or places a run (a repeat may well use another
# seed, and so another data_fingerprint; data_provenance holds the data files'
# paths on that machine; the repeat fields number the repeats; the telemetry
# interval only samples), and they ran on the same software. How the batch was
# asked for (batch_size, per_device_batch) is left out too: global_batch_size
# and devices say what ran, so 32 per device on 4 GPUs repeats a global 128.
IGNORED_CONFIG = ("run_id", "out", "seed", "data_dir", "data_provenance", "data_fingerprint",
                  "repeat", "repeat_index", "repeat_group", "telemetry_interval", "batch_size",
                  "per_device_batch")
ENVIRONMENT_IDENTITY = ("backend_package", "backend_version", "keras_version")
# A training and an inference run are compared per step even when they were
# measured for different lengths.
PAIR_IGNORED = ("inference", "epochs", "warmup", "steps_per_epoch")
# Keras-on-X and native-X are compared where these agree (and X is the same).
NATIVE_MATCH = ("model", "resnet_version", "resnet_layers", "image_size", "dataset", "inference",
                "instance", "gpus", "devices", "device_kind", "global_batch_size", "precision")
# metrics.phases, in the order a run goes through them, with the phases table's headers.
PHASES = OrderedDict((("import_s", "Import"), ("data_s", "Data"), ("build_s", "Build"),
                      ("compile_s", "Compile"), ("first_epoch_s", "First Epoch"),
                      ("warmup_s", "Warm-up"), ("steady_s", "Steady"),
                      ("evaluate_s", "Evaluate"), ("total_s", "Total")))
NVML_MARK = "\u2020"  # a dagger: NVML's memory used, allocator pre-allocation included

# What --format csv and json write per row: one row per configuration of
# successful runs, one per failed, skipped or interrupted run.
EXPORT_FIELDS = (
    "kind", "status", "model", "resnet_version", "resnet_layers", "dataset", "inference",
    "backend", "backend_package", "backend_version", "keras_version", "instance", "gpus",
    "devices", "device_kind", "cpu_devices", "parallel", "global_batch_size",
    "device_batch_size", "data_format", "method", "precision", "image_size", "epochs", "warmup",
    "steps_per_epoch", "profile", "runs", "unit", "speed_median", "speed_min", "speed_max",
    "speed_cv_pct", "epoch_cv_pct", "unstable_runs", "step_ms_median", "epoch_seconds", "loss", "accuracy", "gpu_memory_mb",
    "gpu_memory_source", "gpu_util_percent") + tuple(PHASES) + (
    "error", "run_ids", "repeat_speeds",
)
ERROR_TEXT_LIMIT = 200
# Where load() keeps a successful record's measured epoch speeds (samples/s), once its
# samples are dropped.
EPOCH_SPEEDS = "_epoch_speeds"
# No figure of a run comes near this; a larger one (or 1e400, read as infinity) is
# not a measurement, and would overflow the statistics or a chart's axis.
NUMBER_LIMIT = 1e15


def _string(value):
    return None if isinstance(value, str) else "a string"


def _bool(value):
    return None if isinstance(value, bool) else "true or false"


def _one_of(choices):
    def check(value):
        return None if isinstance(value, str) and value in choices else \
            "one of %s" % ", ".join(choices)
    return check


def _strings(value):
    good = isinstance(value, list) and all(isinstance(item, str) for item in value)
    return None if good else "a list of strings"


def _whole(lowest):
    """Whole numbers from `lowest` up (GPUs may be 0, devices and batches not)."""
    def check(value):
        good = isinstance(value, int) and not isinstance(value, bool) \
            and lowest <= value <= NUMBER_LIMIT
        return None if good else "an integer of at least %d" % lowest
    return check


def _real(lowest, above=False):
    """Finite numbers from `lowest` (strictly above it with `above`) up to NUMBER_LIMIT."""
    def check(value):
        good = _is_number(value) and math.isfinite(value) and value <= NUMBER_LIMIT and (
            value > lowest if above else value >= lowest)
        return None if good else "a number %s %g" % ("above" if above else "of at least", lowest)
    return check


ANY_STATUS = schema.STATUSES
OK_ONLY = ("ok",)
OPTIONAL = ()
# Every field that a table, the chart, an export or a comparison reads: (path, check,
# the statuses that need it). `*` is each item of a list. A field that a record of
# its status needs is there and passes its check, or the record is skipped; any
# other field is None or passes, or it is emptied (set to None). A config field
# that only becomes text (str()) in a cell is not listed: any JSON value prints.
FIELDS = tuple(
    [(("config", name), _string, ANY_STATUS) for name in ("model", "backend", "dataset")]
    + [(("config", name), _whole(1), OK_ONLY) for name in ("global_batch_size", "devices")]
    + [(("metrics", section, name), _real(0, above=True), OK_ONLY)
       for section, name in (("throughput", "median"), ("step_ms", "median"),
                             ("measured", "seconds"), ("measured", "epochs"))]
    # Optional: in sets, dict look-ups and joined labels (so hashable text or numbers).
    + [(("config", name), _string, OPTIONAL) for name in (
        "instance", "data_format", "method", "precision", "device_kind", "parallel")]
    + [(("environment", name), _string, OPTIONAL) for name in ENVIRONMENT_IDENTITY]
    + [(("config", name), _whole(0), OPTIONAL) for name in ("gpus", "repeat_index")]
    + [(("config", name), _whole(1), OPTIONAL) for name in (
        "resnet_version", "resnet_layers", "image_size", "device_batch_size", "cpu_devices")]
    + [(("config", name), _bool, OPTIONAL) for name in ("inference", "profile")]
    + [(("metrics", "unit"), _string, OPTIONAL),
       (("metrics", "memory", "source"), _string, OPTIONAL),
       (("metrics", "loss"), _real(-NUMBER_LIMIT), OPTIONAL),
       (("metrics", "accuracy"), _real(-NUMBER_LIMIT), OPTIONAL),
       (("metrics", "memory", "peak_mb"), _real(0), OPTIONAL),
       (("metrics", "telemetry", "gpu", "available"), _bool, OPTIONAL),
       (("metrics", "telemetry", "gpu", "devices", "*", "util_percent", "mean"), _real(0),
        OPTIONAL),
       (("metrics", "telemetry", "gpu", "devices", "*", "memory_used_mb", "peak"), _real(0),
        OPTIONAL),
       (("error", "type"), _string, OPTIONAL), (("error", "message"), _string, OPTIONAL),
       # The stability verdict (timing.stability); records from before it have none.
       (("metrics", "stability", "verdict"), _one_of(("stable", "unstable")), OPTIONAL),
       (("metrics", "stability", "failed"), _strings, OPTIONAL),
       (("metrics", "stability", "cv_pct"), _real(0), OPTIONAL),
       # Each epoch's samples and seconds: the significance test's samples.
       (("samples", "epochs", "*", "samples"), _real(0), OPTIONAL),
       (("samples", "epochs", "*", "seconds"), _real(0), OPTIONAL)]
    + [(("metrics", "phases", name), _real(0), OPTIONAL) for name in PHASES])


class CollectError(Exception):
    """A reason to stop with a one-line message and a non-zero exit status."""

    exit_status = 1


class MissingPackage(CollectError):
    exit_status = 2


Heading = namedtuple("Heading", "level text")
Table = namedtuple("Table", "headers rows")
# A table column: its header and the function that gives a row's cell text.
Column = namedtuple("Column", "header cell")
# Groups merged on some of their fields; `members` holds the fastest group per slot.
Merged = namedtuple("Merged", "identity key members")
Failure = namedtuple("Failure", "identity key record")


class Group(object):
    """The successful runs of one configuration (its repeats), summarized by their medians."""

    def __init__(self, identity, key, records):
        records = sorted(records, key=_repeat_order)
        metrics = [record["metrics"] for record in records]
        speeds = [m["throughput"]["median"] for m in metrics]
        self.identity = identity
        self.key = key
        self.run_ids = [record["run_id"] for record in records]
        self.runs = len(records)
        self.unit = metrics[0].get("unit") or "samples"
        # Each repeat's own median speed, in repeat order: the JSON output keeps them all.
        self.repeat_speeds = speeds
        self.speed = statistics.median(speeds)
        self.speed_min = min(speeds)
        self.speed_max = max(speeds)
        # The coefficient of variation, so that a fast and a slow workload's noise compare.
        self.cv = (100.0 * statistics.stdev(speeds) / statistics.mean(speeds)
                   if len(speeds) > 1 else None)
        # Each run as significance.compare_runs takes it: (median speed, epoch speeds).
        self.samples = [(speed, record.get(EPOCH_SPEEDS) or [])
                        for speed, record in zip(speeds, records)]
        stabilities = [m.get("stability") for m in metrics]
        verdicts = [s for s in stabilities if isinstance(s, dict) and s.get("verdict")]
        # The runs judged, the unstable ones, and the checks they failed.
        self.judged = len(verdicts)
        self.unstable = [s for s in verdicts if s["verdict"] == "unstable"]
        self.failed_checks = sorted({name for s in self.unstable
                                     for name in (s.get("failed") or [])})
        self.epoch_cv = _median_or_none(s.get("cv_pct") for s in stabilities
                                        if isinstance(s, dict))
        self.step_ms = statistics.median(m["step_ms"]["median"] for m in metrics)
        self.epoch_seconds = statistics.median(m["measured"]["seconds"] / m["measured"]["epochs"]
                                               for m in metrics)
        self.loss = _median_or_none(m.get("loss") for m in metrics)
        self.accuracy = _median_or_none(m.get("accuracy") for m in metrics)
        self.phases = OrderedDict((name, _median_or_none(_at(m, "phases", name) for m in metrics))
                                  for name in PHASES)
        gpus = [_at(m, "telemetry", "gpu") for m in metrics]
        gpus = [gpu for gpu in gpus if isinstance(gpu, dict) and gpu.get("available")]
        self.gpu_util = _median_or_none(
            _mean_or_none(_at(device, "util_percent", "mean") for device in _devices_of(gpu))
            for gpu in gpus)
        on_gpu = _is_number(identity.get("gpus")) and identity["gpus"] > 0
        self.gpu_memory = _median_or_none(_at(m, "memory", "peak_mb") for m in metrics if on_gpu)
        self.gpu_memory_source = _first_text(_at(m, "memory", "source") for m in metrics)
        if self.gpu_memory is None:
            # The most any of the run's GPUs held, as NVML saw it: allocator pools included.
            self.gpu_memory = _median_or_none(
                _max_or_none(_at(device, "memory_used_mb", "peak") for device in _devices_of(gpu))
                for gpu in gpus)
            self.gpu_memory_source = "nvml" if self.gpu_memory is not None else None


def _repeat_order(record):
    index = record["config"].get("repeat_index")
    return (_number_first(index), record["started_at"], record["run_id"])


def _at(value, *path):
    """value[path[0]][path[1]]..., or None where a step is missing or not an object."""
    for name in path:
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value


def _devices_of(gpu):
    devices = gpu.get("devices")
    return devices if isinstance(devices, list) else []


def _first_text(values):
    return next((v for v in values if isinstance(v, str)), None)


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _numbers(values):
    return [v for v in values if _is_number(v)]


def _median_or_none(values):
    numbers = _numbers(values)
    return statistics.median(numbers) if numbers else None


def _mean_or_none(values):
    numbers = _numbers(values)
    return statistics.mean(numbers) if numbers else None


def _max_or_none(values):
    numbers = _numbers(values)
    return max(numbers) if numbers else None


# Reading

def load(folder):
    """Every usable record under `folder`, checked (see FIELDS); (path, reason) for each file
    skipped; and (path, note) for each optional field emptied in a record that was kept."""
    if not os.path.exists(folder):
        raise CollectError("no such folder: %s" % folder)
    if not os.path.isdir(folder):
        raise CollectError("not a folder: %s" % folder)
    paths = []
    for root, folders, files in os.walk(folder):
        # Hidden names are a run still writing its file (schema.write's .partial-*);
        # RESULT.profile/ holds a profiler's trace (--profile), not results.
        folders[:] = sorted(name for name in folders
                            if not name.startswith(".") and not name.endswith(schema.PROFILE_SUFFIX))
        paths.extend(os.path.join(root, name) for name in sorted(files)
                     if name.endswith(".json") and not name.startswith("."))
    if not paths:
        raise CollectError("no result files (*.json) in %s" % folder)
    records, unreadable, emptied, first_copy = [], [], [], {}
    for path in paths:
        try:
            record, notes = checked(schema.read(path))
        except (schema.SchemaError, OSError) as error:
            unreadable.append((path, str(error)))
            continue
        # Results gathered from several machines may hold one run twice.
        run = (record["run_id"], record["started_at"])
        if run in first_copy:
            unreadable.append((path, "the same run as %s" % first_copy[run]))
            continue
        first_copy[run] = path
        emptied.extend((path, note) for note in notes)
        # No table shows the per-step and telemetry samples, and they are most of a
        # record's objects: kept, they would make every garbage collection walk far longer.
        # The measured epochs' speeds are kept: the significance test's samples.
        if record["status"] == "ok":
            record[EPOCH_SPEEDS] = significance.epoch_speeds(
                _at(record, "samples", "epochs"), record["metrics"]["measured"]["epochs"])
        record.pop("samples", None)
        records.append(record)
    if not records:
        raise CollectError("none of the %d result files in %s could be read" % (len(paths), folder))
    return records, unreadable, emptied


def checked(record):
    """`record` (a valid schema record) with every field in FIELDS checked: raises SchemaError
    naming the first field its status needs that is missing or wrong; empties (sets to None)
    each other field that is wrong, and returns (record, a note per emptied field)."""
    notes = []
    for where, fields in _FIELDS_BY_HOLDER.items():
        holders = _holders(record, where)
        for name, check, needed_by in fields:
            needed = record["status"] in needed_by
            present = [holder for holder in holders if name in holder]
            if needed and not present:
                raise schema.SchemaError("%s is missing" % ".".join(where + (name,)))
            for holder in present:
                value = holder[name]
                problem = None if value is None and not needed else check(value)
                if problem is None:
                    continue
                text = "%s is %s, not %s" % (".".join(where + (name,)), _kind(value), problem)
                if needed:
                    raise schema.SchemaError(text)
                holder[name] = None
                notes.append(text + ": shown empty")
    return record, notes


# FIELDS by the path of the object that holds them: each object is found once per record.
_FIELDS_BY_HOLDER = OrderedDict()
for _path, _check, _needed_by in FIELDS:
    _FIELDS_BY_HOLDER.setdefault(_path[:-1], []).append((_path[-1], _check, _needed_by))


def _holders(value, path):
    """The objects at `path` in the object `value`; a `*` step goes into each item of a
    list. None where the path breaks off (a step missing, or of another type)."""
    holders = [value]
    for at, step in enumerate(path):
        if step == "*":
            holders = [item for holder in holders for item in holder]
        else:
            holders = [holder[step] for holder in holders if step in holder]
        kind = list if path[at + 1:at + 2] == ("*",) else dict
        holders = [holder for holder in holders if isinstance(holder, kind)]
    return holders


def _kind(value):
    """How a wrong value is named: its JSON type, and the value itself where short."""
    text = json.dumps(value)
    return "%s %s" % (type(value).__name__, text) if len(text) <= 40 else type(value).__name__


def configuration(record):
    """The fields that make two runs repeats of one configuration (see IGNORED_CONFIG)."""
    identity = {k: v for k, v in record["config"].items() if k not in IGNORED_CONFIG}
    environment = record["environment"]
    for name in ENVIRONMENT_IDENTITY:
        identity[name] = environment.get(name)
    return identity


def _key(identity):
    return json.dumps(identity, sort_keys=True)


def kind_of(identity):
    return "rnn" if identity.get("model") in RNN_MODELS else "cnn"


def collapse(records):
    """One Group per configuration of the successful `records`, in table order."""
    runs, identities = {}, {}
    for record in records:
        identity = configuration(record)
        key = _key(identity)
        runs.setdefault(key, []).append(record)
        identities[key] = identity
    return sorted((Group(identities[key], key, runs[key]) for key in runs), key=_order)


def failures_of(records):
    """The runs that did not succeed, by status and then in table order."""
    failures = [Failure(configuration(r), r["started_at"] + r["run_id"], r) for r in records]
    return sorted(failures, key=lambda f: (_rank(schema.STATUSES, f.record["status"]), _order(f)))


def _merge(rows, project, slot):
    """Rows that share `project(row)`; each keeps the fastest of its rows per `slot(row)`."""
    merged = {}
    for row in rows:
        identity = project(row)
        key = _key(identity)
        into = merged.setdefault(key, Merged(identity, key, {}))
        name = slot(row)
        if name not in into.members or row.speed > into.members[name].speed:
            into.members[name] = row
    return sorted(merged.values(), key=_order)


def _subset(identity, fields):
    return {name: identity.get(name) for name in fields}


# Ordering: the seeds list by data set, then GPUs, instance, model and backend;
# training before inference.

def _rank(known, value):
    return (known.index(value), "") if value in known else (len(known), str(value))


def _number_first(value):
    return (0, value, "") if _is_number(value) else (1, 0, str(value))


def _order(row):
    i = row.identity
    return (_rank(DATASETS, i.get("dataset")), _number_first(i.get("gpus")),
            _number_first(i.get("devices")), str(i.get("instance")), _model_order(i),
            bool(i.get("inference")), str(i.get("backend")), str(i.get("backend_package")),
            _number_first(i.get("global_batch_size")),
            str(i.get("data_format")), _rank(METHODS, i.get("method")), str(i.get("precision")),
            row.key)


def _model_order(identity):
    return (_rank(MODELS, identity.get("model")), _number_first(identity.get("resnet_version")),
            _number_first(identity.get("resnet_layers")))


# Cell text

def model_label(identity):
    model = identity.get("model")
    if model == "resnet":
        return "ResNet%sv%s" % (identity.get("resnet_layers"), identity.get("resnet_version"))
    return MODEL_LABELS.get(model, model)


def dataset_label(dataset):
    return DATASET_LABELS.get(dataset, dataset)


def backend_label(backend):
    return BACKEND_LABELS.get(backend, backend)


def data_format_label(data_format):
    return DATA_FORMAT_LABELS.get(data_format, str(data_format))


def method_label(method):
    return "`%s`" % METHOD_LABELS.get(method, method)


def _number(value):
    """Whole numbers from 10 up, as the seeds print speeds; two significant digits below."""
    if value is None:
        return "N/A"
    return "%d" % round(value) if abs(value) >= 10 else "%.2g" % value


def _metric(value):
    return "N/A" if value is None else "%.4g" % value


def _epoch_text(group):
    """The seed's RNN cell, '13 sec - 264us/step': seconds per epoch, median step time."""
    step_ms = group.step_ms
    step = "%dus" % round(step_ms * 1000) if step_ms < 1 else "%dms" % round(step_ms)
    return "%s sec - %s/step" % (_number(group.epoch_seconds), step)


def devices_label(identity):
    """'CPU', '4 CPU devices', '1 GPU', '4 GPUs'."""
    devices = identity.get("devices")
    if not identity.get("gpus"):
        return "CPU" if devices == 1 else "%s CPU devices" % devices
    return "1 GPU" if devices == 1 else "%s GPUs" % devices


def workload_label(identity):
    """What backends are compared on: model, data, mode, machine, devices, global batch and
    data format (and whether the profiler slowed it)."""
    parts = [model_label(identity), dataset_label(identity.get("dataset")),
             "infer" if identity.get("inference") else "train", str(identity.get("instance")),
             devices_label(identity), "batch %s" % identity.get("global_batch_size"),
             data_format_label(identity.get("data_format"))]
    if identity.get("method") not in (None, "fit"):
        parts.append(METHOD_LABELS.get(identity["method"], identity["method"]))
    if identity.get("precision") not in (None, "float32"):
        parts.append(identity["precision"])
    return ", ".join(parts) + (" (profiled)" if identity.get("profile") else "")


def _error_text(record):
    error = record.get("error") or {}
    message = str(error.get("message") or "").strip().splitlines()
    text = "%s: %s" % (error.get("type"), message[0] if message else "")
    return text if len(text) <= ERROR_TEXT_LIMIT else text[:ERROR_TEXT_LIMIT - 3] + "..."


# Columns

def _field(name, label=str):
    """A cell that shows one identity field through `label`."""
    def cell(row):
        value = row.identity.get(name)
        return "N/A" if value is None else label(value)
    return cell


INSTANCE = Column("Instance Type", _field("instance"))
GPUS = Column("GPU used", _field("gpus"))
MODEL = Column("Model", lambda row: model_label(row.identity))
BACKEND = Column("Backend", _field("backend", backend_label))
PACKAGE = Column("Package", _field("backend_package"))
METHOD = Column("Method", _field("method", method_label))
BATCH = Column("Batch Size", _field("global_batch_size"))
DATA_FORMAT = Column("Data Format", _field("data_format", data_format_label))
DATASET = Column("Data Set", _field("dataset", dataset_label))
REPEATS = (Column("Repeats", lambda group: str(group.runs)),
           Column("CV %", lambda group: "-" if group.cv is None else "%.1f" % group.cv))
WORKLOAD = Column("Workload", lambda row: workload_label(row.identity))
EPOCH = Column("Speed/Epoch <br />(Lower is better)", _epoch_text)
# Not in the seeds' tables, but shown where rows would otherwise look the same.
TELL_APART = (
    BACKEND, PACKAGE, MODEL, DATASET, Column("Devices", _field("devices")), BATCH, DATA_FORMAT,
    METHOD, Column("Parallel", _field("parallel")),
    Column("Precision", _field("precision")), Column("Image Size", _field("image_size")),
    Column("Epochs", _field("epochs")), Column("Warm-up", _field("warmup")),
    Column("Steps/Epoch", _field("steps_per_epoch")),
    Column("Keras Version", _field("keras_version")),
    Column("Backend Version", _field("backend_version")),
)


def _unit(groups):
    """What one sample of `groups` is: images, sequences, or samples where they mix."""
    units = {group.unit for group in groups}
    return units.pop() if len(units) == 1 else "samples"


def _speed_column(groups):
    return Column("Speed (%s/s)" % _unit(groups), lambda group: _number(group.speed))


def _with_repeats(values, groups):
    """The repeat count and CV columns, where some row collapses repeated runs."""
    return list(values) + (list(REPEATS) if any(g.runs > 1 for g in groups) else [])


def _gpu_columns(groups):
    """The GPU memory and utilisation columns that some of `groups` have figures for, and
    the footnote that says what the memory figures are."""
    columns, notes = [], []
    if any(g.gpu_memory is not None for g in groups):
        columns.append(Column("GPU Mem (MiB)", lambda g: "N/A" if g.gpu_memory is None else
                              "%d%s" % (round(g.gpu_memory),
                                        NVML_MARK if g.gpu_memory_source == "nvml" else "")))
        notes.append("GPU Mem is the backend's own peak on device 0, allocator pools left out"
                     + ("; %s marks NVML's peak memory used on the busiest GPU instead, which "
                        "includes what the framework pre-allocated (TensorFlow and JAX take "
                        "most of the GPU up front)" % NVML_MARK
                        if any(g.gpu_memory_source == "nvml" for g in groups) else "") + ".")
    if any(g.gpu_util is not None for g in groups):
        columns.append(Column("GPU Util (%)", lambda g: "N/A" if g.gpu_util is None else
                              "%.0f" % g.gpu_util))
        notes.append("GPU Util is NVML's utilisation while training, the mean over the run's "
                     "GPUs of each one's mean.")
    return columns, [" ".join(notes)] if notes else []


def _table(rows, columns, values, tell_apart=TELL_APART):
    """One table line per row: `columns`, then those of `tell_apart` that some rows
    need to look different (which also keeps the seeds' tables exactly theirs), then
    the `values`."""
    shown = list(columns)
    visible = [tuple(column.cell(row) for column in shown) for row in rows]
    headers = {column.header for column in shown}
    for column in tell_apart:
        if len(set(visible)) == len(visible):
            break
        if column.header in headers:
            continue
        cells = [column.cell(row) for row in rows]
        if _splits(visible, cells):
            shown.append(column)
            visible = [line + (cell,) for line, cell in zip(visible, cells)]
    body = [list(line) + [column.cell(row) for column in values]
            for line, row in zip(visible, rows)]
    return Table([column.header for column in shown + list(values)], body)


def _splits(visible, cells):
    """Whether `cells` differ between rows whose visible cells are the same."""
    first = {}
    return any(first.setdefault(line, cell) != cell for line, cell in zip(visible, cells))


# The report

def report(groups, failures, kind, phases=False):
    """The Markdown document as a list of blocks: Headings, Tables and paragraphs; with
    `phases`, each kind's phase breakdown too."""
    blocks = [Heading(1, "Keras Benchmark Results"),
              "%d successful runs in %d configurations; %d failed, skipped or interrupted."
              % (sum(g.runs for g in groups), len(groups), len(failures))]
    profiled = [g for g in groups if g.identity.get("profile")]
    if profiled:
        blocks.append("Profiled runs (%d, in %d configurations) are left out of every speed: "
                      "the profiler slows them. They appear only under Phases (--phases), "
                      "marked (profiled)." % (sum(g.runs for g in profiled), len(profiled)))
    for name, blocks_of in (("cnn", _cnn_blocks), ("rnn", _rnn_blocks)):
        if kind in (name, "all"):
            of_kind = [g for g in groups if kind_of(g.identity) == name]
            blocks += blocks_of(unprofiled(of_kind)) + (_phase_blocks(of_kind) if phases else [])
    return blocks + _failure_blocks(failures)


def unprofiled(groups):
    """The groups whose speed is the backend's own: those not slowed by a profiler."""
    return [g for g in groups if not g.identity.get("profile")]


def _cnn_blocks(groups):
    blocks = [Heading(2, "CNN Benchmarks")]
    if not groups:
        return blocks + ["No CNN results."]
    training = [g for g in groups if not g.identity.get("inference")]
    for label in _labels_in_order(training, model_label, _model_order):
        blocks += _summary_blocks(label, [g for g in training if model_label(g.identity) == label])
    for dataset in _labels_in_order(groups, lambda identity: identity.get("dataset"),
                                    lambda identity: _rank(DATASETS, identity.get("dataset"))):
        of_dataset = [g for g in groups if g.identity.get("dataset") == dataset]
        columns = [INSTANCE, GPUS, MODEL, BACKEND, PACKAGE] + (
            [METHOD] if dataset == "imagenet" else []) + [BATCH, DATA_FORMAT]
        blocks += [Heading(3, "%s Dataset" % dataset_label(dataset)),
                   Heading(4, "Configuration"), _configuration_table(of_dataset)]
        blocks += _results_blocks(of_dataset, 4, columns, _speed_column)
    return (blocks + _comparison_blocks(groups) + _native_blocks(groups)
            + _step_time_blocks(groups))


def _rnn_blocks(groups):
    blocks = [Heading(2, "RNN Benchmarks")]
    if not groups:
        return blocks + ["No RNN results."]
    columns = [INSTANCE._replace(header="Instance"), GPUS._replace(header="GPUs"), DATASET]
    blocks += [Heading(3, "Configuration"), _configuration_table(groups)]
    blocks += _results_blocks(groups, 3, columns, lambda rows: EPOCH)
    return (blocks + _comparison_blocks(groups) + _native_blocks(groups)
            + _step_time_blocks(groups))


def _labels_in_order(groups, label, order):
    """The distinct `label(identity)` of `groups`, ordered by `order(identity)`."""
    first = {}
    for group in groups:
        first.setdefault(label(group.identity), order(group.identity))
    return sorted(first, key=lambda name: (first[name], str(name)))


def _summary_blocks(label, groups):
    """The seed README's table: the fastest training speed per machine, package and data set."""
    rows = _merge([g for g in groups if g.identity.get("dataset") in SUMMARY_COLUMNS],
                  lambda g: _subset(g.identity, SUMMARY_FIELDS), lambda g: g.identity["dataset"])
    if not rows:
        return []
    values = [Column(header, lambda row, dataset=dataset: _speed_of(row.members.get(dataset)))
              for dataset, header in SUMMARY_COLUMNS.items()]
    return [Heading(3, "Summary: %s" % label),
            "The fastest training configuration per instance, GPU count, devices and package "
            "(%s/s); N/A where none ran." % _unit(groups),
            _table(rows, [INSTANCE._replace(header="Instance"), GPUS, PACKAGE], values)]


def _speed_of(group):
    return _number(group.speed) if group else "N/A"


def _results_blocks(groups, level, columns, value_column):
    """'Results' for training and, where any ran, 'Inference Results'."""
    blocks = []
    for title, inference in (("Results", False), ("Inference Results", True)):
        rows = [g for g in groups if bool(g.identity.get("inference")) == inference]
        if rows:
            gpu_columns, notes = _gpu_columns(rows)
            values = _with_repeats([value_column(rows)], rows) + gpu_columns
            blocks += [Heading(level, title), _table(rows, columns, values)] + notes
    return blocks


def _configuration_table(groups):
    """The seeds' two-column table: data sets, models, versions, training methods."""
    def listed(values, order=str):
        return sorted({v for v in values if v is not None}, key=order)

    identities = [g.identity for g in groups]
    datasets = listed((i.get("dataset") for i in identities), lambda d: _rank(DATASETS, d))
    rows = [["Data Set", [_dataset_link(d) for d in datasets]],
            ["Model", _labels_in_order(groups, model_label, _model_order)],
            ["Keras Version", listed(i.get("keras_version") for i in identities)]]
    for backend in listed(i.get("backend") for i in identities):
        rows.append(["%s Version" % backend_label(backend),
                     listed(i.get("backend_version") for i in identities
                            if i.get("backend") == backend)])
    methods = listed((i.get("method") for i in identities), lambda m: _rank(METHODS, m))
    rows.append(["Training Method", [method_label(m) for m in methods]])
    return Table(["", ""], [[name, ", ".join(map(str, values)) or "N/A"] for name, values in rows])


def _dataset_link(dataset):
    link = DATASET_LINKS.get(dataset)
    label = dataset_label(dataset)
    return "[%s](%s)" % (label, link) if link else label


def _stability_columns(groups):
    """The epochs' spread and the stability verdict, where some run of `groups` was judged
    (records from before the verdict have neither)."""
    if not any(g.judged for g in groups):
        return []
    return [Column("Epoch CV %", lambda g: "N/A" if g.epoch_cv is None else
                   "\u00b1 %.1f" % g.epoch_cv),
            Column("Stability", _stability_text)]


def _stability_text(group):
    """'stable', 'UNSTABLE: cv, load' (1 of 3 where only some repeats were), or N/A."""
    if not group.judged:
        return "N/A"
    if not group.unstable:
        return "stable"
    share = "" if len(group.unstable) == group.runs else " (%d of %d runs)" % (
        len(group.unstable), group.runs)
    return "UNSTABLE%s: %s" % (share, ", ".join(group.failed_checks) or "?")


STABILITY_NOTE = ("Epoch CV % is the measured epochs' standard deviation over their mean "
                  "(the median over repeats); UNSTABLE marks a configuration with a run that "
                  "failed a stability check (cv: epochs vary by 10% or more; outlier: an epoch "
                  "50% or more from the median; clock: steps under 1 ms timed one by one; load: "
                  "other work on the machine; warmup: the first measured epoch still slow; "
                  "epochs: too few to judge). Its figures should not be trusted.")


def _comparison_blocks(groups):
    """Each workload's backends side by side: speed, ratio to the fastest (with "≈" where
    the difference is not significant), final loss and accuracy (so that a backend that
    trains wrongly shows), repeats and their CV, the epochs' spread and stability."""
    workloads = OrderedDict()
    for group in groups:
        workloads.setdefault(workload_label(group.identity), []).append(group)
    rows, ratio, versus = [], {}, {}
    for members in workloads.values():
        fastest = max(members, key=lambda g: (g.speed, g.key))
        for group in sorted(members, key=lambda g: (-g.speed, g.key)):
            rows.append(group)
            ratio[group.key] = group.speed / fastest.speed
            if group is not fastest:
                versus[group.key] = significance.compare_runs(group.samples, fastest.samples)
    gpu_columns, notes = _gpu_columns(rows)
    stability = _stability_columns(rows)
    values = [_speed_column(groups),
              Column("vs Fastest", lambda g: significance.mark(versus.get(g.key))
                     + "%.2f" % ratio[g.key]),
              Column("p", lambda g: significance.p_text(versus[g.key]) if g.key in versus
                     else "fastest"),
              Column("Loss", lambda g: _metric(g.loss)),
              Column("Accuracy", lambda g: _metric(g.accuracy))] + list(REPEATS) + stability \
        + gpu_columns
    return [Heading(3, "Backend Comparison"),
            "Per workload, fastest first. The speed is the median of the repeats' median "
            "speeds; CV % is their standard deviation relative to their mean.",
            _table(rows, [WORKLOAD, BACKEND, PACKAGE], values),
            significance.footnote(versus.values())] + ([STABILITY_NOTE] if stability else []) \
        + notes


def _native_blocks(groups):
    """Keras on each framework beside the same network written on that framework (native-X),
    for the same model, data, mode, machine, devices, global batch and precision."""
    def match(group):
        backend = group.identity.get("backend")
        framework = backend[len(NATIVE_PREFIX):] if backend.startswith(NATIVE_PREFIX) else backend
        return _key(dict(_subset(group.identity, NATIVE_MATCH), framework=framework))

    keras, natives = [], {}
    for group in groups:
        key = match(group)
        if not group.identity["backend"].startswith(NATIVE_PREFIX):
            keras.append((group, key))
        elif key not in natives or group.speed > natives[key].speed:
            natives[key] = group
    native_of = {group.key: natives[key] for group, key in keras if key in natives}
    if not native_of:
        return []
    rows = [g for g in groups if g.key in native_of]
    versus = {g.key: significance.compare_runs(g.samples, native_of[g.key].samples)
              for g in rows}
    unit = _unit(rows)
    values = [Column("Keras (%s/s)" % unit, lambda g: _number(g.speed)),
              Column("Native (%s/s)" % unit, lambda g: _number(native_of[g.key].speed)),
              Column("vs Native", lambda g: significance.mark(versus[g.key])
                     + "%.2f" % (g.speed / native_of[g.key].speed)),
              Column("p", lambda g: significance.p_text(versus[g.key]))]
    return [Heading(3, "Keras vs Native"),
            "Keras on each framework against the same network written on that framework "
            "alone (native-*): same model, data, mode, machine, devices, global batch and "
            "precision; the fastest native configuration where several match. vs Native is "
            "Keras's speed over the native speed: below 1.00, Keras costs that much.",
            _table(rows, [WORKLOAD, BACKEND, PACKAGE], values),
            significance.footnote(versus.values())]


def _phase_blocks(groups):
    """Where each configuration's time goes, phase by phase (the seed talk's line profile)."""
    names = [name for name in PHASES if any(g.phases[name] is not None for g in groups)]
    if not names:
        return []
    rows = [g for g in groups if any(g.phases[name] is not None for name in names)]
    values = [Column("%s (s)" % PHASES[name], lambda g, name=name: _number(g.phases[name]))
              for name in names]
    return [Heading(3, "Phases"),
            "Median seconds per phase over the repeats: importing the framework, loading the "
            "data, building and compiling the model, the first epoch (tracing and compilation "
            "included), the warm-up, the measured (steady) epochs, evaluation, and the whole "
            "run. N/A where a run did not time that phase.",
            _table(rows, [WORKLOAD, BACKEND, PACKAGE], values)]


def _step_time_blocks(groups):
    """Milliseconds per step, training beside inference (the seed talk's comparison)."""
    rows = _merge(groups, lambda g: {k: v for k, v in g.identity.items() if k not in PAIR_IGNORED},
                  lambda g: "infer" if g.identity.get("inference") else "train")
    values = [Column("%s (ms/step)" % title,
                     lambda row, mode=mode: _number(row.members[mode].step_ms)
                     if mode in row.members else "N/A")
              for mode, title in (("train", "Train"), ("infer", "Infer"))]
    columns = [MODEL, DATASET, INSTANCE, GPUS, BACKEND, PACKAGE, BATCH]
    return [Heading(3, "Train and Inference Time per Step"),
            "Median milliseconds per step; N/A where that mode was not run.",
            _table(rows, columns, values)]


def _failure_blocks(failures):
    if not failures:
        return []
    columns = [Column("Status", lambda f: f.record["status"]),
               INSTANCE._replace(header="Instance"), GPUS, MODEL, BACKEND, PACKAGE, DATASET]
    values = [Column("Run", lambda f: f.record["run_id"]),
              Column("Error", lambda f: _error_text(f.record))]
    return [Heading(2, "Failed, Skipped and Interrupted Runs"),
            "These runs count in no speed above.",
            _table(failures, columns, values, tell_apart=())]


def markdown(blocks):
    text = []
    for block in blocks:
        if isinstance(block, Heading):
            text.append("#" * block.level + " " + block.text)
        elif isinstance(block, Table):
            text.append(_markdown_table(block))
        else:
            text.append(block)
    return "\n\n".join(text) + "\n"


def _markdown_table(table):
    """The one place a Table becomes Markdown: GitHub pipe tables, as in the seeds."""
    rows = [[cell.replace("|", "\\|").replace("\n", " ") for cell in row] for row in table.rows]
    return tabulate(rows, headers=table.headers, tablefmt="github", disable_numparse=True)


# CSV and JSON: the numbers behind the tables, unrounded

def export_rows(groups, failures):
    """One OrderedDict of EXPORT_FIELDS per group and per failure; run_ids and
    repeat_speeds (each repeat's median speed) are lists, in repeat order."""
    rows = []
    for group in groups:
        row = dict(group.identity, kind=kind_of(group.identity), status="ok", runs=group.runs,
                   unit=group.unit, speed_median=group.speed, speed_min=group.speed_min,
                   speed_max=group.speed_max, speed_cv_pct=group.cv,
                   epoch_cv_pct=group.epoch_cv,
                   unstable_runs=len(group.unstable) if group.judged else None,
                   step_ms_median=group.step_ms, epoch_seconds=group.epoch_seconds,
                   loss=group.loss, accuracy=group.accuracy, gpu_memory_mb=group.gpu_memory,
                   gpu_memory_source=group.gpu_memory_source, gpu_util_percent=group.gpu_util,
                   run_ids=group.run_ids, repeat_speeds=group.repeat_speeds)
        row.update(group.phases)
        rows.append(row)
    for failure in failures:
        rows.append(dict(failure.identity, kind=kind_of(failure.identity), runs=1,
                         status=failure.record["status"], error=_error_text(failure.record),
                         run_ids=[failure.record["run_id"]]))
    return [OrderedDict((name, row.get(name)) for name in EXPORT_FIELDS) for row in rows]


def render(output_format, groups, failures, unreadable, kind, phases=False, emptied=()):
    """The output text in `output_format` (md, csv or json); `phases` adds the Markdown's
    phase tables (CSV and JSON always hold the phases). JSON also lists the files skipped
    (`unreadable`) and the fields emptied in records that were kept (`emptied`)."""
    if output_format == "md":
        return markdown(report(groups, failures, kind, phases))
    rows = export_rows(groups, failures)
    if output_format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, EXPORT_FIELDS, lineterminator="\n")
        writer.writeheader()
        # A CSV cell holds no list: the run ids and repeat speeds are space-separated.
        writer.writerows({name: " ".join(map(str, value)) if isinstance(value, list) else value
                          for name, value in row.items()} for row in rows)
        return buffer.getvalue()
    return json.dumps({"rows": schema.finite(rows),  # 1e400 in an unchecked field: null
                       "unreadable_files": [{"path": p, "reason": r} for p, r in unreadable],
                       "emptied_fields": [{"path": p, "note": n} for p, n in emptied]},
                      indent=1) + "\n"


# The chart

def write_chart(groups, path):
    """Draw training speed against the number of GPUs per backend and package, against
    the number of devices per backend and model (where runs used several device counts),
    and the speed of each workload per backend, into the PNG file `path`. Profiled runs
    are left out."""
    try:
        import matplotlib
        matplotlib.use("Agg")  # files only: no display needed, none opened
        from matplotlib import pyplot
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise MissingPackage("--chart needs matplotlib, which is not installed: "
                             "pip install matplotlib")
    # The labels are the records' own text: a "$" in one must print, not start TeX math
    # (matplotlib before 3.5 has no such switch).
    plain = {"text.parse_math": False} if "text.parse_math" in matplotlib.rcParams else {}
    with matplotlib.rc_context(plain):
        _draw_chart(pyplot, MaxNLocator, groups, path)


def _draw_chart(pyplot, MaxNLocator, groups, path):
    training = [g for g in unprofiled(groups) if not g.identity.get("inference")]
    unit = _unit(training)
    series = _merge(training, lambda g: _subset(g.identity, (
        "backend", "backend_package", "model", "resnet_version", "resnet_layers", "dataset")),
        lambda g: g.identity.get("gpus"))
    # Per backend and model the fastest run on each device count; CPU devices apart from GPUs.
    by_devices = _merge(training, lambda g: _subset(g.identity, (
        "backend", "model", "resnet_version", "resnet_layers", "device_kind")),
        lambda g: g.identity.get("devices"))
    several_device_counts = len({g.identity.get("devices") for g in training}) > 1
    workloads = _merge(training, lambda g: {"workload": workload_label(g.identity)},
                       lambda g: "%s (%s)" % (backend_label(g.identity.get("backend")),
                                              g.identity.get("backend_package")))
    figure, axes = pyplot.subplots(3 if several_device_counts else 2, 1, figsize=(
        min(max(10, 0.6 * len(workloads)), 60), 6 * (3 if several_device_counts else 2)))
    scaling, bars = axes[0], axes[-1]
    for row in series:
        points = sorted((gpus, g.speed) for gpus, g in row.members.items() if _is_number(gpus))
        scaling.plot([x for x, _ in points], [y for _, y in points], marker="o",
                     label="%s %s: %s, %s" % (backend_label(row.identity["backend"]),
                                              row.identity["backend_package"],
                                              model_label(row.identity),
                                              dataset_label(row.identity["dataset"])))
    scaling.xaxis.set_major_locator(MaxNLocator(integer=True))
    scaling.set_xlabel("Number of GPUs used (0 = CPU)")
    scaling.set_ylabel("Training speed (%s/s, log scale)" % unit)
    scaling.set_title("Training speed by number of GPUs, per backend and package")
    if several_device_counts:
        devices = axes[1]
        for row in by_devices:
            points = sorted((count, g.speed) for count, g in row.members.items()
                            if _is_number(count))
            devices.plot([x for x, _ in points], [y for _, y in points], marker="o",
                         label="%s: %s (%s)" % (backend_label(row.identity["backend"]),
                                                model_label(row.identity),
                                                row.identity["device_kind"]))
        devices.xaxis.set_major_locator(MaxNLocator(integer=True))
        devices.set_xlabel("Number of devices trained on (data-parallel above 1)")
        devices.set_ylabel("Training speed (%s/s, log scale)" % unit)
        devices.set_title("Training speed by number of devices, per backend and model")
    names = sorted({name for row in workloads for name in row.members})
    width = 0.8 / max(len(names), 1)
    for offset, name in enumerate(names):
        placed = [(at, row.members[name].speed) for at, row in enumerate(workloads)
                  if name in row.members]
        bars.bar([at + offset * width for at, _ in placed], [s for _, s in placed], width,
                 label=name)
    bars.set_xticks([at + 0.4 - width / 2 for at in range(len(workloads))])
    bars.set_xticklabels([row.identity["workload"] for row in workloads],
                         rotation=30, ha="right", fontsize=7)
    if training:
        # Speeds span orders of magnitude (an MLP against ResNet50): a linear axis hides the slow.
        for plot in axes:
            plot.set_yscale("log")
            plot.legend(fontsize=7)
    else:
        scaling.text(0.5, 0.5, "No successful training runs", ha="center",
                     transform=scaling.transAxes)
    bars.set_xlabel("Workload")
    bars.set_ylabel("Training speed (%s/s, log scale)" % unit)
    bars.set_title("Training speed per workload and backend")
    figure.tight_layout()
    try:
        figure.savefig(path, dpi=100)
    except (OSError, ValueError) as error:  # ValueError: a file type matplotlib cannot write
        raise CollectError("cannot write the chart: %s" % error)
    finally:
        pyplot.close(figure)


# Command line

def _parser():
    parser = argparse.ArgumentParser(
        prog="collect", description="Tabulate a folder of benchmark result files.")
    parser.add_argument("folder", help="folder of result files (searched recursively)")
    parser.add_argument("--kind", choices=("cnn", "rnn", "all"), default="all",
                        help="image models (cnn, MLP included), the LSTM (rnn), or both")
    parser.add_argument("--format", dest="output_format", choices=("md", "csv", "json"),
                        default="md", help="Markdown tables, or the numbers behind them")
    parser.add_argument("--chart", metavar="PATH.png", help="also draw the speeds into this PNG")
    parser.add_argument("--phases", action="store_true",
                        help="add to the Markdown the seconds each configuration spent per "
                             "phase (import, data, build, compile, first epoch, warm-up, "
                             "steady, evaluate, total), profiled runs included")
    return parser


def main(argv=None):
    args = _parser().parse_args(argv)
    if tabulate is None:
        sys.stderr.write("collect: the 'tabulate' package is required: pip install tabulate\n")
        return 2
    try:
        records, unreadable, emptied = load(args.folder)
        for path, reason in unreadable:
            sys.stderr.write("collect: skipped %s: %s\n" % (path, reason))
        for path, note in emptied:
            sys.stderr.write("collect: kept %s, but %s\n" % (path, note))
        records = [r for r in records if args.kind in ("all", kind_of(r["config"]))]
        groups = collapse([r for r in records if r["status"] == "ok"])
        failures = failures_of([r for r in records if r["status"] != "ok"])
        # The chart comes first so that a missing matplotlib stops before any output.
        if args.chart:
            write_chart(groups, args.chart)
        sys.stdout.write(render(args.output_format, groups, failures, unreadable, args.kind,
                                args.phases, emptied))
    except CollectError as error:
        sys.stderr.write("collect: %s\n" % error)
        return error.exit_status
    return 0


if __name__ == "__main__":
    sys.exit(main())
