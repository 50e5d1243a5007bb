"""`python -m harness rerun RESULT.json`: a recorded run again, real and tiny, with what
differs listed, a changed workload refused unless --force, and the comparison at the end."""
import json
import os
import re

import pytest

from conftest import INSTALLED_BACKENDS, harness, only_result, results
from harness import rerun, schema, workload_digest

BACKEND = "jax" if "jax" in INSTALLED_BACKENDS else INSTALLED_BACKENDS[0]
TINY = ["--epochs", 2, "--warmup", 1, "--steps-per-epoch", 3, "--batch-size", 4, "--seed", 7]


@pytest.fixture(scope="module")
def original(tmp_path_factory):
    out = tmp_path_factory.mktemp("original")
    proc = harness("mlp", "--backend", BACKEND, "--out", out, *TINY)
    record = only_result(out, proc)
    assert record["status"] == "ok", record["error"]
    return record


def write_variant(tmp_path, record, **changes):
    """A copy of `record` with its top-level sections updated by `changes`."""
    variant = json.loads(json.dumps(record))
    for section, fields in changes.items():
        variant[section].update(fields)
    path = tmp_path / "recorded.json"
    path.write_text(json.dumps(variant))
    return path


def test_every_result_records_its_workload_digest(original):
    assert original["workload"] == workload_digest.compute("mlp", "synthetic", BACKEND)


def test_a_changed_workload_is_refused_and_nothing_runs(tmp_path, original):
    recorded = write_variant(tmp_path, original, workload={
        "digest": "sha256:" + "0" * 64,
        "files": dict(original["workload"]["files"], **{"models/mlp.py": "0" * 64})})
    proc = harness("rerun", recorded, "--out", tmp_path / "new")
    assert proc.returncode == 2 and not (tmp_path / "new").exists()
    assert proc.stderr.splitlines()[-1].startswith("python -m harness rerun: error: the "
                                                   "workload's code changed (models/mlp.py)")


def test_an_unreadable_result_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    proc = harness("rerun", bad, "--out", tmp_path / "new")
    assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1
    assert "not valid JSON" in proc.stderr


def test_rerun_lists_what_differs_runs_the_same_configuration_and_compares(tmp_path, original):
    """--force over a (pretended) changed workload: the run happens, and the comparison
    refuses to call the ratio a speed-up."""
    recorded = write_variant(tmp_path, original,
                             workload={"digest": "sha256:" + "0" * 64},
                             environment={"keras_version": "2.0.0", "cpu_model": "Old CPU"})
    out = tmp_path / "new"
    proc = harness("rerun", recorded, "--out", out, "--force")
    assert proc.returncode == 0, proc.stderr
    assert "differs: keras: 2.0.0 -> " in proc.stderr and "differs: cpu_model: Old CPU -> " \
        in proc.stderr
    assert "the workload changed since the result" in proc.stderr
    (new,) = results(out)
    assert new["status"] == "ok" and new["run_id"] != original["run_id"]
    for name in ("model", "backend", "batch_size", "global_batch_size", "epochs", "warmup",
                 "steps_per_epoch", "seed", "precision", "jit_compile", "tf32", "timing",
                 "data_format", "gpus", "devices", "method", "inference"):
        assert new["config"][name] == original["config"][name], name
    assert new["workload"] == original["workload"]
    assert proc.stdout.startswith("# Comparison")
    (row,) = [line for line in proc.stdout.splitlines() if line.startswith("| MLP")]
    assert row.rstrip(" |").endswith("different workload")


def test_rerun_tests_its_processes_against_the_originals_repeat_group(tmp_path, original):
    """The original side is the recorded run and its repeat group's other processes beside
    it; the new side is --repeat fresh processes: a tested comparison, p and interval."""
    folder = tmp_path / "original"
    for index, factor in enumerate((1.0, 0.97, 1.03)):
        member = json.loads(json.dumps(original))
        member["run_id"] = member["config"]["run_id"] = "member%d" % index
        member["config"].update(repeat=3, repeat_index=index, repeat_group="group")
        member["metrics"]["throughput"]["median"] *= factor
        schema.write(member, str(folder))
    (first,) = [path for path in os.listdir(str(folder)) if "member0" in path]
    out = tmp_path / "new"
    proc = harness("rerun", folder / first, "--out", out, "--repeat", 2)
    assert proc.returncode in (0, 1), proc.stderr  # 1: the tiny new runs may be slower
    assert "the original: 3 process(es) of its repeat group" in proc.stderr
    assert len(results(out)) == 2 and len({r["config"]["repeat_group"] for r in results(out)}) == 1
    (row,) = [line for line in proc.stdout.splitlines() if line.startswith("| MLP")]
    assert re.search(r"\| (0\.\d{3}|1\.000|<0\.001) \[\d+\.\d\d, \d+\.\d\d\] +\|", row), row
    assert "untested" not in row


def test_the_options_leave_out_what_only_places_a_run(original):
    options = rerun.options_of(original)
    assert options["seed"] == 7 and options["batch_size"] == 4
    assert not set(options) & set(rerun.NOT_REPEATED + ("model", "backend"))


def test_a_run_that_sized_its_epochs_sizes_them_again(original):
    """Its config.steps_per_epoch is the warm-up's: what was asked (`asked`) repeats."""
    assert rerun.options_of(original)["steps_per_epoch"] == 3  # given: kept
    calibrated = json.loads(json.dumps(original))
    calibrated["asked"]["steps_per_epoch"] = None
    calibrated["config"]["calibration"].update(reason_not=None, steps_per_epoch=40)
    options = rerun.options_of(calibrated)
    assert "steps_per_epoch" not in options and options["epoch_seconds"] == 0.0


def test_a_version_2_run_that_sized_its_epochs_sizes_them_again(original):
    """A version-2 file has no `asked`: its calibration tells whether the steps were given."""
    old = json.loads(json.dumps(original))
    old.update(schema_version=2)
    del old["asked"]
    assert rerun.options_of(schema.upgrade(json.loads(json.dumps(old))))["steps_per_epoch"] == 3
    old["config"]["calibration"].update(reason_not=None, steps_per_epoch=40)
    assert "steps_per_epoch" not in rerun.options_of(schema.upgrade(old))


def test_environment_changes_ignore_what_the_harness_sets_itself():
    recorded = {"env_vars": {"KERAS_BACKEND": "jax", "OMP_NUM_THREADS": "1"},
                "packages": {"jax": "0.1", "requests": "1"}, "python": "3.6.9"}
    current = {"env_vars": {}, "packages": {"jax": "0.2", "requests": "2"}, "python": "3.11.7"}
    assert rerun.environment_changes(recorded, current) == [
        "python: 3.6.9 -> 3.11.7", "package jax: 0.1 -> 0.2", "$OMP_NUM_THREADS: 1 -> (none)"]
    assert rerun.workload_changes({"config": {}, "workload": None}) is None
