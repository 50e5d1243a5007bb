"""One run: backend, data, model, warm-up and measurement, and its result file.

Every run that starts leaves exactly one result file, whatever happens: `ok`,
`skipped` (the backend cannot run this), `error` (with the traceback) or
`interrupted` (Ctrl-C, SIGTERM from `docker stop`: the run stops at its next
step end, or is written as it stands a few seconds later; see harness.stopping).
A usage error found before the run starts (say, more GPUs asked than visible)
writes nothing.

A job of several processes (harness.cluster) leaves one file too, written by
rank 0: a rank that fails publishes its traceback, which rank 0 puts in the
job's result.
"""
import contextlib
import copy
import json
import math
import os
import socket
import sys
import threading
import time
import traceback

from harness import (backends, calibration, cluster, datasets, environment, schema, stopping,
                     telemetry, timing, workload_digest)
from harness.backends.common import Unsupported as Skip
from harness.spec import STREAMING_DATASETS, UsageError

# Seconds rank 0, failing itself, waits for a peer's report of the failure that caused it.
_PEER_REPORT_WAIT_S = 5.0


def run(spec, command):
    """Run `spec` and write its result; returns (exit code, result path)."""
    place = cluster.describe(spec)  # may raise UsageError: no file, exit 2
    run_id = spec.run_id or schema.new_run_id()
    record = schema.new_record(dict(spec.to_dict(), run_id=run_id), command, run_id)
    record["workload"] = workload_digest.describe(spec.model, spec.dataset, spec.backend)
    record["environment"] = environment.describe()
    write = _WriteOnce(record, spec.out) if place.process_id == 0 else _WrittenByRank0()
    stopping.install(write.as_interrupted)
    adapter = None
    try:
        started = time.perf_counter()
        adapter = backends.load(spec)  # may raise UsageError: no file, exit 2
        import_s = time.perf_counter() - started
        _resolve(record, spec, adapter, place)
        if place.several and adapter.processes == 1:
            raise Skip("%s trains in one process; jobs of several processes run Keras 3 on "
                       "JAX or PyTorch" % spec.backend)
        if adapter.processes > 1 and place.process_id == 0:
            cluster.watch_peers(adapter.peer_failures, write.as_failed_by_peers)
        _say("%s on %s (%s, %s): %s" % (spec.model, spec.backend, record["config"]["data_format"],
                                      _devices_text(record["config"]), record["config"]["instance"]))
        reason = adapter.unsupported(spec)
        if reason:
            raise Skip(reason)
        adapter.launch(_measure, spec, record)
        record["metrics"]["phases"].update(import_s=import_s,
                                           total_s=time.perf_counter() - started)
        record["status"] = "ok"
    except UsageError:
        raise
    except KeyboardInterrupt as e:  # StopRequested, or Ctrl-C where no handler was installed
        record["status"] = "interrupted"
        record["error"] = {"type": type(e).__name__, "message": str(e) or "interrupted by the user",
                           "traceback": traceback.format_exc()}
    except Skip as e:
        record["status"] = "skipped"
        record["error"] = {"type": "Unsupported", "message": str(e), "traceback": None}
    except BaseException as e:  # MemoryError and SystemExit too: the run still leaves its file
        # A failure after a stop request (a data-parallel peer gone) is the stop's doing.
        record["status"] = "interrupted" if stopping.requested() else "error"
        record["error"] = {"type": type(e).__name__, "message": str(e) or repr(e),
                           "traceback": traceback.format_exc()}
        if record["status"] == "error" and adapter is not None and adapter.processes > 1:
            _tell_peers(record, adapter, place)
    finally:
        _describe_end(record, adapter)
    path = write()
    _report(record, path)
    code = 0 if record["status"] in ("ok", "skipped") else 1
    if adapter is not None and adapter.processes > 1 and record["status"] != "ok":
        # Peers may wait for this process in a collective, and the framework's orderly
        # exit would wait for them (jax.distributed's shutdown barrier, for minutes).
        sys.stderr.flush()
        os._exit(code)
    return code, path


def _tell_peers(record, adapter, place):
    """A failure in a job of several processes: a rank other than 0 publishes its
    traceback; rank 0 puts the traceback of the rank that failed first (its own
    failure is most often that rank gone) into the job's result."""
    error = record["error"]
    if place.process_id:
        adapter.publish_failure("rank %d on %s: %s" % (place.process_id, socket.gethostname(),
                                                       error["traceback"]))
        return
    deadline = time.time() + _PEER_REPORT_WAIT_S
    failures = adapter.peer_failures()
    while not failures and time.time() < deadline:
        time.sleep(0.2)
        failures = adapter.peer_failures()
    if failures:
        record["error"] = _peers_error(failures, "rank 0 then: " + error["traceback"])


def _peers_error(failures, then=None):
    """The error of a job whose other ranks published `failures`."""
    last = [line for line in failures[0].strip().splitlines() if line.strip()]
    return {"type": "RankFailed", "message": "%s: %s" % (failures[0].split(":")[0], last[-1]),
            "traceback": "\n".join(failures + ([then] if then else []))}


def _describe_end(record, adapter):
    """What only the run's end knows of its environment."""
    record["environment"]["env_vars"] = environment.env_vars()  # as the adapter left them
    record["environment"]["frameworks_loaded"] = environment.frameworks_loaded()
    if adapter is not None:
        record["environment"].update(_safely(adapter.describe))


class _WriteOnce(object):
    """Writes the run's record exactly once: at the run's end, or, when a stop request
    finds no step end in time, from the stop's watchdog thread as it stands then."""

    def __init__(self, record, out):
        self._record, self._out = record, out
        self._lock = threading.Lock()
        self.path = None

    def __call__(self):
        """The run's end: write the record, unless the watchdog has; returns the path."""
        self._write(self._record)
        return self.path

    def as_interrupted(self):
        """The watchdog's write: interrupted, no metrics, and what the main thread was
        doing. False when the run's own end has written the record already."""
        frame = sys._current_frames().get(threading.main_thread().ident)
        return self._write_as_it_stands("interrupted", {
            "type": "StopRequested",
            "message": "stopped by signal %d; no step ended within %g s of it"
                       % (stopping.requested(), stopping.grace_s()),
            "traceback": "".join(traceback.format_stack(frame)) if frame else None})

    def as_failed_by_peers(self, failures):
        """The peer watcher's write (cluster.watch_peers): other ranks failed."""
        return self._write_as_it_stands("error", _peers_error(failures))

    def _write_as_it_stands(self, status, error):
        """Write the record from another thread, with `status` and `error` and no metrics.
        False when the run's own end has written the record already."""
        record = self._record
        for _ in range(3):  # the main thread may be changing the record meanwhile
            try:
                record = copy.deepcopy(self._record)
                break
            except RuntimeError:
                time.sleep(0.05)
        record.update(status=status, metrics=None, samples=None, error=error)
        record["environment"]["env_vars"] = environment.env_vars()
        record["environment"]["frameworks_loaded"] = environment.frameworks_loaded()
        if not self._write(record):
            return False
        _report(record, self.path)
        return True

    def _write(self, record):
        """Write `record` into the run's folder, else into a fallback folder, saying so;
        where no folder takes it, print it on stderr: the measurement is never lost
        silently (the folder was checked at the start, but a disk fills up)."""
        with self._lock:
            if self.path is not None:
                return False
            record["finished_at"] = schema.now()
            try:
                self.path, failure = schema.write_or_fall_back(record, self._out)
            except OSError as error:
                self.path = "stderr"
                _say("error: the result could not be written into %s (%s), nor into %s; "
                     "here it is:\n%s" % (self._out, error, " or ".join(schema.fallback_dirs()),
                                           json.dumps(record, sort_keys=True, default=repr)))
                return True
            if failure is not None:
                _say("error: the result could not be written into %s (%s); it was written to "
                     "%s instead" % (self._out, failure, self.path))
            return True


class _WrittenByRank0(object):
    """The writer of ranks other than 0: rank 0 writes the job's one result."""

    path = None

    def __call__(self):
        return None

    def as_interrupted(self):
        return True  # nothing to write: the stop's watchdog may end the process


def _resolve(record, spec, adapter, place):
    """Write into the record what the defaults turned into on this machine (and, in a
    job of several processes, on all of them)."""
    config = record["config"]
    config["gpus"] = adapter.gpus
    config["devices"] = adapter.devices
    config["processes"] = adapter.processes
    config["nodes"] = adapter.nodes
    config["devices_per_process"] = adapter.devices // adapter.processes
    config["launcher"] = place.launcher if adapter.processes > 1 else None
    config["device_kind"] = adapter.device_kind
    config["parallel"] = adapter.parallel
    config["global_batch_size"] = spec.global_batch(adapter.devices)
    if config["global_batch_size"] % adapter.devices:
        raise UsageError("a global batch of %d does not split evenly over %d devices"
                         % (config["global_batch_size"], adapter.devices))
    config["device_batch_size"] = config["global_batch_size"] // adapter.devices
    config["data_format"] = adapter.data_format
    config["unit"] = spec.workload.unit
    config["instance"] = spec.instance or environment.instance_label(
        adapter.gpus, record["environment"]["gpus"])
    config["keras_api"] = adapter.api
    config["timing"] = spec.timing or ("epoch" if adapter.gpus and not spec.inference else "step")


def _measure(adapter, spec, record):
    """Load, build, compile, train (or predict) with the clock running, evaluate.

    Runs in every process of a run (`adapter.launch`); only rank 0's record is
    written, and only rank 0 samples telemetry and profiles.
    """
    config = record["config"]
    batch_size = config["global_batch_size"]  # what one step takes over all devices
    phases = {}
    phase = _phase_clock(adapter, phases)
    steps = spec.steps_per_epoch or spec.workload.steps_per_epoch
    with phase("data_s"):
        data = datasets.load(spec, adapter.data_format, steps, batch_size)
    if spec.dataset != "synthetic" and not spec.steps_per_epoch:
        steps = max(1, data.num_samples // batch_size)  # one full pass, whole batches only
    config["steps_per_epoch"] = steps
    config["data_provenance"] = data.provenance
    config["data_fingerprint"] = datasets.fingerprint(data, batch_size)
    with adapter.scope():  # a distribution strategy's, where there is one
        with phase("build_s"):
            model, recipe = adapter.build(spec, data)
        with phase("compile_s"):  # Keras 3 traces at the first step: see first_epoch_s
            model = adapter.compile(model, recipe)  # a data-parallel wrapper on some paths
    config["jit_compile_resolved"] = adapter.jit_compiled(model)
    config["optimizer"] = recipe._asdict()
    config["parameters"] = int(model.count_params())

    plan = timing.Plan(spec.warmup, spec.epochs, spec.min_steps, spec.min_seconds)
    # The warm-up is timed step by step whatever --timing says: its pace sets the
    # measured epochs' steps (harness.calibration), and it is not counted.
    recorder = timing.Recorder(adapter.sync, plan, agree=adapter.agree, per_step=True,
                               progress=_epoch_progress(spec) if adapter.rank == 0 else None)
    loop = _per_batch if spec.method == "train_on_batch" else _keras_loop
    inputs = _inputs(adapter, data, batch_size, steps, spec.method)
    with _instruments(adapter, spec, record) as telemetry:
        if spec.warmup:
            loop(adapter, model, inputs, batch_size, steps, recorder, spec.inference, spec.warmup)
        calibrated = calibration.plan(recorder.epochs, steps, batch_size, spec.epoch_seconds,
                                      _max_steps(data, batch_size, steps),
                                      _fixed_steps_reason(spec))
        # Every process of a data-parallel run must take the same steps: rank 0's.
        measured_steps = calibrated["steps_per_epoch"] = adapter.agree(
            calibrated["steps_per_epoch"])
        # config.steps_per_epoch stays the warm-up's (the workload's, or as asked): the
        # measured steps follow from each run's own pace, and repeats still share a config.
        config["calibration"] = calibrated
        measured_inputs = inputs if measured_steps == steps else \
            _inputs(adapter, data, batch_size, measured_steps, spec.method)
        recorder.per_step = config["timing"] == "step"
        final = loop(adapter, model, measured_inputs, batch_size, measured_steps, recorder,
                     spec.inference, plan.max_epochs() - spec.warmup)
    evaluation = None
    if not spec.inference:
        with phase("evaluate_s"):  # over the workload's steps, however long the epochs grew
            evaluation = adapter.evaluate(model, inputs, batch_size, steps)

    metrics = timing.summarize(recorder.epochs, spec.warmup, spec.workload.unit)
    metrics["loss"] = final.get("loss")
    metrics["accuracy"] = final.get("accuracy")
    # The file stores a NaN loss as null, like "no loss" (inference): say which.
    metrics["diverged"] = metrics["loss"] is not None and not math.isfinite(metrics["loss"])
    metrics["evaluation"] = evaluation
    metrics["memory"] = adapter.memory()
    metrics["telemetry"] = telemetry.summary() if telemetry else None
    metrics["stability"] = timing.stability(recorder.epochs, spec.warmup, metrics["telemetry"],
                                            record["environment"].get("cpu_cores_usable"))
    phases["first_epoch_s"] = recorder.epochs[0]["seconds"]
    phases["warmup_s"] = metrics["warmup"]["seconds"]
    phases["steady_s"] = metrics["measured"]["seconds"]
    metrics["phases"] = phases
    record["metrics"] = metrics
    record["samples"] = {"epochs": recorder.epochs,
                         "telemetry": telemetry.samples if telemetry else None}
    record["environment"]["replicas"] = adapter.replicas(model)


def _phase_clock(adapter, phases):
    """`with phase(name):` times the block into phases[name], the device drained at its end."""
    @contextlib.contextmanager
    def phase(name):
        started = time.perf_counter()
        yield
        adapter.sync(None)
        phases[name] = time.perf_counter() - started
    return phase


@contextlib.contextmanager
def _instruments(adapter, spec, record):
    """Around the training loop, on rank 0: the telemetry sampler (yielded, or None)
    and, with --profile, the framework's profiler writing beside the result file."""
    with contextlib.ExitStack() as stack:
        sampler = None
        if adapter.rank == 0 and spec.profile:
            stem = os.path.splitext(schema.file_name(record))[0]
            folder = os.path.join(spec.out, stem + schema.PROFILE_SUFFIX)
            tool = stack.enter_context(adapter.trace(folder))
            record["profile"] = {"tool": tool, "path": os.path.basename(folder)}
        if adapter.rank == 0 and spec.telemetry_interval:
            sampler = stack.enter_context(telemetry.Sampler(spec.telemetry_interval, adapter.gpus))
        yield sampler


def _inputs(adapter, data, batch_size, steps, method):
    """What fit, predict and evaluate read: arrays in memory, or a sequence of batches."""
    if method == "generator" or data.name in STREAMING_DATASETS:
        return adapter.batch_sequence(data, batch_size, steps)
    return data.arrays(steps * batch_size)


def _max_steps(data, batch_size, steps):
    """The most steps a measured epoch may take: its inputs, held in memory, within
    calibration.MAX_EPOCH_BYTES (never fewer than the workload's own steps)."""
    return max(steps, calibration.MAX_EPOCH_BYTES // (data.sample_bytes() * batch_size))


def _fixed_steps_reason(spec):
    """Why the measured epochs keep the steps they have, whatever the warm-up's pace, or None."""
    if spec.steps_per_epoch:
        return "--steps-per-epoch given"
    if spec.dataset != "synthetic":
        return "an epoch is one pass over the %s data set" % spec.dataset
    return None


# --- the loops: Keras's own fit/predict, or one call per batch; each runs up to
# `epochs` epochs, fewer when the recorder's plan is done (fit: its callback stops
# training then); they return the last epoch's logs ({} for inference) ---

def _keras_loop(adapter, model, inputs, batch_size, steps, recorder, inference, epochs):
    """fit() or predict() on arrays in memory (`fit`) or on a generator of batches."""
    callback = adapter.timing_callback(recorder, lambda step: batch_size, steps)
    if not inference:
        return adapter.fit(model, inputs, batch_size, epochs, steps, callback)
    for _ in range(epochs):  # one predict() call is one epoch
        if recorder.done():
            break
        adapter.predict(model, inputs, batch_size, steps, callback)
    return {}


def _per_batch(adapter, model, inputs, batch_size, steps, recorder, inference, epochs):
    """One train_on_batch (or predict_on_batch) call per step."""
    batch = _batch_source(inputs, batch_size)
    logs = {}
    for _ in range(epochs):
        if recorder.done():
            break
        recorder.begin_epoch()
        for i in range(steps):
            x, y = batch(i)
            outputs = adapter.predict_on_batch(model, x) if inference else \
                adapter.train_on_batch(model, x, y)
            recorder.end_step(len(x), outputs)  # the samples this call really took
            logs = {} if inference else outputs
        recorder.end_epoch()
    return {name: float(value) for name, value in logs.items()}  # device values, for the native loops


def _batch_source(inputs, batch_size):
    """The i-th batch: a slice of the arrays in memory, or the sequence's i-th (read from disk)."""
    if isinstance(inputs, tuple):
        x, y = inputs
        return lambda i: (x[i * batch_size:(i + 1) * batch_size], y[i * batch_size:(i + 1) * batch_size])
    return lambda i: inputs[i]


# --- what the user sees ---

def _say(line):
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _epoch_progress(spec):
    total = "%d%s" % (spec.warmup + spec.epochs, "+" if spec.min_steps or spec.min_seconds else "")
    unit = spec.workload.unit

    def progress(number, epoch):
        kind = "warm-up" if number <= spec.warmup else "measured"
        _say("  epoch %d/%s (%s): %d steps in %.2f s, %.0f %s/s"
             % (number, total, kind, epoch["steps"], epoch["seconds"],
                epoch["samples"] / epoch["seconds"], unit))
    return progress


def _devices_text(config):
    if config["devices"] == 1:
        return "%d GPU" % config["gpus"]
    return "%d %s devices, %s, global batch %d" % (config["devices"], config["device_kind"].upper(),
                                                   config["parallel"], config["global_batch_size"])


def _report(record, path):
    metrics = record["metrics"]
    path = path or "rank 0 writes the job's result"
    if record["status"] == "ok":
        _say("%s %s: %.1f %s/s (median of %d epochs), %.2f ms/step, first epoch %.2f s, %s -> %s"
             % (record["config"]["model"], record["config"]["backend"],
                metrics["throughput"]["median"], metrics["unit"], metrics["throughput"]["n"],
                metrics["step_ms"]["median"], metrics["warmup"]["first_epoch_s"],
                stability_text(metrics.get("stability")), path))
    else:
        _say("%s: %s: %s -> %s" % (record["status"], record["error"]["type"],
                                   record["error"]["message"].splitlines()[0] if record["error"]["message"] else "", path))


def stability_text(stability):
    """'stable (CV 2.1%)', or 'UNSTABLE (CV 23.0%): the reasons'."""
    if not stability:
        return "stability not judged"
    cv = "CV %.1f%%" % stability["cv_pct"] if stability.get("cv_pct") is not None else "CV n/a"
    if stability["verdict"] == "stable":
        return "stable (%s)" % cv
    return "UNSTABLE (%s): %s" % (cv, "; ".join(stability["reasons"]))


def _safely(describe):
    try:
        return describe()
    except Exception as e:  # a broken framework must not cost the result file
        return {"describe_error": repr(e)}
