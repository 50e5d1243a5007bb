"""The stability verdict (timing.stability) on constructed epochs, and in a real run's
result and summary line."""
import pytest

from conftest import harness, only_result
from harness import timing


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
