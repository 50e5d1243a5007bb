"""Real runs of real backends, tiny sizes: every workload, method and data format writes a
valid result whose counts add up; failures, interrupts and sweeps leave the right files."""
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import INSTALLED_BACKENDS, REPO, SHARED_RUNS, harness, only_result, results
from harness import schema, significance, sweep
from helpers import (TINY, assert_counts_add_up, assert_stopped_at_a_step_end, stop_mid_run,
                     tiny_run)


WORKLOADS = {
    "mlp": [],
    "cnn": [],
    "lstm": [],
    "resnet": ["--version", 1, "--layers", 20],
    "resnet50": ["--image-size", 32],
    "vgg16": ["--image-size", 32],
}


@SHARED_RUNS
@pytest.mark.parametrize("model", sorted(WORKLOADS))
def test_each_workload_trains_on_each_backend(shared_run, backend, model):
    record = shared_run(model, backend, *(TINY + WORKLOADS[model]))
    assert_counts_add_up(record)
    config, env = record["config"], record["environment"]
    assert (config["model"], config["backend"], config["gpus"]) == (model, backend, 0)
    assert config["resnet_layers"] == (20 if model == "resnet" else None)
    assert config["parameters"] > 0
    assert record["metrics"]["loss"] > 0 and record["metrics"]["diverged"] is False
    assert 0.0 <= record["metrics"]["accuracy"] <= 1.0
    assert env["backend"] == backend and env["keras_version"].startswith("3.")
    assert env["backend_package"] in {"tensorflow": ("tensorflow", "tensorflow-cpu"),
                                      "jax": ("jax",), "torch": ("torch",)}[backend]
    assert env["backend_version"] and env["packages"]["keras"] == env["keras_version"]
    assert env["env_vars"]["KERAS_BACKEND"] == backend
    # Seeded without Keras's set_random_seed, which imports TensorFlow on every backend
    assert ("tensorflow" in env["frameworks_loaded"]) == (backend == "tensorflow")
    assert record["command"][:4] == ["python", "-m", "harness", model]


# Training with fit is every workload's test above.
@pytest.mark.parametrize("method, inference", [
    ("train_on_batch", False), ("generator", False),
    ("fit", True), ("train_on_batch", True), ("generator", True)])
def test_each_method_trains_and_predicts(tmp_path, backend, method, inference):
    record = tiny_run(tmp_path, "mlp", backend, "--method", method,
                      *(["--inference"] if inference else []))
    assert_counts_add_up(record)
    assert (record["config"]["method"], record["config"]["inference"]) == (method, inference)
    if inference:
        assert record["metrics"]["loss"] is None  # predict has no loss
    else:
        assert record["metrics"]["loss"] > 0


# TensorFlow turns oneDNN on by default only on CPUs with these (tensorflow/core/util/util.cc).
ONEDNN_CPU_FLAGS = {"avx512_vnni", "avx512_bf16", "avx_vnni", "amx_tile", "amx_int8", "amx_bf16"}


def tensorflow_runs_nchw_here(env):
    """What this CPU calls for, read from the CPU itself rather than from TensorFlow."""
    forced = env.get("TF_ENABLE_ONEDNN_OPTS", os.environ.get("TF_ENABLE_ONEDNN_OPTS"))
    if forced in ("0", "1"):
        return forced == "1"
    with open("/proc/cpuinfo") as f:
        flags = set(next(line for line in f if line.startswith("flags")).split(":")[1].split())
    return bool(flags & ONEDNN_CPU_FLAGS)


@pytest.mark.parametrize("backend, data_format, env", [
    (backend, data_format, {}) for backend in INSTALLED_BACKENDS
    for data_format in ("channels_first", "channels_last")] + [
    ("tensorflow", "channels_first", {"TF_ENABLE_ONEDNN_OPTS": "0"})  # the AMD case, on any CPU
    for backend in INSTALLED_BACKENDS if backend == "tensorflow"])
def test_both_data_formats_run(tmp_path, backend, data_format, env):
    out = tmp_path / "out"
    proc = harness("resnet", "--backend", backend, "--version", 2, "--data-format", data_format,
                   "--out", out, *TINY, env=env)
    record = only_result(out, proc)
    assert proc.returncode == 0 and record["config"]["data_format"] == data_format
    if backend == "tensorflow" and data_format == "channels_first" \
            and not tensorflow_runs_nchw_here(env):
        # decided before training, and a skip, not an error
        assert record["status"] == "skipped" and record["metrics"] is None, record["error"]
        assert "need oneDNN" in record["error"]["message"]
        assert record["environment"]["onednn"] is False
        return
    assert record["status"] == "ok", record["error"]
    assert_counts_add_up(record)


@pytest.mark.parametrize("method, inference", [("fit", False), ("train_on_batch", False),
                                               ("fit", True)])
def test_short_runs_are_extended_to_the_minimums(tmp_path, method, inference):
    backend = INSTALLED_BACKENDS[0]
    record = tiny_run(tmp_path / "steps", "mlp", backend, "--method", method, "--min-steps", 10,
                      *(["--inference"] if inference else []))
    measured = record["metrics"]["measured"]
    assert measured["steps"] == 12 and measured["epochs"] == 4  # 3-step epochs until >= 10
    assert_counts_add_up(record, epochs=4)
    record = tiny_run(tmp_path / "seconds", "mlp", backend, "--method", method,
                      "--min-seconds", 1.5, *(["--inference"] if inference else []))
    measured = record["metrics"]["measured"]
    assert measured["seconds"] >= 1.5 and measured["epochs"] > 2
    assert len(record["samples"]["epochs"]) == measured["epochs"] + 1  # nothing run past the plan


def test_mixed_precision_trains(tmp_path, backend):
    record = tiny_run(tmp_path, "cnn", backend, "--precision", "mixed_bfloat16")
    assert record["config"]["precision"] == "mixed_bfloat16"
    assert record["environment"]["dtype_policy"] == "mixed_bfloat16"  # in effect, not only asked
    assert record["metrics"]["diverged"] is False and record["metrics"]["loss"] > 0
    assert_counts_add_up(record)


@SHARED_RUNS
def test_every_backend_is_fed_the_same_bytes(shared_run):
    """Synthetic data come from the seed alone, so backends are compared on equal inputs."""
    prints = {shared_run("cnn", b, *TINY)["config"]["data_fingerprint"] for b in INSTALLED_BACKENDS}
    assert len(prints) == 1
    other_seed = shared_run("cnn", INSTALLED_BACKENDS[0], *(TINY + ["--seed", 99]))
    assert other_seed["config"]["data_fingerprint"] not in prints


def test_a_run_that_raises_writes_an_error_result(tmp_path, backend):
    out = tmp_path / "out"
    proc = harness("mlp", "--backend", backend, "--dataset", "mnist", "--data-dir", tmp_path / "empty",
                   "--out", out, *TINY)
    record = only_result(out, proc)
    assert proc.returncode == 1
    assert record["status"] == "error" and record["metrics"] is None
    assert "mnist.npz" in record["error"]["message"] and "Traceback" in record["error"]["traceback"]
    assert record["environment"]["backend"] == backend  # the framework still described itself


def test_more_gpus_than_visible_is_a_usage_error(tmp_path, backend):
    out = tmp_path / "out"
    proc = harness("mlp", "--backend", backend, "--gpus", 1, "--out", out, *TINY)
    assert proc.returncode == 2
    assert "--gpus 1 asked, but %s sees 0 GPU(s)" % backend in proc.stderr.strip().splitlines()[-1]
    assert not out.exists()


# Every loop the runner has, in both timing modes: Keras's fit (per step, per epoch),
# train_on_batch, a generator timed per epoch, and predict.
STOP_MODES = [[], ["--timing", "epoch"], ["--method", "train_on_batch"],
              ["--method", "generator", "--timing", "epoch"], ["--inference"]]


@pytest.mark.parametrize("mode", STOP_MODES, ids=lambda mode: "-".join(mode).strip("-") or "fit")
def test_sigterm_mid_run_stops_at_a_step_end_with_an_interrupted_result(tmp_path, backend, mode):
    """A flag the loops check, not an exception raised wherever the main thread is: Keras 3
    on JAX swallowed that one in pythonify_logs, and ran on until `docker stop` killed it."""
    assert_stopped_at_a_step_end(tmp_path / "out", backend, *mode)


def test_ctrl_c_stops_a_run_too(tmp_path):
    child = stop_mid_run(tmp_path / "out", "jax", signal.SIGINT, "--timing", "epoch")
    record = only_result(tmp_path / "out", child)
    assert record["status"] == "interrupted"
    assert record["error"]["message"] == "stopped by signal %d" % signal.SIGINT


def test_sweep_runs_each_backend_in_its_own_process(tmp_path):
    out = tmp_path / "out"
    proc = harness("sweep", "--models", "mlp,lstm", "--out", out, *TINY)
    assert proc.returncode == 0, proc.stderr
    records = results(out)
    assert sorted((r["config"]["model"], r["config"]["backend"]) for r in records) == \
        sorted((m, b) for m in ("mlp", "lstm") for b in INSTALLED_BACKENDS)
    assert len({r["environment"]["env_vars"]["KERAS_BACKEND"] for r in records}) == len(INSTALLED_BACKENDS)
    table, notes = proc.stdout.split("\n\n")  # the table, then its footnotes
    table = table.splitlines()
    assert table[0].split()[:5] == ["model", "backend", "status", "processes", "samples/s"]
    assert len(table) == 2 + len(records)
    assert all(" ok " in line for line in table[2:])
    assert significance.TEST in notes and "untested: 1 process a side" in table[3]
    # and it ends by saying where its HTML report is
    assert proc.stderr.rstrip().endswith("report: %s" % (out / "report.html"))
    assert "Backend Comparison" in (out / "report.html").read_text()


def test_sweep_records_a_run_whose_process_died(tmp_path, monkeypatch):
    """A run killed outright (the kernel's out-of-memory killer) still leaves an error result."""
    suicide = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]
    monkeypatch.setattr(sweep, "child_command", lambda *args: suicide)
    record = sweep.run_one("mlp", "jax", {"batch_size": 4}, str(tmp_path), timeout=None)
    assert record["status"] == "error" and "killed by signal 9" in record["error"]["message"]
    assert results(tmp_path) == [record]


def test_sweep_timeout_stops_a_run_and_keeps_its_result(tmp_path):
    start = time.time()
    record = sweep.run_one("mlp", INSTALLED_BACKENDS[0], {"epochs": 1000, "out": str(tmp_path)},
                           str(tmp_path), timeout=20)
    assert time.time() - start < 120
    assert record["status"] == "interrupted"
    assert record["error"]["message"].startswith(
        "stopped by signal %d at the sweep's --timeout" % signal.SIGTERM)
    assert [r["run_id"] for r in results(tmp_path)] == [record["run_id"]]
    assert schema.read(os.path.join(str(tmp_path), schema.file_name(record)))


@pytest.mark.parametrize("method", ["fit", "generator", "train_on_batch"])
def test_epoch_timing_counts_steps_without_timing_each(tmp_path, backend, method):
    """--timing epoch (the default on GPUs): no measured step waits for the device; every
    step and sample is still counted, and the epochs' clock readings make the speed. The
    warm-up, not counted, is timed step by step: its pace sets the epochs' length."""
    record = tiny_run(tmp_path, "mlp", backend, "--timing", "epoch", "--method", method)
    assert record["config"]["timing"] == "epoch"
    metrics, raw = record["metrics"], record["samples"]["epochs"]
    assert len(raw[0]["step_seconds"]) == 3
    assert [(e["steps"], e["samples"], e["step_seconds"]) for e in raw[1:]] == [(3, 12, [])] * 2
    assert metrics["measured"]["samples"] == 24 and metrics["step_ms"]["source"] == "epoch means"
    assert metrics["throughput"]["overall"] == pytest.approx(24 / sum(e["seconds"] for e in raw[1:]))


@SHARED_RUNS
def test_cpu_runs_time_every_step_by_default_and_epoch_timing_is_for_training(shared_run, tmp_path):
    record = shared_run("mlp", "jax", *TINY)
    assert record["config"]["timing"] == "step" and record["metrics"]["step_ms"]["source"] == "steps"
    proc = harness("mlp", "--backend", "jax", "--timing", "epoch", "--inference", "--out", tmp_path)
    assert proc.returncode == 2 and "inference is timed per step" in proc.stderr


# Trains 5 steps with the harness's step callback, and says from which threads the
# Recorder was told of each step's end and of the epoch's.
STEP_THREADS = """
import os, sys, threading
os.environ["KERAS_BACKEND"] = sys.argv[1]
import keras, numpy
from harness import timing
from harness.backends import common
threads = []
recorder = timing.Recorder(lambda outputs: threads.append(threading.current_thread().name),
                           timing.Plan(0, 1, 0, 0))
model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2, activation="softmax")])
model.compile(optimizer="sgd", loss="categorical_crossentropy")
x, y = numpy.ones((20, 4), "float32"), numpy.eye(2, dtype="float32")[[0, 1] * 10]
model.fit(x, y, batch_size=4, epochs=1, verbose=0,
          callbacks=[common.timing_callback(keras, recorder, lambda step: 4, 5)])
(epoch,) = recorder.epochs
print(epoch["steps"], len(epoch["step_seconds"]), epoch["samples"],
      sum(epoch["step_seconds"]) <= epoch["seconds"], threads[0], threads[-1],
      sorted(set(threads[1:-1])) != ["MainThread"])
"""


def test_keras_runs_the_step_callback_beside_its_loop_where_the_backend_allows(backend):
    """The step hook is async_safe: on JAX and PyTorch Keras 3 calls it from its worker
    thread, so the loop queues the next step without waiting (TensorFlow's Keras calls
    every hook in the main thread); each step is counted, before the epoch ends."""
    proc = subprocess.run([sys.executable, "-c", STEP_THREADS, backend], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    steps, timed, samples, within, first, last, beside = proc.stdout.split()
    assert (steps, timed, samples, within) == ("5", "5", "20", "True")
    assert (first, last) == ("MainThread", "MainThread")  # the epoch's beginning and end
    assert beside == str(backend != "tensorflow")
