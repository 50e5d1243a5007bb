"""Runs to configurations: repeats gathered into one Group, failures listed apart, and the
order the seeds list them in."""
import json
import statistics
from collections import OrderedDict, namedtuple

from harness import schema
from harness.collector.labels import DATASETS, METHODS, MODELS, PHASES
from harness.collector.records import NUMBER_TYPES
from harness.collector.runs import key_of

# Groups merged on some of their fields; `members` holds the fastest group per slot.
Merged = namedtuple("Merged", "identity key members")
Failure = namedtuple("Failure", "identity key run")


class Group(object):
    """The successful runs of one configuration (its repeats), summarized by their medians."""

    def __init__(self, identity, key, runs):
        if len(runs) > 1:
            runs = sorted(runs, key=lambda run: (number_first(run.repeat_index),
                                                 run.started_at, run.run_id))
        speeds = [run.speed for run in runs]
        self.identity = identity
        self.key = key
        self.run_ids = [run.run_id for run in runs]
        self.runs = len(runs)
        self.unit = runs[0].unit or "samples"
        # Each repeat's own median speed, in repeat order: the JSON output keeps them all,
        # and the significance test takes them (one value per process).
        self.repeat_speeds = speeds
        # median_or_none: the median, with a short way for one run (most configurations)
        self.speed = median_or_none(speeds)
        self.speed_min = min(speeds)
        self.speed_max = max(speeds)
        # The coefficient of variation, so that a fast and a slow workload's noise compare.
        self.cv = (100.0 * statistics.stdev(speeds) / statistics.mean(speeds)
                   if len(speeds) > 1 else None)
        # Each run's (median speed, epoch speeds): the chart draws one run's epochs' spread.
        self.samples = [(run.speed, run.epoch_speeds) for run in runs]
        # The runs judged, the unstable ones, and the checks they failed.
        self.judged = sum(1 for run in runs if run.verdict)
        self.unstable = [run for run in runs if run.verdict == "unstable"]
        self.failed_checks = sorted({name for run in self.unstable for name in run.failed_checks})
        self.epoch_cv = median_or_none(run.epoch_cv for run in runs)
        self.step_ms = median_or_none([run.step_ms for run in runs])
        # The VGG16 seed's figure: the clock around all measured steps, over their count.
        self.trial_ms = median_or_none([run.trial_ms for run in runs])
        self.trials = sum(run.trials or 0 for run in runs)
        self.epoch_seconds = median_or_none([run.epoch_seconds for run in runs])
        self.loss = median_or_none(run.loss for run in runs)
        self.accuracy = median_or_none(run.accuracy for run in runs)
        self.phases = OrderedDict(zip(PHASES, map(median_or_none,
                                                  zip(*[run.phases for run in runs]))))
        self.gpu_util = median_or_none(run.gpu_util for run in runs)
        self.joules_per_sample = median_or_none(run.joules_per_sample for run in runs)
        self.energy_sources = sorted({run.energy_source for run in runs
                                      if isinstance(run.energy_source, str)})
        self.gpu_memory = median_or_none(run.memory_peak for run in runs)
        self.gpu_memory_source = next((run.memory_source for run in runs
                                       if isinstance(run.memory_source, str)), None)
        if self.gpu_memory is None:
            # The most any of the run's GPUs held, as NVML saw it: allocator pools included.
            self.gpu_memory = median_or_none(run.nvml_peak for run in runs)
            self.gpu_memory_source = "nvml" if self.gpu_memory is not None else None


def median_or_none(values):
    numbers = [v for v in values if v.__class__ in NUMBER_TYPES]  # is_number, inlined
    if len(numbers) < 2:  # one run: most configurations
        return numbers[0] if numbers else None
    return statistics.median(numbers)


def collapse(runs, identities):
    """One Group per configuration of the successful `runs`, in table order; `identities`
    maps each run's key to its configuration."""
    by_key = OrderedDict()
    for run in runs:
        by_key.setdefault(run.key, []).append(run)
    return sorted((Group(identities[key], key, members) for key, members in by_key.items()),
                  key=order)


def failures_of(runs, identities):
    """The runs that did not succeed, by status and then in table order."""
    failures = [Failure(identities[run.key], run.started_at + run.run_id, run) for run in runs]
    return sorted(failures, key=lambda f: (rank(schema.STATUSES, f.run.status), order(f)))


def identities_of(runs):
    """Each distinct key of `runs` with the configuration it stands for."""
    identities = {}
    for run in runs:
        if run.key not in identities:
            identities[run.key] = json.loads(run.key)
    return identities


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
    return (0, value, "") if value.__class__ in NUMBER_TYPES else (1, 0, str(value))


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
