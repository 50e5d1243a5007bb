"""The stability verdict (timing.stability) and the significance rule (harness.significance),
on constructed epochs; and the verdict in a real run's result and summary line."""
import pytest

from conftest import harness, only_result
from harness import significance, timing


def epochs(*speeds, warmup=1, steps=10, step_seconds=True):
    """samples.epochs as the Recorder keeps them: a warm-up epoch at a tenth of the first
    speed, then one epoch of 100 samples per speed (samples/s), in equal steps."""
    made = []
    for speed in (speeds[0] / 10.0,) * warmup + speeds:
        seconds = 100.0 / speed
        made.append({"seconds": seconds, "steps": steps, "samples": 100,
                     "step_seconds": [seconds / steps] * steps if step_seconds else [],
                     "step_samples": [100 // steps] * steps if step_seconds else []})
    return made


def host(system, own):
    return {"host": {"system_cpu_percent": {"mean": system, "peak": system},
                     "cpu_percent": {"mean": own, "peak": own}, "rss_mb": None}}


def test_steady_epochs_on_a_quiet_machine_are_stable():
    verdict = timing.stability(epochs(100.0, 101.0, 99.0, 100.5), 1, host(55.0, 100.0), cores=2)
    assert verdict["verdict"] == "stable" and verdict["reasons"] == [] and verdict["failed"] == []
    assert verdict["epochs"] == 4 and verdict["cv_pct"] == pytest.approx(0.85, abs=0.01)
    # 55% of 2 cores busy, 1 core of it the run's own: 0.1 core of other work.
    assert verdict["other_load_cores"] == pytest.approx(0.1)
    assert verdict["median_step_ms"] == pytest.approx(100.0, rel=0.02)
    assert verdict["limits"]["cv_pct"] == timing.CV_LIMIT_PCT == 10.0


@pytest.mark.parametrize("speeds, failed", [
    ((100.0, 130.0, 80.0), ["cv"]),                       # CV 24%
    ((100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 100.0, 230.0),
     ["cv", "outlier"]),                                  # one epoch 130% above the median
    ((75.0, 100.0, 101.0, 99.0, 100.0, 100.0, 100.0, 100.0), ["warmup"]),  # 25% slower first
    ((100.0,), ["epochs"]),                               # no spread to judge
])
def test_each_check_names_what_it_found(speeds, failed):
    verdict = timing.stability(epochs(*speeds), 1)
    assert verdict["verdict"] == "unstable" and verdict["failed"] == failed
    assert len(verdict["reasons"]) == len(failed)


def test_steps_too_short_for_the_clock_and_other_load_make_it_unstable():
    fast = timing.stability(epochs(200000.0, 200000.0, 200000.0, steps=100), 1)  # 5 us steps
    assert fast["failed"] == ["clock"] and "under 1 ms" in fast["reasons"][0]
    # Epoch timing: no step was timed alone, so there is no clock check.
    untimed = timing.stability(epochs(200000.0, 200000.0, 200000.0, step_seconds=False), 1)
    assert untimed["verdict"] == "stable" and untimed["median_step_ms"] is None
    busy = timing.stability(epochs(100.0, 100.0, 100.0), 1, host(90.0, 100.0), cores=2)
    assert busy["failed"] == ["load"] and busy["other_load_cores"] == pytest.approx(0.8)
    # No telemetry (sampler off) or no core count: the load is not judged.
    for telemetry, cores in ((None, 2), (host(90.0, 100.0), None),
                             ({"host": {"system_cpu_percent": None, "cpu_percent": None}}, 2)):
        verdict = timing.stability(epochs(100.0, 100.0, 100.0), 1, telemetry, cores)
        assert verdict["verdict"] == "stable" and verdict["other_load_cores"] is None


def test_the_smallest_p_mann_whitney_can_reach():
    assert significance.smallest_p(3, 3) == pytest.approx(0.1)
    assert significance.smallest_p(4, 4) == pytest.approx(2 / 70.0)
    assert significance.smallest_p(3, 4) == pytest.approx(2 / 35.0)  # still above 0.05
    assert significance.smallest_p(1, 0) == 1.0


def test_too_few_samples_are_not_tested_and_say_so():
    result = significance.compare([1.0, 2.0, 3.0], [10.0, 11.0, 12.0])
    assert (result.significant, result.p, result.why, result.n) == (None, None, "too few", (3, 3))
    assert significance.mark(result) == "\u2248 " and significance.p_text(result) == "too few (3 vs 3)"


def test_separated_samples_are_significant_and_overlapping_ones_not():
    pytest.importorskip("scipy")
    apart = significance.compare([1.0, 2.0, 3.0, 4.0], [10.0, 11.0, 12.0, 13.0])
    assert apart.significant and apart.p == pytest.approx(2 / 70.0)
    assert significance.mark(apart) == "" and significance.p_text(apart) == "0.029"
    mixed = significance.compare([1.0, 3.0, 5.0, 7.0, 9.0], [2.0, 4.0, 6.0, 8.0, 10.0])
    assert mixed.significant is False and mixed.p > 0.5 and significance.mark(mixed) == "\u2248 "
    same = significance.compare([5.0] * 4, [5.0] * 4)
    assert same.significant is False and same.p == 1.0


def test_without_scipy_the_comparison_is_unavailable(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.stats", None)
    result = significance.compare([1.0, 2.0, 3.0, 4.0], [10.0, 11.0, 12.0, 13.0])
    assert result.why == "unavailable" and significance.mark(result) == "? "
    assert "scipy is not installed" in significance.footnote([result])


def test_runs_compare_by_repeats_medians_only_where_both_were_repeated():
    one = [(100.0, [99.0, 100.0, 101.0])]
    repeated = [(90.0, [89.0, 90.0]), (91.0, [90.0, 92.0])]
    assert significance.samples_of(one, repeated) == (
        [99.0, 100.0, 101.0], [89.0, 90.0, 90.0, 92.0], "epochs")
    assert significance.samples_of(repeated, repeated)[2] == "repeats"
    assert significance.compare_runs(repeated, repeated).n == (2, 2)


def test_epoch_speeds_are_the_measured_epochs_and_skip_unusable_ones():
    made = epochs(100.0, 200.0, 400.0)
    assert significance.epoch_speeds(made, 3) == pytest.approx([100.0, 200.0, 400.0])
    made[2]["seconds"] = None
    made[3] = "garbage"
    assert significance.epoch_speeds(made, 3) == pytest.approx([100.0])
    assert significance.epoch_speeds(None, 3) == [] and significance.epoch_speeds(made, 0) == []


def test_a_real_run_records_its_verdict_and_prints_it(tmp_path):
    proc = harness("mlp", "--backend", "jax", "--out", tmp_path, "--epochs", 3, "--warmup", 1,
                   "--steps-per-epoch", 3, "--batch-size", 4)
    record = only_result(tmp_path, proc)
    assert record["status"] == "ok", record["error"]
    verdict = record["metrics"]["stability"]
    assert verdict["verdict"] in ("stable", "unstable") and verdict["epochs"] == 3
    assert verdict == timing.stability(record["samples"]["epochs"], 1,
                                       record["metrics"]["telemetry"],
                                       record["environment"]["cpu_cores_usable"])
    # The tiny steps are under a millisecond or near it; the line says what was found.
    summary = proc.stderr.strip().splitlines()[-1]
    assert (" stable (CV " if verdict["verdict"] == "stable" else " UNSTABLE (CV ") in summary


def test_the_sweeps_table_shows_spread_significance_and_unstable_rows():
    from harness import sweep
    from test_collect import record
    unstable = {"verdict": "unstable", "reasons": ["..."], "failed": ["cv", "load"],
                "cv_pct": 23.04}
    stable = {"verdict": "stable", "reasons": [], "failed": [], "cv_pct": 1.23}
    records = [
        record("mlp", "jax", "jax", speed=1000.0, stability=stable,
               epoch_speeds=[990.0, 1000.0, 1010.0, 1005.0, 995.0]),
        record("mlp", "torch", "torch", speed=500.0, stability=unstable,
               epoch_speeds=[490.0, 500.0, 510.0, 505.0, 495.0]),
        record("mlp", "tensorflow", "tensorflow", speed=998.0, stability=stable,
               epoch_speeds=[985.0, 998.0, 1012.0, 1003.0, 992.0]),
        record("cnn", "jax", "jax", speed=300.0, stability=stable),  # 3 epochs each
        record("cnn", "torch", "torch", speed=290.0, stability=stable),
        record("cnn", "tensorflow", status="error")]
    text = sweep.table(records)
    lines = text.splitlines()
    assert lines[0].split() == ["model", "backend", "status", "samples/s", "\u00b1", "CV%",
                                "vs", "best", "p", "ms/step", "1st", "epoch", "s", "loss",
                                "stability"]
    rows = {(line.split()[0], line.split()[1]): line for line in lines[2:8]}
    assert "\u00b1 1.2 " in rows["mlp", "jax"] and " 1.00 " in rows["mlp", "jax"]
    assert " best " in rows["mlp", "jax"] and rows["mlp", "jax"].endswith(" stable")
    assert "\u2248 1.00" in rows["mlp", "tensorflow"] and " 0.841 " in rows["mlp", "tensorflow"]
    assert " 0.50 " in rows["mlp", "torch"] and " 0.008 " in rows["mlp", "torch"]
    assert rows["mlp", "torch"].endswith("UNSTABLE: cv, load")
    assert "\u2248 0.97" in rows["cnn", "torch"] and "too few (3 vs 3)" in rows["cnn", "torch"]
    assert rows["cnn", "tensorflow"].split()[2] == "error"
    assert "Mann-Whitney U, two-sided, alpha 0.05" in text and "UNSTABLE marks" in text
