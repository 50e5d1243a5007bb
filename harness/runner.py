"""One run: backend, data, model, warm-up and measurement, and its result file.

Every run that starts leaves exactly one result file, whatever happens: `ok`,
`skipped` (the backend cannot run this), `error` (with the traceback) or
`interrupted` (Ctrl-C, SIGTERM from `docker stop`). A usage error found before
the run starts (say, more GPUs asked than visible) writes nothing.
"""
import math
import signal
import sys
import traceback

from harness import backends, datasets, environment, models, schema, timing
from harness.spec import STREAMING_DATASETS, UsageError


class Skip(Exception):
    """This backend cannot run this configuration; recorded, not a failure."""


def run(spec, command):
    """Run `spec` and write its result; returns (exit code, result path)."""
    run_id = spec.run_id or schema.new_run_id()
    record = schema.new_record(dict(spec.to_dict(), run_id=run_id), command, run_id)
    record["environment"] = environment.describe()
    _terminate_as_interrupt()
    adapter = None
    try:
        adapter = backends.load(spec)  # may raise UsageError: no file, exit 2
        _resolve(record, spec, adapter)
        _say("%s on %s (%s, %s GPU): %s" % (spec.model, spec.backend, record["config"]["data_format"],
                                          adapter.gpus, record["config"]["instance"]))
        reason = adapter.unsupported(spec)
        if reason:
            raise Skip(reason)
        record["metrics"], record["samples"] = _measure(spec, adapter, record["config"])
        record["status"] = "ok"
    except UsageError:
        raise
    except KeyboardInterrupt:
        record["status"] = "interrupted"
        record["error"] = {"type": "KeyboardInterrupt", "message": "interrupted by the user or a signal",
                           "traceback": traceback.format_exc()}
    except Skip as e:
        record["status"] = "skipped"
        record["error"] = {"type": "Unsupported", "message": str(e), "traceback": None}
    except BaseException as e:  # MemoryError and SystemExit too: the run still leaves its file
        record["status"] = "error"
        record["error"] = {"type": type(e).__name__, "message": str(e) or repr(e),
                           "traceback": traceback.format_exc()}
    finally:
        record["environment"]["env_vars"] = environment.env_vars()  # as the adapter left them
        if adapter is not None:
            record["environment"].update(_safely(adapter.describe))
    record["finished_at"] = schema.now()
    path = schema.write(record, spec.out)
    _report(record, path)
    return (0 if record["status"] in ("ok", "skipped") else 1), path


def _resolve(record, spec, adapter):
    """Write into the record what the defaults turned into on this machine."""
    config = record["config"]
    config["gpus"] = adapter.gpus
    config["data_format"] = adapter.data_format
    config["unit"] = spec.workload.unit
    config["instance"] = spec.instance or environment.instance_label(
        adapter.gpus, record["environment"]["gpus"])
    config["keras_api"] = adapter.api


def _measure(spec, adapter, config):
    """Train (or predict) with the clock running; returns (metrics, raw samples)."""
    steps = spec.steps_per_epoch or spec.workload.steps_per_epoch
    data = datasets.load(spec, adapter.data_format, steps)
    if spec.dataset != "synthetic" and not spec.steps_per_epoch:
        steps = max(1, data.num_samples // spec.batch_size)  # one full pass, whole batches only
    config["steps_per_epoch"] = steps
    config["data_provenance"] = data.provenance
    config["data_fingerprint"] = datasets.fingerprint(data, spec.batch_size)
    model, recipe = models.build(spec, adapter.keras, data)
    model = adapter.compile(model, recipe)  # a data-parallel wrapper on some multi-GPU paths
    config["optimizer"] = recipe._asdict()
    config["parameters"] = int(model.count_params())

    plan = timing.Plan(spec.warmup, spec.epochs, spec.min_steps, spec.min_seconds)
    recorder = timing.Recorder(adapter.sync, plan, progress=_epoch_progress(spec))
    if spec.method == "train_on_batch":
        final = _per_batch(adapter, model, data, spec.batch_size, steps, recorder, spec.inference)
    else:
        final = _keras_loop(adapter, model, data, spec.batch_size, steps, recorder, spec.method,
                            spec.inference)
    metrics = timing.summarize(recorder.epochs, spec.warmup, spec.workload.unit)
    metrics["loss"] = final.get("loss")
    metrics["accuracy"] = final.get("accuracy")
    # The file stores a NaN loss as null, like "no loss" (inference): say which.
    metrics["diverged"] = metrics["loss"] is not None and not math.isfinite(metrics["loss"])
    return metrics, {"epochs": recorder.epochs}


# --- the loops: Keras's own fit/predict, or one call per batch; each runs epochs
# until the recorder's plan is done (fit: its callback stops training then) ---

def _keras_loop(adapter, model, data, batch_size, steps, recorder, method, inference):
    """fit() or predict() on arrays in memory (`fit`) or on a generator of batches."""
    if method == "generator":
        inputs = adapter.batch_sequence(data, batch_size, steps)
    else:
        inputs = data.arrays(steps * batch_size)
    callback = adapter.timing_callback(recorder, lambda step: batch_size)
    if not inference:
        return adapter.fit(model, inputs, batch_size, recorder.plan.max_epochs(), steps, callback)
    while not recorder.done():  # one predict() call is one epoch
        adapter.predict(model, inputs, batch_size, steps, callback)
    return {}


def _per_batch(adapter, model, data, batch_size, steps, recorder, inference):
    """One train_on_batch (or predict_on_batch) call per step; returns the last step's logs."""
    batch = _batch_source(data, batch_size, steps)
    logs = {}
    while not recorder.done():
        recorder.begin_epoch()
        for i in range(steps):
            x, y = batch(i)
            outputs = adapter.predict_on_batch(model, x) if inference else \
                adapter.train_on_batch(model, x, y)
            recorder.end_step(len(x), outputs)  # the samples this call really took
            logs = {} if inference else outputs
        recorder.end_epoch()
    return logs


def _batch_source(data, batch_size, steps):
    """The i-th batch: slices of arrays held in memory, or read from disk when streamed."""
    if data.name in STREAMING_DATASETS:
        return lambda i: data.batch(i, batch_size)
    x, y = data.arrays(steps * batch_size)
    return lambda i: (x[i * batch_size:(i + 1) * batch_size], y[i * batch_size:(i + 1) * batch_size])


# --- what the user sees ---

def _say(line):
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def _epoch_progress(spec):
    total = "%d%s" % (spec.warmup + spec.epochs, "+" if spec.min_steps or spec.min_seconds else "")
    unit = spec.workload.unit

    def progress(number, epoch):
        samples = sum(epoch["step_samples"])
        kind = "warm-up" if number <= spec.warmup else "measured"
        _say("  epoch %d/%s (%s): %d steps in %.2f s, %.0f %s/s"
             % (number, total, kind, len(epoch["step_seconds"]), epoch["seconds"],
                samples / epoch["seconds"], unit))
    return progress


def _report(record, path):
    metrics = record["metrics"]
    if record["status"] == "ok":
        _say("%s %s: %.1f %s/s (median of %d epochs), %.2f ms/step, first epoch %.2f s -> %s"
             % (record["config"]["model"], record["config"]["backend"],
                metrics["throughput"]["median"], metrics["unit"], metrics["throughput"]["n"],
                metrics["step_ms"]["median"], metrics["warmup"]["first_epoch_s"], path))
    else:
        _say("%s: %s: %s -> %s" % (record["status"], record["error"]["type"],
                                   record["error"]["message"].splitlines()[0] if record["error"]["message"] else "", path))


def _safely(describe):
    try:
        return describe()
    except Exception as e:  # a broken framework must not cost the result file
        return {"describe_error": repr(e)}


def _terminate_as_interrupt():
    """Let SIGTERM (`docker stop`, a sweep's timeout) end the run like Ctrl-C: with a file."""
    def handler(signum, frame):
        raise KeyboardInterrupt("signal %d" % signum)
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, handler)
