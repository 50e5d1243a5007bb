"""Several devices, phases, telemetry and profiles, on real runs of each Keras 3 backend.

No GPU here: --cpu-devices N splits the CPU into N devices (JAX's forced host
devices, TensorFlow's logical CPUs, N PyTorch processes over gloo), which runs
the same data-parallel code as N GPUs.
"""
import os

import pytest

from conftest import SHARED_RUNS, harness, only_result
from helpers import TINY, assert_counts_add_up, assert_stopped_at_a_step_end

PARALLEL = {
    "jax": "keras.distribution.DataParallel",
    "tensorflow": "tf.distribute.MirroredStrategy",
    "torch": "torch DistributedDataParallel (gloo)",
}


def run_ok(tmp_path, *args):
    out = tmp_path / "out"
    proc = harness(*(list(args) + ["--out", out]))
    record = only_result(out, proc)
    assert record["status"] == "ok", record["error"]
    return record, out


@pytest.mark.parametrize("method", ["fit", "train_on_batch"])
def test_two_cpu_devices_train_data_parallel_and_count_samples_once(tmp_path, backend, method):
    record, _ = run_ok(tmp_path, "mlp", "--backend", backend, "--cpu-devices", 2,
                       "--method", method, *TINY[:-2] + ["--batch-size", 8])
    config = record["config"]
    assert (config["devices"], config["device_kind"], config["gpus"]) == (2, "cpu", 0)
    assert config["parallel"] == PARALLEL[backend]
    assert (config["global_batch_size"], config["device_batch_size"]) == (8, 4)
    assert_counts_add_up(record, batch=8)  # the global batch, once per step
    replicas = record["environment"]["replicas"]
    assert replicas["replicas"] == 2
    if backend == "torch":  # each process trained on its half of every batch
        assert replicas["samples_per_rank"] == [4 * 3 * 3, 4 * 3 * 3]
    else:  # the framework placed a copy of the weights on each device
        assert len(replicas["first_variable_on"]) == 2


def test_per_device_batch_multiplies_by_the_devices(tmp_path):
    record, _ = run_ok(tmp_path, "mlp", "--backend", "jax", "--cpu-devices", 2,
                       "--per-device-batch", *TINY)
    config = record["config"]
    assert (config["batch_size"], config["global_batch_size"], config["device_batch_size"]) == (4, 8, 4)
    assert_counts_add_up(record, batch=8)


def test_processes_stop_together_when_rank_0_decides(tmp_path):
    """--min-seconds is judged on rank 0's clock; every rank must stop after the same epoch."""
    record, _ = run_ok(tmp_path, "mlp", "--backend", "torch", "--cpu-devices", 2,
                       "--min-seconds", 0.3, *TINY)
    epochs = len(record["samples"]["epochs"])
    assert record["metrics"]["measured"]["seconds"] >= 0.3
    assert record["environment"]["replicas"]["samples_per_rank"] == [2 * 3 * epochs] * 2


def test_inference_on_two_devices(tmp_path, backend):
    record, _ = run_ok(tmp_path, "cnn", "--backend", backend, "--cpu-devices", 2, "--inference",
                       "--method", "train_on_batch", *TINY)
    assert_counts_add_up(record)
    assert record["metrics"]["evaluation"] is None and record["metrics"]["loss"] is None


@pytest.mark.parametrize("args, message", [
    (["--cpu-devices", 2, "--batch-size", 5], "a global batch of 5 does not split evenly over 2"),
    (["--cpu-devices", 2, "--gpus", 1], "cannot be mixed with --gpus"),
    (["--cpu-devices", 0], "--cpu-devices must be at least 1"),
])
def test_device_usage_errors_leave_no_file(tmp_path, args, message):
    out = tmp_path / "out"
    proc = harness("mlp", "--backend", "jax", "--out", out, *args)
    assert proc.returncode == 2 and message in proc.stderr
    assert not out.exists() or not os.listdir(str(out))


@SHARED_RUNS
def test_phases_account_for_the_run(shared_run, backend):
    record = shared_run("cnn", backend, *TINY)
    phases, metrics = record["metrics"]["phases"], record["metrics"]
    for name in ("import_s", "data_s", "build_s", "compile_s", "first_epoch_s", "warmup_s",
                 "steady_s", "evaluate_s"):
        assert phases[name] > 0, name
    assert phases["steady_s"] == metrics["measured"]["seconds"]
    parts = sum(phases[name] for name in ("import_s", "data_s", "build_s", "compile_s",
                                          "warmup_s", "steady_s", "evaluate_s"))
    assert parts <= phases["total_s"] < parts + 5  # the rest: set-up between phases
    assert phases["first_epoch_s"] == record["samples"]["epochs"][0]["seconds"]
    assert phases["import_s"] > phases["data_s"]  # a framework against a tiny data set
    assert metrics["evaluation"]["loss"] > 0 and 0 <= metrics["evaluation"]["accuracy"] <= 1


def test_telemetry_samples_the_host_and_says_why_there_is_no_gpu(tmp_path):
    record, _ = run_ok(tmp_path, "mlp", "--backend", "jax", "--telemetry-interval", 0.05,
                       *TINY[:-4] + ["--steps-per-epoch", 40, "--batch-size", 64])
    telemetry = record["metrics"]["telemetry"]
    assert telemetry["interval_s"] == 0.05 and telemetry["count"] >= 2
    assert telemetry["host"]["cpu_percent"]["peak"] > 0
    assert telemetry["host"]["rss_mb"]["peak"] > 100  # a framework is loaded
    assert telemetry["gpu"]["available"] is False and telemetry["gpu"]["reason"]
    assert len(record["samples"]["telemetry"]) == telemetry["count"]
    assert record["metrics"]["memory"] is None  # no device counter on the CPU


def test_telemetry_interval_0_turns_the_sampler_off(tmp_path):
    record, _ = run_ok(tmp_path, "mlp", "--backend", "jax", "--telemetry-interval", 0, *TINY)
    assert record["metrics"]["telemetry"] is None and record["samples"]["telemetry"] is None


def test_profile_writes_the_framework_trace_beside_the_result(tmp_path, backend):
    record, out = run_ok(tmp_path, "mlp", "--backend", backend, "--profile", *TINY)
    assert record["config"]["profile"] is True
    folder = out / record["profile"]["path"]
    files = [os.path.join(root, f) for root, _, names in os.walk(str(folder)) for f in names]
    assert files and all(os.path.getsize(f) > 0 for f in files), files
    assert backend in record["profile"]["tool"]


def test_sigterm_stops_every_pytorch_process_at_a_step_end(tmp_path):
    """Rank 0 leaves mid-epoch; its workers, left waiting in a collective, are ended with it."""
    assert_stopped_at_a_step_end(tmp_path / "out", "torch", "--cpu-devices", 2)
