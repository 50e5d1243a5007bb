"""Where a process stands in a job (harness.cluster), the sweep's shards, and the module graph:
no framework, no run."""
import ast
import glob
import os
import time

import pytest
from hypothesis import given, strategies as st

from conftest import REPO, harness
from harness import cluster, sweep
from harness.cluster import ClusterError, Place, describe, expand_nodelist
from harness.spec import make_spec


def test_one_process_without_any_launcher_variables():
    assert describe(environ={"HOME": "/root", "MASTER_ADDR": "127.0.0.1"}) == cluster.SINGLE


def test_torchrun_variables():
    place = describe(environ={"RANK": "3", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "GROUP_RANK": "1",
                              "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29400"})
    assert place == Place(3, 4, "10.0.0.1:29400", 1, 1, "torchrun")


def test_slurm_variables_take_the_first_host_of_a_compressed_list():
    environ = {"SLURM_PROCID": "5", "SLURM_NTASKS": "8", "SLURM_LOCALID": "1",
               "SLURM_NODEID": "2", "SLURM_JOB_NODELIST": "gpu[07-10,12],cpu1"}
    assert describe(environ=environ) == Place(5, 8, "gpu07:%d" % cluster.DEFAULT_PORT, 1, 2,
                                              "slurm")
    environ.update(SLURM_PROCID="3", MASTER_PORT="1234", SLURM_STEP_NUM_TASKS="4",
                   SLURM_STEP_NODELIST="gpu[08-09]")  # srun's own step wins over the job's
    assert describe(environ=environ) == Place(3, 4, "gpu08:1234", 1, 2, "slurm")


def test_kubernetes_index_is_the_rank_and_the_job_names_the_rest():
    environ = {"JOB_COMPLETION_INDEX": "2", "KERAS_DISTRIBUTION_NUM_PROCESSES": "3",
               "KERAS_DISTRIBUTION_JOB_ADDRESSES": "bench-0.bench:1234"}
    assert describe(environ=environ) == Place(2, 3, "bench-0.bench:1234", 0, 2,
                                              "KERAS_DISTRIBUTION")
    # A sweep's shard is an Indexed Job too: an index alone is one process.
    assert describe(environ={"JOB_COMPLETION_INDEX": "2"}) == cluster.SINGLE


def test_tf_config_and_options_first():
    environ = {"TF_CONFIG": '{"cluster": {"worker": ["a:1", "b:2"]}, '
                            '"task": {"type": "worker", "index": 1}}'}
    assert describe(environ=environ) == Place(1, 2, "a:1", 0, 1, "TF_CONFIG")
    spec = make_spec(model="mlp", backend="jax", process_id=0, num_processes=3,
                     coordinator="c:9")
    assert describe(spec, environ) == Place(0, 3, "c:9", 0, 0, "options")


@pytest.mark.parametrize("environ, message", [
    ({"RANK": "2", "WORLD_SIZE": "2", "MASTER_ADDR": "h"}, "this one's id is 2"),
    ({"KERAS_DISTRIBUTION_NUM_PROCESSES": "2", "KERAS_DISTRIBUTION_PROCESS_ID": "0"},
     "no coordinator address"),
    ({"SLURM_PROCID": "x", "SLURM_NTASKS": "2"}, "SLURM_PROCID='x' is not a whole number"),
    ({"TF_CONFIG": "{}"}, "TF_CONFIG is not a cluster"),
    ({"SLURM_PROCID": "0", "SLURM_NTASKS": "2", "SLURM_JOB_NODELIST": "n[1-"}, "host list"),
])
def test_impossible_jobs_are_usage_errors(environ, message):
    with pytest.raises(ClusterError, match=message.replace("[", r"\[")):
        describe(environ=environ)


def test_a_rank_beyond_the_count_is_exit_2_without_a_file(tmp_path):
    proc = harness("mlp", "--backend", "jax", "--num-processes", 2, "--process-id", 2,
                   "--coordinator", "127.0.0.1:1", "--out", tmp_path / "out")
    assert proc.returncode == 2 and "this one's id is 2" in proc.stderr
    assert not (tmp_path / "out").exists()


# --- Slurm's host lists ---

def test_nodelist_examples():
    assert expand_nodelist("node[01-03,7]") == ["node01", "node02", "node03", "node7"]
    assert expand_nodelist("a,b[1-2]-ib,c") == ["a", "b1-ib", "b2-ib", "c"]
    assert expand_nodelist("r[1-2]n[09-10]") == ["r1n09", "r1n10", "r2n09", "r2n10"]


NAMES = st.text("abcxyz-", min_size=1, max_size=6)
RANGES = st.lists(st.tuples(st.integers(0, 120), st.integers(0, 4), st.integers(1, 3)),
                  min_size=1, max_size=4)


@given(st.lists(st.tuples(NAMES, RANGES), min_size=1, max_size=4))
def test_nodelist_expands_what_it_compresses(groups):
    """node[a-b,c] with zero padding: every host once, in the order written."""
    text, expected = [], []
    for prefix, ranges in groups:
        items = []
        for start, extra, width in ranges:
            low, high = "%0*d" % (width, start), "%0*d" % (width, start + extra)
            items.append(low if not extra else "%s-%s" % (low, high))
            expected += [prefix + "%0*d" % (width, n) for n in range(start, start + extra + 1)]
        text.append("%s[%s]" % (prefix, ",".join(items)))
    assert expand_nodelist(",".join(text)) == expected


@given(st.lists(st.text("abcdefghij0123456789.-", min_size=1, max_size=12), min_size=1, max_size=6))
def test_nodelist_of_plain_names_is_those_names(hosts):
    assert expand_nodelist(",".join(hosts)) == hosts


# --- the sweep's shards ---

@given(st.lists(st.integers(), max_size=40, unique=True), st.integers(1, 9))
def test_shards_split_a_plan_without_overlap_or_loss(plan, count):
    shards = [sweep.shard(plan, index, count) for index in range(count)]
    assert sorted(x for s in shards for x in s) == sorted(plan)
    assert shards == [sweep.shard(list(plan), index, count) for index in range(count)]


@pytest.mark.parametrize("text", ["2/2", "1", "a/b", "0/0"])
def test_a_bad_shard_is_exit_2(tmp_path, text):
    proc = harness("sweep", "--backends", "jax", "--shard", text, "--out", tmp_path / "out")
    assert proc.returncode == 2 and "--shard %s" % text in proc.stderr


# --- the module graph ---

def _imports(path, modules):
    """The harness modules that module file `path` imports (lazily too)."""
    found = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("harness"):
            found.add(node.module)
            found.update("%s.%s" % (node.module, a.name) for a in node.names)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("harness"))
    return found & modules


def test_no_two_modules_import_each_other():
    paths = glob.glob(os.path.join(REPO, "harness", "**", "*.py"), recursive=True)
    names = {os.path.relpath(p, REPO)[:-3].replace(os.sep, ".").replace(".__init__", ""): p
             for p in paths}
    graph = {name: _imports(path, set(names)) - {name} for name, path in names.items()}
    cycles = sorted((a, b) for a in graph for b in graph[a] if a < b and a in graph.get(b, ()))
    assert cycles == []


# --- a failing job's report ---

class FakeJob:
    """A job of three ranks as rank 0's adapter sees it: rank 2's heartbeat moves, rank 1's
    stopped (its node gone), and no rank reports a failure."""

    rank = 0

    def __init__(self):
        self.reads = 0

    def heartbeats(self):
        self.reads += 1
        return [0, 7, 3 + self.reads]

    def peer_failures(self):
        return []

    def hosts(self):
        return ["node1", "node2", "node3"]


def test_rank_0_names_the_rank_whose_heartbeat_stopped(monkeypatch):
    monkeypatch.setattr(cluster, "PEER_REPORT_WAIT_S", 0.3)
    record = {"error": {"type": "RuntimeError", "message": "gloo: connection reset",
                        "traceback": "Traceback: gloo"}}
    cluster.report_failure(record, FakeJob())
    assert record["error"] == {"type": "RankLost",
                               "message": "rank 1 on node2 lost: no heartbeat for 0.3 s",
                               "traceback": "rank 0 then: Traceback: gloo"}


def test_rank_0_stopping_meanwhile_waits_no_longer_and_names_no_rank(monkeypatch):
    """scancel signals the nodes in turn: rank 1 stopped first and broke rank 0's
    collective; rank 0's own signal ends the wait, and the failure stays rank 0's own."""
    monkeypatch.setattr(cluster, "PEER_REPORT_WAIT_S", 60)
    error = {"type": "RuntimeError", "message": "gloo: connection closed", "traceback": "T"}
    record = {"error": dict(error)}
    started = time.time()
    cluster.report_failure(record, FakeJob(), stopped=lambda: True)
    assert record["error"] == error and time.time() - started < 5
