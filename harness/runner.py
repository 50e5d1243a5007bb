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
import math
import os
import sys
import time
import traceback

from harness import (backends, calibration, cluster, console, datasets, energy, environment,
                     result_file, run_record, schema, stopping, telemetry, timing,
                     workload_digest)
from harness.backends.common import Unsupported as Skip
from harness.spec import STREAMING_DATASETS, UsageError

def run(spec, command):
    """Run `spec` and write its result; returns (exit code, result path)."""
    place = cluster.describe(spec)  # may raise UsageError: no file, exit 2
    run_id = spec.run_id or schema.new_run_id()
    record = run_record.RunRecord(dict(spec.to_dict(), run_id=run_id), command, run_id)
    write = result_file.WriteOnce(record, spec.out) if place.process_id == 0 \
        else result_file.WrittenByRank0()
    stopping.install(write.as_interrupted)  # first: describing the host takes seconds
    adapter = None
    try:
        stopping.entering("start-up")
        record.workload = workload_digest.compute(spec.model, spec.dataset, spec.backend)
        record.environment = environment.snapshot()
        stopping.entering("import")
        started = time.perf_counter()
        adapter = backends.load(spec, place)  # may raise UsageError: no file, exit 2
        import_s = time.perf_counter() - started
        placement = _resolve(spec, adapter, place, record.environment["gpus"])
        record.resolve(placement)
        if place.several and adapter.processes == 1:
            raise Skip("%s trains in one process; jobs of several processes run Keras 3 on "
                       "JAX or PyTorch" % spec.backend)
        if adapter.processes > 1 and adapter.rank == 0:
            cluster.watch_peers(adapter.peer_failures, write.as_failed_by_peers)
        elif adapter.processes > 1:
            cluster.keep_beating(adapter.beat)
        console.say("%s on %s (%s, %s): %s" % (spec.model, spec.backend, placement.data_format,
                                              console.devices_text(placement._asdict()),
                                              placement.instance))
        reason = adapter.unsupported(spec)
        if reason:
            raise Skip(reason)
        adapter.launch(_measure, spec, record)
        record.phases.update(import_s=import_s, total_s=time.perf_counter() - started)
        record.outcome = record.ok()
    except UsageError:
        raise
    except KeyboardInterrupt as e:  # StopRequested, or Ctrl-C where no handler was installed
        record.outcome = record.ended_early("interrupted", {
            "type": type(e).__name__, "message": str(e) or "interrupted by the user",
            "traceback": traceback.format_exc()})
    except Skip as e:
        record.outcome = record.skipped(str(e))
    except BaseException as e:  # MemoryError and SystemExit too: the run still leaves its file
        record.outcome = record.ended_early(*_failure(e, adapter))
    finally:
        stopping.finishing()  # a signal from here on cannot cost the file
        _describe_end(record, adapter)
    document = record.document()
    path = write(document)
    console.report(document, path)
    code = 0 if document["status"] in ("ok", "skipped") else 1
    if adapter is not None and adapter.processes > 1 and document["status"] != "ok":
        # Peers may wait for this process in a collective, and the framework's orderly
        # exit would wait for them (jax.distributed's shutdown barrier, for minutes).
        sys.stderr.flush()
        os._exit(code)
    return code, path


def _failure(e, adapter):
    """(status, error) of a run that failed with `e` (in its except clause)."""
    failed = {"error": {"type": type(e).__name__, "message": str(e) or repr(e),
                        "traceback": traceback.format_exc()}}
    if adapter is not None and adapter.processes > 1 and not stopping.requested():
        cluster.report_failure(failed, adapter, stopping.requested)  # sets failed["error"]
    if stopping.requested():
        # A failure after a stop request is the stop's doing: a data-parallel peer gone,
        # most often one that had the same signal first (scancel signals each node's
        # ranks in turn) and stopped at its own step end.
        return "interrupted", dict(failed["error"], message="stopped by signal %d, then: %s" % (
            stopping.requested(), failed["error"]["message"]))
    return "error", failed["error"]


def _describe_end(record, adapter):
    """What only the run's end knows of its environment."""
    record.environment.update(environment.at_end())
    if adapter is not None:
        record.environment.update(_safely(adapter.describe))


def _resolve(spec, adapter, place, gpus_found):
    """What the defaults turned into on this machine (and, in a job of several processes,
    on all of them): a Placement. `gpus_found`: the environment's list of GPUs."""
    global_batch = spec.global_batch(adapter.devices)
    if global_batch % adapter.devices:
        raise UsageError("a global batch of %d does not split evenly over %d devices"
                         % (global_batch, adapter.devices))
    return run_record.Placement(
        gpus=adapter.gpus, devices=adapter.devices, processes=adapter.processes,
        nodes=adapter.nodes, devices_per_process=adapter.devices // adapter.processes,
        launcher=place.launcher if adapter.processes > 1 else None,
        device_kind=adapter.device_kind, parallel=adapter.parallel,
        global_batch_size=global_batch, device_batch_size=global_batch // adapter.devices,
        data_format=adapter.data_format, unit=spec.workload.unit,
        instance=spec.instance or environment.instance_label(adapter.gpus, gpus_found),
        keras_api=adapter.api,
        timing=spec.timing or ("epoch" if adapter.gpus and not spec.inference else "step"))


def _measure(adapter, spec, record):
    """Load, build, compile, train (or predict) with the clock running, evaluate.

    Runs in every process of a run (`adapter.launch`); only rank 0's record is
    written, and only rank 0 samples telemetry and profiles.
    """
    placement = record.placement
    batch_size = placement.global_batch_size  # what one step takes over all devices
    phases = record.phases = {}  # the phases so far, for an interrupted result
    phase = _phase_clock(adapter, phases)
    steps = spec.steps_per_epoch or spec.workload.steps_per_epoch
    with phase("data_s"):
        data = datasets.load(spec, adapter.data_format, steps, batch_size)
    if spec.dataset != "synthetic" and not spec.steps_per_epoch:
        steps = max(1, data.num_samples // batch_size)  # one full pass, whole batches only
    record.resolve(run_record.DataResolved(steps, data.provenance,
                                           datasets.fingerprint(data, batch_size)))
    with adapter.scope():  # a distribution strategy's, where there is one
        with phase("build_s"):
            model, recipe = adapter.build(spec, data)
        with phase("compile_s"):  # Keras 3 traces at the first step: see first_epoch_s
            model = adapter.compile(model, recipe)  # a data-parallel wrapper on some paths
    record.resolve(run_record.ModelResolved(adapter.jit_compiled(model), recipe._asdict(),
                                            int(model.count_params())))

    plan = timing.Plan(spec.warmup, spec.epochs, spec.min_steps, spec.min_seconds)
    # The warm-up is timed step by step whatever --timing says: its pace sets the
    # measured epochs' steps (harness.calibration), and it is not counted.
    meter = energy.Meter(adapter.gpus) if adapter.rank == 0 else None
    recorder = timing.Recorder(adapter.sync, plan, agree=adapter.agree, per_step=True,
                               progress=console.epoch_progress(spec) if adapter.rank == 0 else None,
                               meter=meter)
    # The epochs as they finish: an interrupted or failed result keeps them.
    record.epochs = recorder.epochs
    loop = _per_batch if spec.method == "train_on_batch" else _keras_loop
    inputs = _inputs(adapter, data, batch_size, steps, spec.method)
    with _instruments(adapter, spec, record, meter) as telemetry:
        if spec.warmup:
            stopping.entering("warm-up")
            loop(adapter, model, inputs, batch_size, steps, recorder, spec.inference, spec.warmup)
        calibrated = calibration.plan(recorder.epochs, steps, batch_size, spec.epoch_seconds,
                                      _max_steps(data, batch_size, steps),
                                      _fixed_steps_reason(spec))
        # Every process of a data-parallel run must take the same steps: rank 0's.
        measured_steps = calibrated["steps_per_epoch"] = adapter.agree(
            calibrated["steps_per_epoch"])
        # config.steps_per_epoch stays the warm-up's (the workload's, or as asked): the
        # measured steps follow from each run's own pace, and repeats still share a config.
        record.resolve(run_record.Calibrated(calibrated))
        measured_inputs = inputs if measured_steps == steps else \
            _inputs(adapter, data, batch_size, measured_steps, spec.method)
        recorder.per_step = placement.timing == "step"
        stopping.entering("measurement")
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
    metrics["energy"] = meter.summary(recorder.epochs, spec.warmup) if meter is not None else None
    metrics["stability"] = timing.stability(recorder.epochs, spec.warmup, metrics["telemetry"],
                                            record.environment.get("cpu_cores_usable"))
    phases["first_epoch_s"] = recorder.epochs[0]["seconds"]
    phases["warmup_s"] = metrics["warmup"]["seconds"]
    phases["steady_s"] = metrics["measured"]["seconds"]
    record.telemetry = telemetry.samples if telemetry else None
    record.metrics = metrics
    record.environment["replicas"] = adapter.replicas(model)


def _phase_clock(adapter, phases):
    """`with phase(name):` times the block into phases[name], the device drained at its end."""
    @contextlib.contextmanager
    def phase(name):
        stopping.entering(name[:-len("_s")])
        started = time.perf_counter()
        yield
        adapter.sync(None)
        phases[name] = time.perf_counter() - started
    return phase


@contextlib.contextmanager
def _instruments(adapter, spec, record, meter):
    """Around the training loop, on rank 0: the energy meter (None on other ranks), the
    telemetry sampler (yielded, or None) and, with --profile, the framework's profiler
    writing beside the result file."""
    with contextlib.ExitStack() as stack:
        sampler = None
        if meter is not None:
            stack.enter_context(meter)
        if adapter.rank == 0 and spec.profile:
            stem = os.path.splitext(record.file_name())[0]
            folder = os.path.join(spec.out, stem + schema.PROFILE_SUFFIX)
            tool = stack.enter_context(adapter.trace(folder))
            record.profile = {"tool": tool, "path": os.path.basename(folder)}
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


def _safely(describe):
    try:
        return describe()
    except Exception as e:  # a broken framework must not cost the result file
        return {"describe_error": repr(e)}
