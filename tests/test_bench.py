"""The harness's own benches run (--quick, one backend) and write complete JSON. Their
targets are judged by the benches on a quiet machine, not here: a test asserts sane figures."""
import json
import os
import subprocess
import sys

import pytest

from conftest import INSTALLED_BACKENDS, REPO

BACKEND = "jax" if "jax" in INSTALLED_BACKENDS else INSTALLED_BACKENDS[0]


def run_bench(tmp_path, name, *args):
    """Run bench/NAME.py --quick on BACKEND; returns the JSON it wrote."""
    path = tmp_path / (name + ".json")
    proc = subprocess.run([sys.executable, os.path.join("bench", name + ".py"), "--quick",
                           "--backends", BACKEND, "--json", str(path)] + list(args),
                          cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=300)
    assert proc.returncode in (0, 1), proc.stderr  # 1: a target missed, which --quick may
    document = json.loads(path.read_text())
    assert document["bench"] == name and document["quick"] is True
    assert document["passed"] is (proc.returncode == 0)
    assert document["command"][1:3] == ["bench/%s.py" % name, "--quick"]
    assert document["target"] and document["seconds"] >= 0
    assert len(document["load_average_before"]) == len(document["load_average_after"]) == 3
    host = document["machine"]
    assert host["cpu_cores"] >= 1 and host["memory_bytes"] > 0 and host["python"]
    assert host["packages"]["keras"].startswith("3.")
    (configuration,) = document["figures"]["configurations"]
    assert configuration["backend"] == BACKEND and configuration["model"] == "mlp"
    assert isinstance(configuration["passed"], bool)
    return configuration


def test_overhead_compares_the_harness_with_plain_keras(tmp_path):
    figures = run_bench(tmp_path, "overhead", "--models", "mlp")
    assert figures["pairs"] == 1
    assert len(figures["harness_samples_per_s"]) == len(figures["plain_samples_per_s"]) == 1
    assert all(speed > 0 for speed in figures["harness_samples_per_s"] + figures["plain_samples_per_s"])
    assert figures["median_harness_over_plain"] == pytest.approx(
        figures["harness_samples_per_s"][0] / figures["plain_samples_per_s"][0])
    assert figures["median_harness_over_plain"] > 0
    # One pair: no interval of the median, and no spread to size the pairs from.
    assert figures["interval_harness_over_plain"] is None and figures["resolved"] is False
    assert figures["pairs_needed"] is None and figures["spread_harness_over_plain"] == 0


def test_overhead_sizes_its_pairs_from_the_sign_tests_interval():
    sys.path.insert(0, os.path.join(REPO, "bench"))
    import overhead
    assert overhead.median_interval([1.0] * 5) is None  # 5 pairs never reach 95%
    low, high, coverage = overhead.median_interval(list(range(10)))
    assert (low, high) == (1, 8) and coverage == pytest.approx(1 - 2 * 11 / 1024.0)
    assert overhead.resolved([0.99, 1.0, 1.01, 1.0, 0.995, 1.005], 0.02)
    assert not overhead.resolved([0.9, 1.0, 1.1, 1.0, 0.95, 1.05], 0.02)
    # spread 1.4826 x 0.02: (1.96 x 1.2533 x 0.02965 / 0.02)^2 = 13.3 pairs
    assert overhead.pairs_needed([0.98, 1.0, 1.02], 0.02) == 14


def test_clock_agreement_brackets_the_measured_epochs(tmp_path):
    figures = run_bench(tmp_path, "clock_agreement", "--models", "mlp")
    assert 0 < figures["harness_seconds"]
    # The outside clock brackets the harness's reads: it can only see more time.
    assert figures["outside_epochs_seconds"] >= figures["harness_seconds"]
    assert figures["outside_seconds"] >= figures["outside_epochs_seconds"]
    assert figures["harness_over_outside"] == pytest.approx(
        figures["harness_seconds"] / figures["outside_seconds"])


def test_stability_repeats_the_run(tmp_path):
    figures = run_bench(tmp_path, "stability")
    assert figures["repeats"] == 2 and len(figures["samples_per_s"]) == 2
    assert all(speed > 0 for speed in figures["samples_per_s"])
    assert figures["coefficient_of_variation"] >= 0 and figures["repeat_group"]


def test_startup_times_the_shortest_run_and_help(tmp_path):
    figures = run_bench(tmp_path, "startup")
    assert figures["repeats"] == 1 and figures["seconds"][0] > figures["import_s"] > 0
    assert BACKEND in figures["frameworks_loaded"]
    document = json.loads((tmp_path / "startup.json").read_text())
    assert 0 < document["figures"]["help"]["median_s"] < figures["median_s"]


def run_gpu_figures(tmp_path, *args):
    """bench/gpu_figures.py --quick ARGS; returns the process and the JSON it wrote."""
    path = tmp_path / "gpu_figures.json"
    proc = subprocess.run([sys.executable, os.path.join("bench", "gpu_figures.py"), "--quick",
                           "--json", str(path), "--out", str(tmp_path / "runs")] + list(args),
                          cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=600)
    assert proc.returncode in (0, 1), proc.stderr  # 1: the bfloat16 target, missed on a CPU
    return proc, json.loads(path.read_text())


@pytest.mark.skipif(not {"jax", "torch"} <= set(INSTALLED_BACKENDS), reason="needs JAX and PyTorch")
def test_gpu_figures_runs_its_plan_and_prints_one_table(tmp_path):
    """Tiny images and one step on the CPU: a Keras run, a native one (or its "not
    available" where this checkout has no native ResNet50), and the overhead bench."""
    proc, document = run_gpu_figures(tmp_path, "--only",
                                     "torch-f32-256,native-torch-f32-256,overhead-jax-mlp-epoch")
    rows = {row["id"]: row for row in document["figures"]["configurations"]}
    assert list(rows) == ["torch-f32-256", "native-torch-f32-256", "overhead-jax-mlp-epoch"]
    keras = rows["torch-f32-256"]
    assert keras["status"] == "ok" and keras["images_per_s"] > 0 and keras["jit"] == "off"
    assert (keras["precision"], keras["batch"], keras["tf32"]) == ("float32", 4, "off")
    assert rows["native-torch-f32-256"]["status"] in ("ok", "not available")
    assert rows["overhead-jax-mlp-epoch"]["harness_over_plain"] > 0
    # Energy beside the speed: joules per image where a counter was read, else why not.
    if "energy_unavailable" in keras:
        assert "RAPL: " in keras["energy_unavailable"]
        assert "no energy figures: " in proc.stdout
    else:
        assert keras["joules_per_image"] > 0 and keras["watts"] > 0
    table = proc.stdout.split("gpu_figures:")[0]
    assert table.splitlines()[0].split()[:5] == ["configuration", "status", "device", "images/s",
                                                 "J/image"]
    assert all(ident in table for ident in rows)
    assert len(os.listdir(str(tmp_path / "runs"))) >= 2  # the runs' own results, and overhead.json


def test_gpu_figures_leaves_out_what_its_budget_cannot_hold(tmp_path):
    _, document = run_gpu_figures(tmp_path, "--budget", "1")
    rows = document["figures"]["configurations"]
    assert rows and all(row["status"] == "not run" for row in rows)
    assert "expected" in rows[0]["note"] and document["passed"] is False


@pytest.mark.skipif("jax" not in INSTALLED_BACKENDS, reason="JAX is not installed")
def test_vgg16_seed_prints_the_seeds_table_with_the_systems_it_ran(tmp_path):
    """One system at a tiny size: its row timed, the seed's systems not run kept."""
    proc = subprocess.run(
        [sys.executable, "bench/vgg16_seed.py", "--out", str(tmp_path), "--backends",
         "native-jax", "--image-size", "32", "--batch-size", "2", "--steps-per-epoch", "1",
         "--epochs", "1", "--warmup", "1"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
        timeout=600)
    assert proc.returncode == 0, proc.stderr
    rows = {line.split("|")[1].strip(): line.split("|")[2].strip()
            for line in proc.stdout.splitlines() if line.startswith("| ")}
    assert rows["JAX (jax.jit)"].endswith(" ms")
    assert rows["Keras (Theano backend)"] == "not run"
    assert rows["TensorFlow NHWC with XLA"] == "not run"


def test_aa_ab_judges_identical_and_slowed_processes_with_compare(tmp_path):
    """One process a side (the bench's smoke run): every pair is untested, so no A/A pair
    can be marked significant or fail the gate, and no slowdown can be called found."""
    figures = run_bench(tmp_path, "aa_ab", "--processes", "1", "--runs", tmp_path / "runs")
    assert figures["pairs"] == 1 and figures["processes_per_side"] == 1
    (same,), wider = figures["aa"], figures["ab"]["wider"]
    (slowed,) = wider["pairs_judged"]
    assert same["mark"].endswith("(untested: 1 process a side)") and same["exit"] == 0
    assert slowed["mark"].endswith("(untested: 1 process a side)") and slowed["ratio"] > 0
    assert figures["aa_significant"] == figures["aa_gate_failures"] == 0
    assert wider["slower_found"] == 0 and figures["passed"] is False
    # Side B's mlp is the wider one (bench/wider_mlp.py) under the same name and digest.
    a1, b = (json.loads(next((tmp_path / "runs" / BACKEND / "000" / side).glob("*.json"))
                        .read_text()) for side in ("a1", "b"))
    assert b["config"]["parameters"] > 1.3 * a1["config"]["parameters"]
    assert b["config"]["model"] == "mlp" and b["workload"] == a1["workload"]
    assert figures["pair_seconds"]["aa"] > 0 and figures["failed_processes"] == 0
