"""Result files to runs: each file read and checked in full, then boiled down to a Run,
the few figures the tables, the chart, the exports and `compare` use.

Reading is most of the collector's time (10,000 files are over 100 MB of JSON), so
large folders are parsed with msgspec where it is installed (records.fast_decoder) and
read by a pool of processes, one per CPU. What comes back is a Run per file, not the record: a record's hundreds of
objects would cost the main process as much to unpickle as parsing them did.
"""
import functools
import json
import multiprocessing
import os
import shlex
import statistics
from collections import namedtuple

from harness import significance
from harness.collector.labels import PHASES, blas_label
from harness.collector.records import (
    ENVIRONMENT_IDENTITY, CollectError, at, fast_decoder, is_number, read, result_paths)
from harness.schema import SchemaError

# Two runs are repeats of one configuration when everything in their config is equal
# except what only names or places a run (a repeat may well use another seed, and so
# another data_fingerprint; data_provenance holds the data files' paths on that
# machine; the repeat fields number the repeats; the telemetry interval only samples),
# and they ran on the same software. How the batch was asked for (batch_size,
# per_device_batch) is left out too: global_batch_size and devices say what ran, so
# 32 per device on 4 GPUs repeats a global 128. A job's coordinator address and the
# writing rank's id (always 0) say nothing of what ran; calibration holds each run's
# own warm-up pace and the epoch length it chose from it.
IGNORED_CONFIG = ("run_id", "out", "seed", "data_dir", "data_provenance", "data_fingerprint",
                  "repeat", "repeat_index", "repeat_group", "telemetry_interval", "batch_size",
                  "per_device_batch", "process_id", "coordinator", "calibration")
# The identity's field that holds the record's workload.digest.
WORKLOAD_DIGEST = "workload_digest"
# The identity's field that labels Theano's BLAS (environment.blas); other records have none.
BLAS = "blas"
# Below this many files a pool costs more than it saves.
PARALLEL_FROM = 1000
CHUNK = 200

# One run. key: its configuration as JSON text (key_of); speed: the median samples/s;
# phases: metrics.phases in PHASES order; gpu_util: the mean over its GPUs of each one's
# mean utilisation; memory_peak: the backend's own peak (GPU runs only); nvml_peak: the
# most any of its GPUs held as NVML saw it; verdict, failed_checks, epoch_cv: its
# stability; epoch_speeds: the measured epochs' samples/s (the significance test's);
# trials: the measured steps, and trial_ms the measured milliseconds over them (the VGG16
# seed's figure), None where the record does not count its steps; joules_per_sample and
# energy_source: metrics.energy's (None where it was unavailable, or not recorded).
FIGURES = ("unit", "speed", "step_ms", "trial_ms", "trials", "epoch_seconds", "loss",
           "accuracy", "phases", "joules_per_sample", "energy_source",
           "gpu_util", "memory_peak", "memory_source", "nvml_peak", "verdict", "failed_checks",
           "epoch_cv", "epoch_speeds")
Run = namedtuple("Run", ("key", "run_id", "started_at", "status", "repeat_index", "error_type",
                         "error_message") + FIGURES + ("details",))
# A run that did not succeed has no figures.
_NO_FIGURES = dict.fromkeys(FIGURES)


def configuration(record):
    """The fields that make two runs repeats of one configuration (see IGNORED_CONFIG)."""
    identity = dict(record["config"])
    for name in IGNORED_CONFIG:
        identity.pop(name, None)
    environment = record["environment"]
    for name in ENVIRONMENT_IDENTITY:
        identity[name] = environment.get(name)
    # A changed network is another configuration, never a repeat of the old one.
    identity[WORKLOAD_DIGEST] = at(record, "workload", "digest")
    # Theano's BLAS, linked or through NumPy's C API: a run on one repeats none on the other.
    if isinstance(environment.get("blas"), dict):
        identity[BLAS] = blas_label(environment["blas"])
    return identity


def key_of(identity):
    """An identity as one hashable, comparable text (json.loads gives it back)."""
    return json.dumps(identity, sort_keys=True)


def summarize(record, with_details=False):
    """The Run of a checked record; `with_details` keeps its run_details (else None)."""
    identity = configuration(record)
    error = record.get("error")
    error = error if isinstance(error, dict) else {}  # an ok record's is not checked
    figures = _figures(record, identity) if record["status"] == "ok" else _NO_FIGURES
    return Run(key=key_of(identity), run_id=record["run_id"], started_at=record["started_at"],
               status=record["status"], repeat_index=record["config"].get("repeat_index"),
               error_type=error.get("type"), error_message=error.get("message"),
               details=run_details(record) if with_details else None, **figures)


def run_details(record):
    """What a person opens a run for, as (name, text) pairs: the command, where and on
    what it ran (versions, image, hardware, commit, processes and nodes), when, and its
    error with the traceback."""
    environment, config = record["environment"], record["config"]
    error = record.get("error") if isinstance(record.get("error"), dict) else {}
    gpus = environment.get("gpus")
    pairs = [
        ("Command", " ".join(shlex.quote(str(part)) for part in record["command"])),
        ("Started", record["started_at"]), ("Finished", record["finished_at"]),
        ("Versions", ", ".join("%s %s" % (name, environment.get(field)) for name, field in (
            ("Keras", "keras_version"), (environment.get("backend_package") or "backend",
                                         "backend_version"), ("Python", "python"))
            if environment.get(field) is not None)),
        ("Image", environment.get("image")), ("Commit", environment.get("git_commit")),
        ("Platform", environment.get("platform")),
        ("CPU", "%s, %s cores" % (environment.get("cpu_model"), environment.get("cpu_cores"))
         if environment.get("cpu_model") else None),
        ("GPUs", ", ".join(str(gpu.get("name", gpu)) if isinstance(gpu, dict) else str(gpu)
                           for gpu in gpus) if isinstance(gpus, list) and gpus else None),
        ("CUDA", environment.get("cuda")), ("cuDNN", environment.get("cudnn")),
        ("Processes", "%s on %s nodes (%s)" % (config.get("processes"), config.get("nodes"),
                                                config.get("launcher"))
         if (config.get("processes") or 1) != 1 else None),
        ("Error", "%s: %s" % (error.get("type"), error.get("message")) if error else None),
        ("Traceback", error.get("traceback"))]
    return tuple((name, str(text)) for name, text in pairs if text not in (None, ""))


def _figures(record, identity):
    """The Run's figures of a successful record."""
    metrics = record["metrics"]
    gpu = at(metrics, "telemetry", "gpu")
    devices = gpu.get("devices") if isinstance(gpu, dict) and gpu.get("available") else None
    devices = devices if isinstance(devices, list) else []
    stability = metrics.get("stability")
    stability = stability if isinstance(stability, dict) else {}
    on_gpu = is_number(identity.get("gpus")) and identity["gpus"] > 0
    phases = metrics.get("phases")
    phases = phases if phases.__class__ is dict else {}
    trials = at(metrics, "measured", "steps")
    return dict(
        unit=metrics.get("unit"), speed=metrics["throughput"]["median"],
        step_ms=metrics["step_ms"]["median"],
        trial_ms=1000.0 * metrics["measured"]["seconds"] / trials if trials else None,
        trials=trials,
        epoch_seconds=metrics["measured"]["seconds"] / metrics["measured"]["epochs"],
        loss=metrics.get("loss"), accuracy=metrics.get("accuracy"),
        phases=tuple(map(phases.get, PHASES)),
        joules_per_sample=at(metrics, "energy", "joules_per_sample"),
        energy_source=at(metrics, "energy", "source"),
        gpu_util=_mean_or_none(at(device, "util_percent", "mean") for device in devices),
        memory_peak=at(metrics, "memory", "peak_mb") if on_gpu else None,
        memory_source=at(metrics, "memory", "source"),
        nvml_peak=_max_or_none(at(device, "memory_used_mb", "peak") for device in devices),
        verdict=stability.get("verdict"), failed_checks=tuple(stability.get("failed") or ()),
        epoch_cv=stability.get("cv_pct"),
        epoch_speeds=significance.epoch_speeds(at(record, "samples", "epochs"),
                                               metrics["measured"]["epochs"]))


def _mean_or_none(values):
    numbers = [v for v in values if is_number(v)]
    if len(numbers) < 2:  # one GPU: most runs that have any (statistics.mean is slow)
        return numbers[0] if numbers else None
    return statistics.mean(numbers)


def _max_or_none(values):
    numbers = [v for v in values if is_number(v)]
    return max(numbers) if numbers else None


def read_run(path, decode=None, with_details=False):
    """(path, Run, None, notes), or (path, None, why it was skipped, []); `decode` as
    records.read takes it, `with_details` as summarize."""
    try:
        record, notes = read(path, decode)
    except (SchemaError, OSError) as error:
        return path, None, str(error), []
    return path, summarize(record, with_details), None, notes


def _read_runs(paths, files=0, with_details=False):
    """read_run of each of `paths`, with the JSON reader that pays for `files` files."""
    decode = fast_decoder(files or len(paths))
    return [read_run(path, decode, with_details) for path in paths]


def load(folder, processes=None, with_details=False):
    """Every usable run under `folder` (see records.FIELDS); (path, reason) for each file
    skipped; and (path, note) for each optional field emptied in a run that was kept.
    `processes`: how many read the files (default: one per CPU for a large folder);
    `with_details`: each Run keeps its run_details (the HTML report shows them)."""
    paths = result_paths(folder)
    runs, unreadable, emptied, first_copy = [], [], [], {}
    for path, run, reason, notes in _read_all(paths, processes, with_details):
        if run is None:
            unreadable.append((path, reason))
            continue
        # Results gathered from several machines may hold one run twice.
        copy = (run.run_id, run.started_at)
        if copy in first_copy:
            unreadable.append((path, "the same run as %s" % first_copy[copy]))
            continue
        first_copy[copy] = path
        emptied.extend((path, note) for note in notes)
        runs.append(run)
    if not runs:
        raise CollectError("none of the %d result files in %s could be read" % (len(paths), folder))
    return runs, unreadable, emptied


def _read_all(paths, processes, with_details=False):
    """read_run of each path, in order: in this process, or by a pool where it pays."""
    if processes is None:
        processes = _cpus() if len(paths) >= PARALLEL_FROM else 1
    if processes > 1:
        chunks = [paths[i:i + CHUNK] for i in range(0, len(paths), CHUNK)]
        try:
            # fork where there is one: a spawned worker would import the collector again.
            methods = multiprocessing.get_all_start_methods()
            context = multiprocessing.get_context("fork" if "fork" in methods else None)
            pool = context.Pool(processes)
        except (OSError, ImportError):  # no semaphores here (some sandboxes): read serially
            pass
        else:
            with pool:
                read_chunk = functools.partial(_read_runs, files=len(paths),
                                               with_details=with_details)
                return [one for part in pool.imap(read_chunk, chunks) for one in part]
    return _read_runs(paths, with_details=with_details)


def _cpus():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1
