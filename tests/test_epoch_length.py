"""Runs long enough by time: a minimum of measured seconds, epochs grown from the warm-up's
pace to last about --epoch-seconds, and the defaults the environment may replace."""
import math

import pytest

from conftest import harness, only_result
from harness import calibration, spec as specs


def epoch(step_seconds, samples=4):
    return {"seconds": sum(step_seconds), "steps": len(step_seconds),
            "samples": samples * len(step_seconds), "step_seconds": list(step_seconds),
            "step_samples": [samples] * len(step_seconds)}


def test_epochs_grow_to_the_target_from_the_warmups_pace_without_its_first_step():
    warmup = [epoch([5.0] + [0.01] * 9)]  # a compiling first step, then 400 samples/s
    chosen = calibration.plan(warmup, 10, 4, 1.0, max_steps=10 ** 6)
    assert chosen["warmup_samples_per_s"] == pytest.approx(400)
    assert chosen["steps_per_epoch"] == 100 and chosen["capped"] is False
    assert chosen["reason_not"] is None and chosen["warmup_steps_per_epoch"] == 10


def test_slow_epochs_are_cut_to_the_target_but_not_below_a_step_and_fast_ones_stop_at_the_cap():
    slow = [epoch([0.5] * 5)]  # 8 samples/s: 2 steps of 4 make the second
    assert calibration.plan(slow, 5, 4, 1.0, max_steps=10 ** 6)["steps_per_epoch"] == 2
    slower = [epoch([3.0] * 5)]
    assert calibration.plan(slower, 5, 4, 1.0, max_steps=10 ** 6)["steps_per_epoch"] == 1
    fast = [epoch([0.001] * 5)]
    capped = calibration.plan(fast, 5, 4, 1.0, max_steps=50)
    assert capped["steps_per_epoch"] == 50 and capped["capped"] is True


def test_a_call_timed_whole_takes_its_epochs_rate():
    """Keras 2's predict is one timed call: no later step to take the pace from."""
    whole = [{"seconds": 2.0, "steps": 1, "samples": 800, "step_seconds": [2.0],
              "step_samples": [800]}]
    chosen = calibration.plan(whole, 8, 100, 1.0, max_steps=1000)
    assert chosen["warmup_samples_per_s"] == pytest.approx(400)
    assert chosen["steps_per_epoch"] == 4  # 400 samples a second are 4 steps of 100


@pytest.mark.parametrize("warmup, target, given, reason", [
    ([], 1.0, None, "no warm-up epoch"),
    ([epoch([0.001] * 3)], 0.0, None, "--epoch-seconds 0"),
    ([epoch([0.001] * 3)], 1.0, "--steps-per-epoch given", "--steps-per-epoch given"),
])
def test_fixed_epochs_say_why(warmup, target, given, reason):
    chosen = calibration.plan(warmup, 3, 4, target, max_steps=1000, reason_not=given)
    assert chosen["steps_per_epoch"] == 3 and reason in chosen["reason_not"]


def test_the_environment_replaces_the_length_defaults_and_the_command_line_wins(monkeypatch):
    monkeypatch.setenv("BENCH_MIN_SECONDS", "2.5")
    monkeypatch.delenv("BENCH_EPOCH_SECONDS")
    spec = specs.make_spec(model="mlp", backend="jax")
    assert (spec.min_seconds, spec.epoch_seconds, spec.epochs) == (2.5, 1.0, 5)
    assert specs.make_spec(model="mlp", backend="jax", min_seconds=0.0).min_seconds == 0.0
    monkeypatch.setenv("BENCH_MIN_SECONDS", "soon")
    with pytest.raises(specs.UsageError, match="BENCH_MIN_SECONDS='soon' is not a number"):
        specs.make_spec(model="mlp", backend="jax")
    monkeypatch.delenv("BENCH_MIN_SECONDS")
    assert specs.make_spec(model="mlp", backend="jax").min_seconds == 10.0


def test_a_run_grows_its_epochs_and_measures_the_minimum_time(tmp_path):
    """mlp at batch 4: the workload's 200 steps become half a second's worth."""
    out = tmp_path / "out"
    proc = harness("mlp", "--backend", "jax", "--out", out, "--batch-size", 4, "--epochs", 2,
                   "--epoch-seconds", 0.5, "--min-seconds", 1, "--timing", "epoch")
    record = only_result(out, proc)
    assert record["status"] == "ok", record["error"]
    config, raw = record["config"], record["samples"]["epochs"]
    chosen = config["calibration"]
    assert (config["min_seconds"], config["epoch_seconds"]) == (1.0, 0.5)
    wanted = math.ceil(0.5 * chosen["warmup_samples_per_s"] / 4)
    assert chosen["steps_per_epoch"] == max(1, wanted) and config["steps_per_epoch"] == 200
    assert [e["steps"] for e in raw] == [200] + [chosen["steps_per_epoch"]] * (len(raw) - 1)
    assert len(raw[0]["step_seconds"]) == 200 and raw[1]["step_seconds"] == []
    measured = record["metrics"]["measured"]
    assert measured["seconds"] >= 1.0 and measured["epochs"] >= 2
    # The evaluation reads the workload's steps, however long the epochs grew.
    assert record["metrics"]["evaluation"]["loss"] > 0


def test_the_suites_runs_record_the_tiny_defaults_they_ran_with(tmp_path):
    out = tmp_path / "out"
    proc = harness("mlp", "--backend", "jax", "--out", out, "--epochs", 1, "--steps-per-epoch", 2)
    record = only_result(out, proc)
    assert (record["config"]["min_seconds"], record["config"]["epoch_seconds"]) == (0.0, 0.0)
    assert record["environment"]["env_vars"]["BENCH_MIN_SECONDS"] == "0"
    assert record["config"]["calibration"]["reason_not"] == "--steps-per-epoch given"
