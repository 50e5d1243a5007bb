"""What the tests share: sample result records and the collector run on them, tiny
runs and what their results must hold, a fake NVML. Test files import these from
here, never from each other."""

import glob
import io
import itertools
import os
import signal
import subprocess
import sys

import pytest

from conftest import REPO, harness, only_result
from harness import record_shape, schema, telemetry, timing
from harness.collector import cli as collect_cli
from harness.collector import labels

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKEND_VERSIONS = {"mxnet": "1.1.0", "tensorflow": "1.7.0", "jax": "0.10.2", "torch": "2.13.0",
                    "native-torch": "2.13.0", "native-jax": "0.10.2", "theano": "1.0.5",
                    "native-tensorflow": "2.21.0"}
# What the runner names its data-parallel mechanism on more than one device.
PARALLEL = {"mxnet": "mxnet context list", "tensorflow": "tf MirroredStrategy",
            "jax": "jax DataParallel", "torch": "torch DistributedDataParallel (nccl)",
            "native-torch": "torch DistributedDataParallel (nccl)",
            "native-jax": "jax DataParallel"}
_numbers = itertools.count(1)


def record(model="resnet50", backend="mxnet", package="mxnet-mkl", instance="C5.18xLarge",
           gpus=0, batch_size=32, data_format="channels_first", dataset="synthetic", speed=None,
           step_ms=None, epoch_seconds=None, status="ok", keras_version="2.1.5", loss=6.9,
           accuracy=0.001, error=None, epochs=3, phases=None, telemetry=None, memory=None,
           epoch_speeds=None, stability=None, energy=None, **config):
    """A record as the runner writes it, from record_shape.sample. Give `speed` (samples/s)
    or, as the RNN table does, `step_ms` and `epoch_seconds`; the other figures follow from them.
    samples.epochs holds a warm-up epoch and the measured ones, at `epoch_speeds`
    (samples/s; their count is the epochs measured) or, by default, within 2% of the
    speed; `stability` is metrics.stability (default none, as before the verdict);
    `energy` is metrics.energy (default absent, as before energy was measured).
    The device fields follow from `gpus` (or config's cpu_devices) unless given;
    `phases` maps some of the phase names to seconds."""
    number = next(_numbers)
    run_id = "run%08d" % number
    steps = 20
    spec = {"model": model, "backend": backend, "dataset": dataset, "data_dir": None,
            "batch_size": batch_size, "epochs": epochs, "warmup": 1, "steps_per_epoch": steps,
            "method": "fit", "inference": False, "data_format": data_format, "gpus": gpus,
            "precision": "float32", "seed": 1234, "out": "results", "instance": instance,
            "run_id": run_id, "resnet_version": 1, "resnet_layers": 20, "image_size": 224,
            "per_device_batch": False, "cpu_devices": 1, "profile": False,
            "telemetry_interval": 0.5, "repeat": 1, "repeat_index": None, "repeat_group": None}
    spec.update(config)
    devices = spec.setdefault("devices", gpus or spec["cpu_devices"])
    spec.setdefault("global_batch_size",
                    batch_size * devices if spec["per_device_batch"] else batch_size)
    spec.setdefault("device_batch_size", spec["global_batch_size"] // devices)
    spec.setdefault("device_kind", "gpu" if gpus else "cpu")
    spec.setdefault("parallel", PARALLEL[backend] if devices > 1 else None)
    result = record_shape.sample(status)  # every field a record of its status needs
    result.update(
        run_id=run_id, command=["python", "-m", "harness", model], config=spec,
        asked=schema.asked_of(spec), metrics=None, samples=None, profile=None, workload=None,
        started_at="2026-03-01T10:%02d:%02d.%06d+00:00" % (number // 60 % 60, number % 60, number),
        finished_at="2026-03-01T11:00:00+00:00",
        environment={"keras_version": keras_version, "backend": backend,
                     "backend_version": BACKEND_VERSIONS[backend], "backend_package": package,
                     "python": "3.6.9", "platform": "Linux", "cpu_model": "Intel Xeon Platinum",
                     "cpu_cores": 72, "memory_bytes": 144 << 30, "gpus": [], "cuda": None,
                     "cudnn": None, "image": None, "git_commit": "0" * 40,
                     "packages": {package: BACKEND_VERSIONS[backend], "keras": keras_version}})
    if status == "ok":
        step_ms = step_ms or 1000.0 * batch_size / speed
        speed = speed or 1000.0 * batch_size / step_ms
        epoch_seconds = epoch_seconds or steps * step_ms / 1000.0
        unit = "sequences" if model == "lstm" else "images"
        if epoch_speeds is not None:
            epochs = len(epoch_speeds)
        else:
            epoch_speeds = [speed * (1 + 0.02 * (i - (epochs - 1) / 2.0)) for i in range(epochs)]
        samples = steps * batch_size  # per epoch
        result["samples"] = {"telemetry": None, "epochs": [
            {"seconds": samples / s, "steps": steps, "samples": samples, "step_seconds": [],
             "step_samples": []} for s in [speed / 3.0] + list(epoch_speeds)]}
        throughput = dict(median=speed, mean=speed, min=0.9 * speed, max=1.1 * speed,
                          stdev=0.05 * speed, n=steps * epochs, overall=0.98 * speed)
        result["metrics"] = {
            "unit": unit, "throughput": throughput,
            "step_ms": dict(median=step_ms, mean=step_ms, min=0.9 * step_ms, max=1.1 * step_ms,
                            stdev=0.05 * step_ms, n=steps * epochs),
            "measured": {"epochs": epochs, "steps": steps * epochs,
                         "samples": steps * epochs * batch_size, "seconds": epochs * epoch_seconds},
            "warmup": {"epochs": 1, "steps": steps, "samples": steps * batch_size,
                       "seconds": 3 * epoch_seconds, "first_epoch_s": 3 * epoch_seconds,
                       "first_step_s": 2.5},
            "loss": loss, "accuracy": accuracy,
            "phases": {name: (phases or {}).get(name) for name in labels.PHASES},
            "telemetry": telemetry, "memory": memory, "stability": stability,
            "evaluation": None if loss is None else {"loss": loss, "accuracy": accuracy}}
        if energy is not None:
            result["metrics"]["energy"] = energy
        result["error"] = None
    elif error:
        result["error"] = error
    return result


def gpu_telemetry(*devices):
    """metrics.telemetry with one GPU per (util %, memory MiB) mean of `devices` (peaks a
    little above), or NVML unavailable when none are given."""
    gpus = [{"index": index, "name": "NVIDIA H100 80GB HBM3", "memory_total_mb": 81559.0,
             "util_percent": {"mean": util, "peak": min(100.0, util + 10)},
             "memory_used_mb": {"mean": memory * 0.9, "peak": memory},
             "power_w": {"mean": 300.0, "peak": 420.0}}
            for index, (util, memory) in enumerate(devices)]
    return {"interval_s": 0.5, "count": 40,
            "host": {"cpu_percent": {"mean": 99.0, "peak": 120.0},
                     "system_cpu_percent": None, "rss_mb": {"mean": 2100.0, "peak": 2400.0}},
            "gpu": {"available": bool(gpus), "reason": None if gpus else "the run uses no GPU",
                    "devices": gpus}}


def write(folder, *records):
    for one in records:
        schema.write(one, str(folder))
    return str(folder)


def run(folder, *options):
    """The collector's main in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        status = collect_cli.main([str(folder)] + list(options))
    finally:
        sys.stdout, sys.stderr = saved
    return status, out.getvalue(), err.getvalue()


def seed_rnn_records():
    """The seed README's LSTM runs: MXNet, batch 128, on C5.xLarge and P3.8xLarge."""
    return [record("lstm", "mxnet", "mxnet-mkl" if gpus == 0 else "mxnet-cu90",
                   "C5.xLarge" if gpus == 0 else "P3.8xLarge", gpus, 128, "channels_last",
                   dataset, step_ms=step_ms, epoch_seconds=seconds, loss=3.1, accuracy=0.15)
            for dataset, gpus, seconds, step_ms in (
                ("synthetic", 0, 91.2, 2.04), ("synthetic", 1, 12.8, 0.2638),
                ("synthetic", 4, 12.1, 0.241), ("nietzsche", 0, 352.4, 2.0),
                ("nietzsche", 1, 53, 0.265), ("nietzsche", 4, 47, 0.2355),
                ("wikitext2", 0, 6410, 1.97), ("wikitext2", 1, 882, 0.264),
                ("wikitext2", 4, 794, 0.235))]


def rapl(joules_per_sample):
    """metrics.energy as harness.energy writes it, from one CPU package's RAPL counter."""
    return {"source": "rapl", "joules": 600 * joules_per_sample, "watts_mean": 40.0,
            "joules_per_sample": joules_per_sample, "epoch_joules": [200.0] * 3,
            "devices": [{"name": "package-0", "kind": "cpu", "source": "rapl", "wraps": 1,
                         "resets": 0, "range_j": 262143.33, "joules": 600 * joules_per_sample,
                         "watts_mean": 40.0, "joules_per_sample": joules_per_sample}],
            "unmeasured": ["GPU: no GPU used"]}


# A job of several processes, as small: the multi-node and Slurm tests'.
TINY_JOB = ["--gpus", 0, "--epochs", 1, "--warmup", 1, "--steps-per-epoch", 3, "--batch-size", 8]
TINY = ["--epochs", 2, "--warmup", 1, "--steps-per-epoch", 3, "--batch-size", 4]


def tiny_run(tmp_path, model, backend, *extra):
    out = tmp_path / "out"
    proc = harness(model, "--backend", backend, "--out", out, *(TINY + list(extra)))
    record = only_result(out, proc)
    assert record["status"] == "ok", record["error"]
    assert proc.returncode == 0
    return record


def assert_counts_add_up(record, steps=3, batch=4, epochs=2, warmup=1):
    metrics = record["metrics"]
    assert metrics["measured"]["steps"] == steps * epochs
    assert metrics["measured"]["samples"] == steps * epochs * batch  # counted once, not rescaled
    assert metrics["warmup"]["steps"] == steps * warmup
    assert metrics["throughput"]["n"] == epochs
    assert metrics["throughput"]["median"] > 0 and metrics["step_ms"]["median"] > 0
    raw = record["samples"]["epochs"]
    assert len(raw) == epochs + warmup and all(len(e["step_seconds"]) == steps for e in raw)
    # the steps of an epoch account for (nearly) all of it, the warm-up for none of the speed
    for epoch in raw:
        assert sum(epoch["step_seconds"]) <= epoch["seconds"] * 1.0001
    measured_seconds = sum(e["seconds"] for e in raw[warmup:])
    assert metrics["throughput"]["overall"] == pytest.approx(steps * epochs * batch / measured_seconds)


def stop_mid_run(out, backend, signum, *extra, python=sys.executable):
    """Start a long mlp run, signal it once it is measuring, and return the finished process."""
    args = [python, "-m", "harness", "mlp", "--backend", backend, "--out", out,
            "--epochs", 1000, "--steps-per-epoch", 50] + list(extra)
    child = subprocess.Popen([str(a) for a in args], cwd=REPO, stderr=subprocess.PIPE,
                             universal_newlines=True)
    for line in child.stderr:  # wait until it is really training (or predicting)
        if "(measured)" in line:
            break
    child.send_signal(signum)
    child.communicate(timeout=120)
    return child


def assert_stopped_at_a_step_end(out, backend, *mode, python=sys.executable):
    child = stop_mid_run(out, backend, signal.SIGTERM, *mode, python=python)
    record = only_result(out, child)
    assert record["status"] == "interrupted"
    # stopped by the loop itself, not by the watchdog that writes the file if no step ends
    assert (record["error"]["type"], record["error"]["message"]) == \
        ("StopRequested", "stopped by signal %d" % signal.SIGTERM)
    assert_keeps_its_finished_epochs(record)
    assert child.returncode == 1
    mode_bits = os.stat(glob.glob(str(out / "*.json"))[0]).st_mode & 0o777
    assert mode_bits == 0o666 & ~current_umask()  # readable by others under the usual 022


def assert_keeps_its_finished_epochs(record):
    """Stopped after a measured epoch (stop_mid_run): its samples and their statistics
    stay, marked partial, and the record says where it stopped."""
    finished = [e for e in record["samples"]["epochs"] if e["seconds"] is not None]
    warmup = record["config"]["warmup"]
    assert len(finished) > warmup and record["error"]["epochs_finished"] == len(finished)
    assert record["error"]["phase"] == "measurement"
    metrics = record["metrics"]
    assert metrics["partial"] is True and metrics["throughput"]["n"] == len(finished) - warmup
    assert metrics["measured"]["steps"] == sum(e["steps"] for e in finished[warmup:])
    assert metrics["phases"]["data_s"] > 0


def current_umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def ok_record(run_id="r1"):
    """A small 'ok' record of an mlp run on JAX, as schema.new_record starts it."""
    record = schema.new_record({"model": "mlp", "backend": "jax"}, ["python", "-m", "harness"], run_id)
    epochs = [{"seconds": 1.0, "steps": 2, "samples": 8, "step_seconds": [0.5, 0.5],
               "step_samples": [4, 4]}] * 2
    record.update(status="ok", finished_at=schema.now(), metrics=timing.summarize(epochs, 1, "images"))
    return record


class FakeNvml(object):
    """pynvml's functions the sampler calls, over scripted GPUs: each reading is
    the next of its series (the last one repeats)."""

    class NVMLError(Exception):
        pass

    def __init__(self, gpus, fail_init=None):
        # [{"uuid", "name", "total_mib", "util": [...], "used_mib": [...], "power_mw": [...] or None,
        #   "energy_mj": [...] (absent or None: no energy counter)}]
        self.gpus = gpus
        self.fail_init = fail_init
        self.calls = {}
        self.initialized = False

    def _next(self, index, series):
        key = (index, series)
        n = self.calls.get(key, 0)
        self.calls[key] = n + 1
        values = self.gpus[index][series]
        return values[min(n, len(values) - 1)]

    def nvmlInit(self):
        if self.fail_init:
            raise self.NVMLError(self.fail_init)
        self.initialized = True

    def nvmlShutdown(self):
        self.initialized = False

    def nvmlDeviceGetCount(self):
        return len(self.gpus)

    def nvmlDeviceGetHandleByIndex(self, index):
        return index

    def nvmlDeviceGetUUID(self, handle):
        return self.gpus[handle]["uuid"]

    def nvmlDeviceGetName(self, handle):
        return self.gpus[handle]["name"]

    def nvmlDeviceGetUtilizationRates(self, handle):
        return Reading(gpu=self._next(handle, "util"))

    def nvmlDeviceGetMemoryInfo(self, handle):
        return MemoryReading(self, handle)

    def nvmlDeviceGetPowerUsage(self, handle):
        if self.gpus[handle]["power_mw"] is None:
            raise self.NVMLError("Not Supported")
        return self._next(handle, "power_mw")

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        """Millijoules since the driver loaded (Volta and later; harness.energy reads it)."""
        if self.gpus[handle].get("energy_mj") is None:
            raise self.NVMLError("Not Supported")
        return self._next(handle, "energy_mj")


class Reading(object):
    def __init__(self, **values):
        self.__dict__.update(values)


class MemoryReading(object):
    """nvmlDeviceGetMemoryInfo's answer: `used` advances its series only when read,
    so that the sampler reading `total` alone when it starts takes no sample."""

    def __init__(self, nvml, handle):
        self._nvml = nvml
        self._handle = handle
        self.total = nvml.gpus[handle]["total_mib"] * 2 ** 20

    @property
    def used(self):
        return self._nvml._next(self._handle, "used_mib") * 2 ** 20
