"""Jobs of several processes on this one machine, standing in for several nodes: two
launcher invocations over the loopback address, CPU devices. Each test names the variables
a real launcher or scheduler would set (torchrun, Keras, Slurm, Kubernetes, TF_CONFIG).
"""
import glob
import json
import os
import shutil
import socket
import subprocess
import signal
import sys
import time

import numpy as np
import pytest

from conftest import REPO, harness, only_result, results
from helpers import TINY_JOB

STEP_SAMPLES = 8  # the global batch, each step: two ranks of 4


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_job(out, backend, environs, args=(), torchrun=False):
    """One process per environment, all at once (each a "node"); returns the finished ones."""
    procs = []
    for rank, environ in enumerate(environs):
        command = [sys.executable, "-m", "harness"]
        if torchrun:
            command = [os.path.join(os.path.dirname(sys.executable), "torchrun"), "--nnodes", 2,
                       "--nproc-per-node", 1, "--rdzv-backend", "c10d", "--rdzv-endpoint",
                       "127.0.0.1:%d" % torchrun, "--rdzv-id", "test", "-m", "harness"]
        command += ["mlp", "--backend", backend, "--out", out] + list(TINY_JOB) + list(args[rank])
        env = dict(os.environ, BENCH_OFFLINE="1", PYTHONUNBUFFERED="1", **environ)
        # Into files, not pipes: a rank blocked on a full pipe would stall its peers.
        log = open(os.path.join(str(out) + ".rank%d.log" % rank), "w+")
        procs.append((subprocess.Popen([str(c) for c in command], cwd=REPO, env=env,
                                       stdout=log, stderr=subprocess.STDOUT), log))
    finished = []
    for proc, log in procs:
        proc.wait(timeout=300)
        log.seek(0)
        finished.append(subprocess.CompletedProcess(proc.args, proc.returncode, None, log.read()))
        log.close()
    return finished


def keras_ranks(count=2):
    port = free_port()
    return [{"KERAS_DISTRIBUTION_JOB_ADDRESSES": "127.0.0.1:%d" % port,
             "KERAS_DISTRIBUTION_NUM_PROCESSES": str(count),
             "KERAS_DISTRIBUTION_PROCESS_ID": str(rank)} for rank in range(count)]


def slurm_ranks():
    """srun's variables (the job's nodes are named localhost and 127.0.0.1 here), and the
    port the sbatch script exports."""
    port = free_port()
    return [{"SLURM_PROCID": str(rank), "SLURM_NTASKS": "2", "SLURM_NODEID": str(rank),
             "SLURM_LOCALID": "0", "SLURM_JOB_NODELIST": "localhost,127.0.0.[1-1]",
             "MASTER_PORT": str(port)} for rank in range(2)]


def kubernetes_ranks():
    """An Indexed Job's pods: the index, and what the Job's manifest sets for all pods."""
    port = free_port()
    return [{"JOB_COMPLETION_INDEX": str(rank), "KERAS_DISTRIBUTION_NUM_PROCESSES": "2",
             "KERAS_DISTRIBUTION_JOB_ADDRESSES": "localhost:%d" % port} for rank in range(2)]


def job_result(out, procs):
    stderr = "\n".join(p.stderr[-3000:] for p in procs)
    record = only_result(out, procs[0] if glob.glob(str(out / "*.json")) else procs[-1])
    assert record["status"] == "ok", (record["error"], stderr)
    assert [p.returncode for p in procs] == [0, 0], stderr
    return record


def assert_two_node_job(record, launcher, parallel):
    config = record["config"]
    assert (config["processes"], config["nodes"], config["devices_per_process"],
            config["devices"], config["launcher"], config["parallel"]) == \
        (2, 2, 1, 2, launcher, parallel)
    assert (config["global_batch_size"], config["device_batch_size"]) == (8, 4)
    replicas = record["environment"]["replicas"]
    assert replicas["host_per_rank"] == [socket.gethostname()] * 2
    assert sorted(replicas["node_per_rank"]) == [0, 1]
    epochs = record["samples"]["epochs"]
    # Every rank fed its half of each global batch, once; the job counts the global batch.
    assert replicas["samples_per_rank"] == [4 * 3 * len(epochs)] * 2
    assert [e["samples"] for e in epochs] == [STEP_SAMPLES * 3] * len(epochs)
    assert sum(replicas["samples_per_rank"]) == sum(e["samples"] for e in epochs)
    measured = record["metrics"]["measured"]
    assert record["metrics"]["throughput"]["overall"] == \
        pytest.approx(measured["samples"] / measured["seconds"])


@pytest.mark.parametrize("ranks, launcher", [(keras_ranks, "KERAS_DISTRIBUTION"),
                                             (slurm_ranks, "slurm")])
def test_jax_two_nodes(tmp_path, ranks, launcher):
    out = tmp_path / "out"
    record = job_result(out, run_job(out, "jax", ranks(), [[], []]))
    assert_two_node_job(record, launcher, "keras.distribution.DataParallel")
    assert record["environment"]["replicas"]["first_variable_on"] == ["cpu:0", "cpu:2048"]


def test_pytorch_two_torchrun_nodes(tmp_path):
    out = tmp_path / "out"
    record = job_result(out, run_job(out, "torch", [{}, {}], [[], []], torchrun=free_port()))
    assert_two_node_job(record, "torchrun", "torch DistributedDataParallel (gloo)")


def test_pytorch_as_a_kubernetes_indexed_job(tmp_path):
    out = tmp_path / "out"
    record = job_result(out, run_job(out, "torch", kubernetes_ranks(), [[], []]))
    assert_two_node_job(record, "KERAS_DISTRIBUTION", "torch DistributedDataParallel (gloo)")


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_a_failing_rank_s_traceback_reaches_the_job_s_result(tmp_path, backend):
    """Rank 1's node lacks the data set: its traceback is in the file rank 0 writes."""
    data = tmp_path / "data"
    data.mkdir()
    rng = np.random.RandomState(0)
    np.savez_compressed(str(data / "mnist.npz"), x_train=rng.randint(0, 256, (64, 28, 28)),
                        y_train=np.arange(64) % 10, x_test=np.zeros((2, 28, 28)),
                        y_test=np.arange(2))
    out = tmp_path / "out"
    args = [["--dataset", "mnist", "--data-dir", where] for where in (data, tmp_path / "none")]
    procs = run_job(out, backend, keras_ranks(), args)
    record = only_result(out, procs[0])
    assert record["status"] == "error" and [p.returncode for p in procs] == [1, 1]
    assert record["error"]["type"] == "RankFailed"
    assert record["error"]["message"].startswith("rank 1 on %s: " % socket.gethostname())
    assert "mnist.npz is not in %s" % (tmp_path / "none") in record["error"]["message"]
    assert "Traceback" in record["error"]["traceback"]


def test_tensorflow_multi_worker_is_skipped_while_keras_fails_there(tmp_path):
    """keras-team/keras#20585: Keras 3's fit under MultiWorkerMirroredStrategy fails. The
    harness tries it and records the failure as skipped; when Keras fixes it, this fails."""
    workers = ["127.0.0.1:%d" % free_port() for _ in range(2)]
    environs = [{"TF_CONFIG": json.dumps({"cluster": {"worker": workers},
                                          "task": {"type": "worker", "index": i}})}
                for i in range(2)]
    out = tmp_path / "out"
    procs = run_job(out, "tensorflow", environs, [[], []])
    record = only_result(out, procs[0])
    assert record["status"] == "skipped", record["error"]
    assert "keras-team/keras#20585" in record["error"]["message"]
    assert record["config"]["parallel"] == "tf.distribute.MultiWorkerMirroredStrategy"
    assert [p.returncode for p in procs] == [0, 0]


def test_keras_2_and_native_backends_are_skipped_in_a_job(tmp_path):
    out = tmp_path / "out"
    proc = harness("mlp", "--backend", "native-jax", "--out", out, "--num-processes", 2,
                   "--process-id", 0, "--coordinator", "127.0.0.1:1", *TINY_JOB)
    record = only_result(out, proc)
    assert record["status"] == "skipped" and "trains in one process" in record["error"]["message"]


def test_sweep_shards_gathered_make_the_one_sweep_s_tables(tmp_path):
    """Two "machines" each run half of a sweep; the collector over their gathered folders
    renders what it renders over one folder holding every result."""
    shards = tmp_path / "gathered"
    for index in range(2):
        proc = harness("sweep", "--backends", "jax,torch", "--models", "mlp", "--shard",
                       "%d/2" % index, "--out", shards / ("machine%d" % index), *TINY_JOB)
        assert proc.returncode == 0, proc.stderr
    ran = [[r["config"]["backend"] for r in results(shards / ("machine%d" % i))] for i in range(2)]
    assert ran == [["jax"], ["torch"]]
    one = tmp_path / "one"
    one.mkdir()
    for path in glob.glob(str(shards / "*" / "*.json")):
        shutil.copy(path, str(one))
    tables = [subprocess.run([sys.executable, os.path.join(REPO, "harness", "collect.py"),
                              str(folder)], stdout=subprocess.PIPE, universal_newlines=True,
                             check=True).stdout for folder in (shards, one)]
    assert tables[0] == tables[1] and "JAX" in tables[0] and "PyTorch" in tables[0]


def test_sigterm_stops_every_rank_and_rank_0_writes_interrupted(tmp_path):
    """`docker stop` or `scancel` signals every rank: each stops at a step end, and the job
    leaves one interrupted result."""
    out = tmp_path / "out"
    procs = []
    for environ in keras_ranks():
        log = open(str(tmp_path / ("rank%s.log" % environ["KERAS_DISTRIBUTION_PROCESS_ID"])), "w+")
        command = [sys.executable, "-m", "harness", "mlp", "--backend", "jax", "--gpus", 0,
                   "--out", out, "--epochs", 1000, "--steps-per-epoch", 50, "--batch-size", 8]
        procs.append((subprocess.Popen([str(c) for c in command], cwd=REPO, stdout=log,
                                       stderr=subprocess.STDOUT, env=dict(os.environ, **environ)),
                      log))
    deadline = time.time() + 240
    while "(measured)" not in open(procs[0][1].name).read() and time.time() < deadline:
        time.sleep(0.2)
    for proc, _ in procs:
        proc.send_signal(signal.SIGTERM)
    codes = [proc.wait(timeout=120) for proc, _ in procs]
    record = only_result(out, subprocess.CompletedProcess([], 0, None, open(procs[0][1].name).read()))
    assert record["status"] == "interrupted"
    # stopped by the loop, not by the watchdog that writes the file when no step ends
    assert record["error"]["message"] == "stopped by signal %d" % signal.SIGTERM
    assert codes == [1, 1]
