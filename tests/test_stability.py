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


def test_one_process_a_side_is_untested_and_says_so():
    """The issue's identical pair: one process each, 23,686 against 21,228 samples/s. Its
    epochs agreed closely, but one process has no spread between processes to judge
    against: untested, never significant."""
    result = significance.compare([23686.0], [21228.0])
    assert (result.significant, result.p, result.why, result.n) == (None, None, "too few", (1, 1))
    assert result.ratio == pytest.approx(21228.0 / 23686.0) and result.low is None
    assert significance.mark(result) == "\u2248 "
    assert significance.p_text(result) == "untested: 1 process a side"
    assert significance.p_text(significance.compare([1.0], [2.0, 3.0, 4.0])) == \
        "untested: 1 vs 3 processes"
    # unusable speeds (zero, NaN) are not processes
    assert significance.compare([100.0, 0.0, float("nan")], [90.0, 91.0]).n == (1, 2)


def test_the_test_is_welchs_on_the_logarithms_with_the_ratios_interval():
    import numpy
    from scipy.stats import ttest_ind
    a, b = [1000.0, 1040.0, 980.0], [880.0, 930.0, 860.0]
    apart = significance.compare(a, b)
    reference = ttest_ind(numpy.log(b), numpy.log(a), equal_var=False)
    assert apart.significant and apart.p == pytest.approx(reference.pvalue) and apart.p > 0.001
    assert (apart.low, apart.high) == pytest.approx(
        tuple(numpy.exp(reference.confidence_interval(0.95))))
    assert apart.ratio == pytest.approx(numpy.exp(numpy.log(b).mean() - numpy.log(a).mean()))
    assert apart.low < apart.ratio < apart.high < 1.0
    assert significance.mark(apart) == "" and significance.p_text(apart) == "%.3f [%.2f, %.2f]" % (
        apart.p, apart.low, apart.high)
    assert significance.p_text(significance.compare(a, [500.0, 510.0, 495.0])).startswith(
        "<0.001 [0.4")
    # Processes 10-20% apart on both sides: the same configuration, not significant.
    noisy = significance.compare([23686.0, 20100.0, 25900.0], [21228.0, 24800.0, 19900.0])
    assert noisy.significant is False and noisy.p > 0.5 and noisy.low < 1.0 < noisy.high
    assert significance.mark(noisy) == "\u2248 "
    same = significance.compare([5.0] * 3, [5.0] * 3)
    assert same.significant is False and same.p == 1.0
    # Several tests at once give what each gives alone.
    together = significance.compare_all([(a, b), ([1.0], [2.0]), (a, a)])
    assert together[0] == apart and together[1].why == "too few" and together[2].p == 1.0


def test_without_scipy_the_comparison_is_unavailable(monkeypatch):
    import sys
    monkeypatch.setitem(sys.modules, "scipy", None)
    monkeypatch.setitem(sys.modules, "scipy.stats", None)
    result = significance.compare([1.0, 2.0, 3.0, 4.0], [10.0, 11.0, 12.0, 13.0])
    assert result.why == "unavailable" and significance.mark(result) == "? "
    assert significance.p_text(result) == "n/a"
    assert "scipy is not installed" in significance.footnote([result])


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


def test_the_sweeps_table_tests_between_processes_and_judges_their_spread():
    from harness.collector import process_table
    from helpers import record

    def processes(model, backend, speeds, stability=None, **fields):
        return [record(model, backend, backend, speed=speed, stability=stability,
                       repeat=len(speeds), repeat_index=index, repeat_group=model + backend,
                       **fields)
                for index, speed in enumerate(speeds)]

    unstable = {"verdict": "unstable", "reasons": ["..."], "failed": ["cv", "load"],
                "cv_pct": 23.04}
    stable = {"verdict": "stable", "reasons": [], "failed": [], "cv_pct": 1.23}
    records = (processes("mlp", "jax", [1000.0, 1020.0, 990.0], stable)
               + processes("mlp", "torch", [500.0, 510.0, 495.0], unstable)
               # its processes 10-20% apart: not significantly slower, and unstable between them
               + processes("mlp", "tensorflow", [1100.0, 880.0, 960.0], stable)
               + [record("cnn", "jax", "jax", speed=300.0, stability=stable),  # one process each
                  record("cnn", "torch", "torch", speed=290.0, stability=stable),
                  record("cnn", "tensorflow", status="error")])
    text = process_table.text(records)
    lines = text.splitlines()
    assert lines[0].split() == ["model", "backend", "status", "processes", "samples/s",
                                "\u00b1", "CV%", "proc", "CV%", "vs", "best", "p", "[95%", "CI]",
                                "ms/step", "1st", "epoch", "s", "loss", "stability"]
    rows = {(line.split()[0], line.split()[1]): line for line in lines[2:8]}
    assert len(rows) == 6  # one row per configuration, not per process
    jax = rows["mlp", "jax"]
    assert jax.split()[2:5] == ["ok", "3", "1000"] and "\u00b1 1.2 " in jax
    assert " 1.5 " in jax and " 1.00 " in jax and " best " in jax and jax.endswith(" stable")
    torch = significance.compare([1000.0, 1020.0, 990.0], [500.0, 510.0, 495.0])
    assert " 0.50 " in rows["mlp", "torch"] and significance.p_text(torch) in rows["mlp", "torch"]
    assert torch.significant and rows["mlp", "torch"].endswith("UNSTABLE: cv, load")
    tensorflow = rows["mlp", "tensorflow"]
    assert "\u2248 0.96" in tensorflow and tensorflow.endswith("UNSTABLE: processes")
    assert "\u2248 0.97" in rows["cnn", "torch"]
    assert "untested: 1 process a side" in rows["cnn", "torch"]
    assert rows["cnn", "tensorflow"].split()[2:7] == ["error", "0", "of", "1", "ok"]
    assert significance.TEST in text and "UNSTABLE marks" in text


def test_a_sweep_runs_several_processes_a_configuration_with_shorter_runs(monkeypatch):
    from harness import sweep
    monkeypatch.delenv("BENCH_PROCESSES", raising=False)
    monkeypatch.delenv("BENCH_MIN_SECONDS", raising=False)
    assert sweep.several_processes({}) == {"repeat": 3, "min_seconds": 5.0}
    assert sweep.several_processes({"repeat": 1}) == {"repeat": 1}
    assert sweep.several_processes({"repeat": 4, "min_seconds": 2.0}) == {
        "repeat": 4, "min_seconds": 2.0}
    monkeypatch.setenv("BENCH_PROCESSES", "2")
    monkeypatch.setenv("BENCH_MIN_SECONDS", "0")
    assert sweep.several_processes({}) == {"repeat": 2}  # the variable's 0 s then holds
