"""Runs to configurations: repeats gathered into one Group, failures listed apart, and the
order the seeds list them in.

Two runs are repeats of one configuration when everything in their config is equal
except what only names or places a run, and they ran on the same software.
"""
import json
import statistics
from collections import OrderedDict, namedtuple

from harness import schema
from harness.collector.labels import DATASETS, METHODS, MODELS, PHASES
from harness.collector.records import ENVIRONMENT_IDENTITY, EPOCH_SPEEDS, at, is_number

# What IGNORED_CONFIG leaves out: a repeat may well use another seed, and so another
# data_fingerprint; data_provenance holds the data files' paths on that machine; the
# repeat fields number the repeats; the telemetry interval only samples. How the batch
# was asked for (batch_size, per_device_batch) is left out too: global_batch_size and
# devices say what ran, so 32 per device on 4 GPUs repeats a global 128. A job's
# coordinator address and the writing rank's id (always 0) say nothing of what ran.
IGNORED_CONFIG = ("run_id", "out", "seed", "data_dir", "data_provenance", "data_fingerprint",
                  "repeat", "repeat_index", "repeat_group", "telemetry_interval", "batch_size",
                  "per_device_batch", "process_id", "coordinator")

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
        self.epoch_cv = median_or_none(s.get("cv_pct") for s in stabilities
                                       if isinstance(s, dict))
        self.step_ms = statistics.median(m["step_ms"]["median"] for m in metrics)
        self.epoch_seconds = statistics.median(m["measured"]["seconds"] / m["measured"]["epochs"]
                                               for m in metrics)
        self.loss = median_or_none(m.get("loss") for m in metrics)
        self.accuracy = median_or_none(m.get("accuracy") for m in metrics)
        self.phases = OrderedDict((name, median_or_none(at(m, "phases", name) for m in metrics))
                                  for name in PHASES)
        gpus = [at(m, "telemetry", "gpu") for m in metrics]
        gpus = [gpu for gpu in gpus if isinstance(gpu, dict) and gpu.get("available")]
        self.gpu_util = median_or_none(
            _mean_or_none(at(device, "util_percent", "mean") for device in _devices_of(gpu))
            for gpu in gpus)
        on_gpu = is_number(identity.get("gpus")) and identity["gpus"] > 0
        self.gpu_memory = median_or_none(at(m, "memory", "peak_mb") for m in metrics if on_gpu)
        self.gpu_memory_source = _first_text(at(m, "memory", "source") for m in metrics)
        if self.gpu_memory is None:
            # The most any of the run's GPUs held, as NVML saw it: allocator pools included.
            self.gpu_memory = median_or_none(
                _max_or_none(at(device, "memory_used_mb", "peak") for device in _devices_of(gpu))
                for gpu in gpus)
            self.gpu_memory_source = "nvml" if self.gpu_memory is not None else None


def _repeat_order(record):
    index = record["config"].get("repeat_index")
    return (number_first(index), record["started_at"], record["run_id"])


def _devices_of(gpu):
    devices = gpu.get("devices")
    return devices if isinstance(devices, list) else []


def _first_text(values):
    return next((v for v in values if isinstance(v, str)), None)


def _numbers(values):
    return [v for v in values if is_number(v)]


def median_or_none(values):
    numbers = _numbers(values)
    return statistics.median(numbers) if numbers else None


def _mean_or_none(values):
    numbers = _numbers(values)
    return statistics.mean(numbers) if numbers else None


def _max_or_none(values):
    numbers = _numbers(values)
    return max(numbers) if numbers else None


def configuration(record):
    """The fields that make two runs repeats of one configuration (see IGNORED_CONFIG)."""
    identity = {k: v for k, v in record["config"].items() if k not in IGNORED_CONFIG}
    environment = record["environment"]
    for name in ENVIRONMENT_IDENTITY:
        identity[name] = environment.get(name)
    return identity


def key_of(identity):
    """An identity as one hashable, comparable text."""
    return json.dumps(identity, sort_keys=True)


def collapse(records):
    """One Group per configuration of the successful `records`, in table order."""
    runs, identities = {}, {}
    for record in records:
        identity = configuration(record)
        key = key_of(identity)
        runs.setdefault(key, []).append(record)
        identities[key] = identity
    return sorted((Group(identities[key], key, runs[key]) for key in runs), key=order)


def failures_of(records):
    """The runs that did not succeed, by status and then in table order."""
    failures = [Failure(configuration(r), r["started_at"] + r["run_id"], r) for r in records]
    return sorted(failures, key=lambda f: (rank(schema.STATUSES, f.record["status"]), order(f)))


def unprofiled(groups):
    """The groups whose speed is the backend's own: those not slowed by a profiler."""
    return [g for g in groups if not g.identity.get("profile")]


def unit_of(groups):
    """What one sample of `groups` is: images, sequences, or samples where they mix."""
    units = {group.unit for group in groups}
    return units.pop() if len(units) == 1 else "samples"


def merge(rows, project, slot):
    """Rows that share `project(row)`; each keeps the fastest of its rows per `slot(row)`."""
    merged = {}
    for row in rows:
        identity = project(row)
        key = key_of(identity)
        into = merged.setdefault(key, Merged(identity, key, {}))
        name = slot(row)
        if name not in into.members or row.speed > into.members[name].speed:
            into.members[name] = row
    return sorted(merged.values(), key=order)


def subset(identity, fields):
    return {name: identity.get(name) for name in fields}


# Ordering: the seeds list by data set, then GPUs, instance, model and backend;
# training before inference.

def rank(known, value):
    return (known.index(value), "") if value in known else (len(known), str(value))


def number_first(value):
    return (0, value, "") if is_number(value) else (1, 0, str(value))


def order(row):
    i = row.identity
    return (rank(DATASETS, i.get("dataset")), number_first(i.get("gpus")),
            number_first(i.get("devices")), str(i.get("instance")), model_order(i),
            bool(i.get("inference")), str(i.get("backend")), str(i.get("backend_package")),
            number_first(i.get("global_batch_size")),
            str(i.get("data_format")), rank(METHODS, i.get("method")), str(i.get("precision")),
            row.key)


def model_order(identity):
    return (rank(MODELS, identity.get("model")), number_first(identity.get("resnet_version")),
            number_first(identity.get("resnet_layers")))
