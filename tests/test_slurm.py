"""The Slurm recipes (recipes/slurm/) submitted as they are to a real Slurm.

slurm/local_cluster.py starts Debian's Slurm 22.05 for the session: a
controller and two compute nodes, node1 and node2, each in its own namespaces
(its own host name and processes) on this machine's files. The tests submit
each recipe with sbatch from the checkout, with the suite's virtual environment
first on PATH, as a user would from theirs: tiny mlp runs on CPUs. Every test
is in one xdist group: one worker, one cluster.
"""
import os
import subprocess
import sys
import time

import pytest

from conftest import REPO, results
from harness import cluster
from helpers import TINY_JOB

sys.path.insert(0, os.path.join(REPO, "slurm"))
import local_cluster  # noqa: E402

pytestmark = pytest.mark.xdist_group("slurm")

RECIPES = os.path.join(REPO, "recipes", "slurm")
NODES = list(local_cluster.NODES)
# A job that runs until it is stopped: short epochs, so that it measures soon.
LONG = ["--gpus", 0, "--epochs", 100000, "--warmup", 1, "--steps-per-epoch", 5,
        "--batch-size", 8]
# Seconds from a node's death to rank 0's result (5.4 s for JAX, 5.7 s for PyTorch here:
# the collective with the dead rank breaks at once, then rank 0 waits 5 s for a report).
LOST_NODE_RESULT_S = 30


@pytest.fixture(scope="module")
def slurm():
    started = time.time()
    slurm_cluster = local_cluster.Cluster().start()
    sys.stderr.write("Slurm started in %.1f s\n" % (time.time() - started))
    try:
        yield slurm_cluster
    finally:
        slurm_cluster.stop()


def submit(slurm, tmp_path, recipe, *args, options=(), output="slurm-%j.out"):
    """sbatch RECIPE ARGS from the checkout; returns (job id, its output file, %A and %j
    in its name replaced by the job's id)."""
    output = str(tmp_path / output)
    env = slurm.env(PATH=os.pathsep.join([os.path.dirname(sys.executable), os.environ["PATH"]]),
                    BENCH_OFFLINE="1", PYTHONUNBUFFERED="1", SWEEP_OUT=str(tmp_path / "sweep"))
    proc = subprocess.run(["sbatch", "--parsable", "--output", output] + list(options)
                          + [os.path.join(RECIPES, recipe)] + [str(a) for a in args],
                          cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    job = proc.stdout.strip().split(";")[0]
    return job, output.replace("%j", job).replace("%A", job)


def wait_for(slurm, job, timeout=300):
    """Until the job (every task of an array) has left the queue."""
    deadline = time.time() + timeout
    while slurm.command("squeue", "-h", "-j", job, check=False).stdout.strip():
        assert time.time() < deadline, slurm.command("squeue", "-j", job).stdout
        time.sleep(1)


def read(path):
    with open(path) as f:
        return f.read()


def wait_until_measuring(output, timeout=240):
    deadline = time.time() + timeout
    while not (os.path.exists(output) and "(measured)" in read(output)):
        assert time.time() < deadline, read(output) if os.path.exists(output) else "no output"
        time.sleep(0.5)


def only_record(out, output):
    records = results(out)
    assert len(records) == 1, "%d results; the job's output:\n%s" % (len(records), read(output))
    return records[0]


@pytest.mark.parametrize("recipe, backend, parallel", [
    ("jax-2node.sbatch", "jax", "keras.distribution.DataParallel"),
    ("torch-2node.sbatch", "torch", "torch DistributedDataParallel (gloo)")])
def test_a_two_node_job_leaves_one_result_with_every_rank_s_host(slurm, tmp_path, recipe,
                                                                 backend, parallel):
    out = tmp_path / "out"
    job, output = submit(slurm, tmp_path, recipe, "mlp", "--out", out, *TINY_JOB)
    wait_for(slurm, job)
    record = only_record(out, output)
    assert record["status"] == "ok", (record["error"], read(output))
    config = record["config"]
    assert (config["backend"], config["processes"], config["nodes"], config["launcher"],
            config["parallel"]) == (backend, 2, 2, "slurm", parallel)
    replicas = record["environment"]["replicas"]
    assert (replicas["host_per_rank"], replicas["node_per_rank"]) == (NODES, [0, 1])
    assert sum(replicas["samples_per_rank"]) == sum(e["samples"] for e in record["samples"]["epochs"])


def test_a_sweep_as_a_job_array_makes_one_machine_s_tables(slurm, tmp_path):
    job, output = submit(slurm, tmp_path, "sweep-array.sbatch", "--backends", "jax,torch",
                         "--models", "mlp", *TINY_JOB, options=["--array=0-1"],
                         output="slurm-%A_%a.out")
    wait_for(slurm, job)
    shards = tmp_path / "sweep"
    ran = [[r["config"]["backend"] for r in results(shards / str(k))] for k in range(2)]
    assert ran == [["jax"], ["torch"]], [read(output.replace("%a", str(k))) for k in range(2)]
    assert all(r["status"] == "ok" for k in range(2) for r in results(shards / str(k)))
    one = tmp_path / "one"
    one.mkdir()
    for k in range(2):  # the result files; each shard's report.html is its own page
        for path in (shards / str(k)).glob("*.json"):
            os.link(str(path), str(one / path.name))
    tables = [subprocess.run([sys.executable, os.path.join(REPO, "harness", "collect.py"),
                              str(folder)], stdout=subprocess.PIPE, universal_newlines=True,
                             check=True).stdout for folder in (shards, one)]
    assert tables[0] == tables[1] and "JAX" in tables[0] and "PyTorch" in tables[0]


def test_scancel_leaves_an_interrupted_result(slurm, tmp_path):
    out = tmp_path / "out"
    job, output = submit(slurm, tmp_path, "jax-2node.sbatch", "mlp", "--out", out, *LONG)
    wait_until_measuring(output)
    slurm.command("scancel", job)
    wait_for(slurm, job, timeout=120)
    record = only_record(out, output)
    assert record["status"] == "interrupted", (record["error"], read(output))
    # Rank 0 stopped at its step end, or its collective broke first, rank 1 gone on its
    # own signal (Slurm signals the nodes in turn).
    assert record["error"]["message"].startswith("stopped by signal 15"), record["error"]



@pytest.mark.parametrize("recipe", ["jax-2node.sbatch", "torch-2node.sbatch"])
def test_a_node_lost_mid_job_is_named_in_rank_0_s_result(slurm, tmp_path, recipe):
    """node2 dies (every process on it killed at once): rank 0 writes the job's result,
    naming the rank whose heartbeat stopped, within LOST_NODE_RESULT_S."""
    out = tmp_path / "out"
    job, output = submit(slurm, tmp_path, recipe, "mlp", "--out", out, *LONG)
    wait_until_measuring(output)
    lost = time.time()
    slurm.stop_node("node2")
    try:
        while not results(out) and time.time() < lost + LOST_NODE_RESULT_S:
            time.sleep(0.2)
        written = time.time() - lost
        sys.stderr.write("%s: rank 0's result %.1f s after node2 died\n" % (recipe, written))
        record = only_record(out, output)
        assert (record["status"], record["error"]["type"], record["error"]["message"]) == \
            ("error", "RankLost", "rank 1 on node2 lost: no heartbeat for %g s"
             % cluster.PEER_REPORT_WAIT_S), read(output)
        wait_for(slurm, job, timeout=120)  # once the controller has marked node2 down
    finally:
        slurm.start_node("node2")
        slurm.wait_up()
