"""--repeat N: N real runs of one configuration, each in its own process and result file,
tied by one group id; a repeat killed outright still leaves its result."""
import sys

import pytest

from conftest import INSTALLED_BACKENDS, harness, results
from harness import sweep
from helpers import TINY

BACKEND = INSTALLED_BACKENDS[0]


def assert_one_group_of_repeats(records, count):
    assert len({r["run_id"] for r in records}) == count
    assert len({r["config"]["repeat_group"] for r in records}) == 1
    assert sorted(r["config"]["repeat_index"] for r in records) == list(range(count))
    assert all(r["config"]["repeat"] == count for r in records)


def test_repeat_runs_each_repeat_in_its_own_process(tmp_path):
    out = tmp_path / "out"
    proc = harness("mlp", "--backend", BACKEND, "--repeat", 3, "--out", out, *TINY)
    assert proc.returncode == 0, proc.stderr
    records = results(out)
    assert all(r["status"] == "ok" for r in records)
    assert_one_group_of_repeats(records, 3)  # 3 files: the repeats did not fan out again
    # A record's command is the argv of the process that wrote it: three argvs, three processes,
    # and none of them the parent's (which has no --repeat-index).
    for record in records:
        command = record["command"]
        assert command[command.index("--run-id") + 1] == record["run_id"]
        assert command[command.index("--repeat-index") + 1] == str(record["config"]["repeat_index"])
    for number in (1, 2, 3):
        assert "repeat %d/3 of mlp on %s: ok" % (number, BACKEND) in proc.stderr
    last = proc.stderr.splitlines()[-1]
    assert "3 repeats (group %s), 3 ok" % records[0]["config"]["repeat_group"] in last
    assert "coefficient of variation" in last


def test_sweep_repeats_each_configuration_in_interleaved_rounds(tmp_path):
    out = tmp_path / "out"
    proc = harness("sweep", "--backends", BACKEND, "--models", "mlp,lstm", "--repeat", 2,
                   "--out", out, *TINY)
    assert proc.returncode == 0, proc.stderr
    records = results(out)
    for model in ("mlp", "lstm"):
        assert_one_group_of_repeats([r for r in records if r["config"]["model"] == model], 2)
    # Round 1 runs every configuration once, round 2 again: mlp, lstm, mlp, lstm.
    assert [(r["config"]["model"], r["config"]["repeat_index"])
            for r in sorted(records, key=lambda r: r["started_at"])] == [
        ("mlp", 0), ("lstm", 0), ("mlp", 1), ("lstm", 1)]
    assert "[round 2/2, 1/2] mlp on %s" % BACKEND in proc.stderr
    table = proc.stdout.split("\n\n")[0]  # the table, then its footnotes
    rows = table.splitlines()[2:]
    assert len(rows) == 2 and all(row.split()[2:4] == ["ok", "2"] for row in rows)


@pytest.mark.parametrize("args, message", [
    (["mlp", "--backend", BACKEND, "--repeat", 0], "--repeat must be at least 1, not 0"),
    (["sweep", "--backends", BACKEND, "--models", "mlp", "--repeat", 0],
     "--repeat must be at least 1, not 0"),
    (["mlp", "--backend", BACKEND, "--repeat", 2, "--run-id", "abc"],
     "--run-id names one run; --repeat 2 makes 2"),
])
def test_impossible_repeats_are_usage_errors(tmp_path, args, message):
    out = tmp_path / "out"
    proc = harness(*(args + ["--out", out]))
    assert proc.returncode == 2
    assert message in proc.stderr.strip().splitlines()[-1]
    assert not out.exists()


def test_a_killed_repeat_still_leaves_its_result(tmp_path, monkeypatch):
    """Each repeat killed outright (the out-of-memory killer) gets an error result in its group."""
    suicide = [sys.executable, "-c", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)"]
    monkeypatch.setattr(sweep, "child_command", lambda *args: suicide)
    records = sweep.run_rounds([("mlp", BACKEND)], {"repeat": 2, "batch_size": 4},
                               str(tmp_path), timeout=None)
    assert [r["status"] for r in records] == ["error", "error"]
    assert all("killed by signal 9" in r["error"]["message"] for r in records)
    assert_one_group_of_repeats(records, 2)
    assert sorted(r["run_id"] for r in results(tmp_path)) == sorted(r["run_id"] for r in records)
