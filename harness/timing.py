"""Clock readings of a run and the statistics made from them.

Knows no framework: the runner hands the Recorder the backend's `sync`, which
blocks until the device has finished the work queued so far. Reading the clock
before that would time how fast work is queued, not how fast it runs.
"""
import math
import time
from collections import namedtuple

from harness import stopping

# Keras's fit() needs an epoch count up front; with minimums to meet it is given
# this many and stopped by the callback once the plan is done.
UNBOUNDED_EPOCHS = 10 ** 6


class Plan(namedtuple("Plan", "warmup epochs min_steps min_seconds")):
    """How long to measure: `warmup` epochs not counted, then at least `epochs`
    epochs, and more until the measured steps and seconds reach their minimums
    (so a tiny model is not timed over a handful of steps)."""

    __slots__ = ()

    @property
    def open_ended(self):
        return bool(self.min_steps or self.min_seconds)

    def max_epochs(self):
        return UNBOUNDED_EPOCHS if self.open_ended else self.warmup + self.epochs

    def done(self, epochs):
        """Whether the finished `epochs` (Recorder.epochs) complete the plan."""
        finished = [e for e in epochs if e["seconds"] is not None]
        measured = finished[self.warmup:]
        return (len(measured) >= self.epochs
                and sum(e["steps"] for e in measured) >= self.min_steps
                and sum(e["seconds"] for e in measured) >= self.min_seconds)


class Recorder:
    """Collects, epoch by epoch, how long each step took and how many samples it held.

    A step's duration is the interval from the previous step's end (or the
    epoch's start) to its own end, so the steps of an epoch add up to nearly the
    whole epoch: data feeding and callbacks between steps are counted, not hidden.

    With `per_step=False` only epochs are timed: a step's end neither waits for
    the device nor reads the clock, so an asynchronous backend (JAX, or any
    framework on a GPU) queues the next step while this one runs, as in a
    plain training loop; the epoch's end waits for all of it. Its steps are
    counted, not timed (`step_seconds` stays empty).

    Every step end and epoch boundary is where a stop request (SIGTERM, Ctrl-C)
    ends the run: `stopping.check` raises there.

    A `meter` (harness.energy.Meter) has its energy counters read at each epoch's
    beginning and end, beside the clock, so that its joules are those of these epochs.
    """

    def __init__(self, sync, plan, clock=time.perf_counter, progress=None, agree=None,
                 per_step=True, meter=None):
        self._sync = sync
        self.plan = plan
        self.per_step = per_step
        self._agree = agree or (lambda flag: flag)
        self._clock = clock
        self._progress = progress
        self._meter = meter
        self._epoch_start = None
        self._last = None
        self._outputs = None  # the latest step's, for the epoch's end to wait on
        # [{"seconds": s, "steps": n, "samples": n, "step_seconds": [...], "step_samples": [...]}]
        self.epochs = []

    def begin_epoch(self):
        stopping.check()
        self._sync(None)
        if self._meter is not None:
            self._meter.begin_epoch()
        self._epoch_start = self._last = self._clock()
        self.epochs.append({"seconds": None, "steps": 0, "samples": 0,
                            "step_seconds": [], "step_samples": []})

    def end_step(self, samples, outputs=None, steps=1):
        """`steps` steps that held `samples` samples have ended (more than one only
        when a caller reports a whole epoch at once, with per_step=False)."""
        epoch = self.epochs[-1]
        epoch["steps"] += steps
        epoch["samples"] += int(samples)
        if not self.per_step:
            self._outputs = outputs
            stopping.check()
            return
        self._sync(outputs)
        t = self._clock()
        epoch["step_seconds"].append(t - self._last)
        epoch["step_samples"].append(int(samples))
        self._last = t
        stopping.check()

    def end_epoch(self):
        self._sync(self._outputs)
        self._outputs = None
        epoch = self.epochs[-1]
        epoch["seconds"] = self._clock() - self._epoch_start
        if self._meter is not None:
            self._meter.end_epoch()
        if self._progress:
            self._progress(len(self.epochs), epoch)
        stopping.check()

    def done(self):
        """Whether the measurement plan is complete: stop training or predicting.

        With several processes, rank 0's answer holds for all (`agree`): their
        clocks differ, and they must stop after the same epoch.
        """
        return self._agree(self.plan.done(self.epochs))


def stats(values):
    """Median, mean, min, max and sample standard deviation of `values`."""
    ordered = sorted(values)
    n = len(ordered)
    if n == 0:
        raise ValueError("no values")
    mid = n // 2
    median = ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0
    mean = sum(ordered) / float(n)
    stdev = math.sqrt(sum((v - mean) ** 2 for v in ordered) / (n - 1)) if n > 1 else 0.0
    return {"median": median, "mean": mean, "min": ordered[0], "max": ordered[-1],
            "stdev": stdev, "n": n}


def _totals(epochs):
    return {
        "epochs": len(epochs),
        "steps": sum(e["steps"] for e in epochs),
        "samples": sum(e["samples"] for e in epochs),
        "seconds": sum(e["seconds"] for e in epochs),
    }


def summarize(epochs, warmup, unit):
    """Metrics of a run whose first `warmup` epochs are not counted.

    `throughput` is samples/s per measured epoch (median, min, max, stdev; the
    median is the headline figure, as the seeds reported epoch speeds) plus
    `overall`: every measured sample over the measured wall time. Per-epoch
    rates include whatever happens between steps; `step_ms` shows the steps
    alone, or, where only epochs were timed, each epoch's mean step
    (`step_ms.source` says which).
    """
    measured = epochs[warmup:]
    if not sum(e["steps"] for e in measured):
        raise ValueError("no measured steps: %d epochs run, %d of them warm-up"
                         % (len(epochs), warmup))
    if min(e["seconds"] for e in measured) <= 0:
        raise ValueError("an epoch took no time: the clock is too coarse for this run")
    totals = _totals(measured)
    throughput = stats([e["samples"] / e["seconds"] for e in measured])
    # A mean of rates weighs fast epochs too much; the overall rate is the true mean.
    del throughput["mean"]
    throughput["overall"] = totals["samples"] / totals["seconds"]
    step_seconds = [s for e in measured for s in e["step_seconds"]]
    if step_seconds:
        step_ms = dict(stats([1000.0 * s for s in step_seconds]), source="steps")
    else:
        step_ms = dict(stats([1000.0 * e["seconds"] / e["steps"] for e in measured]),
                       source="epoch means")
    warm = _totals(epochs[:warmup])
    first = epochs[0]
    warm["first_epoch_s"] = first["seconds"]
    warm["first_step_s"] = first["step_seconds"][0] if first["step_seconds"] else None
    return {
        "unit": unit,
        "throughput": throughput,
        "step_ms": step_ms,
        "measured": totals,
        "warmup": warm,
    }


# --- the stability verdict (metrics.stability), checked as pyperf checks a benchmark ---

# pyperf calls a benchmark unstable when its standard deviation is 10% of the mean
# or more: beyond that a difference of a few percent between two backends is noise.
CV_LIMIT_PCT = 10.0
# pyperf flags a minimum or maximum 50% or more away from the mean: one epoch that far
# off (a pause, a retrace, another process) says the epochs are not alike. We measure
# from the median, which that one epoch moves least.
OUTLIER_LIMIT_PCT = 50.0
# pyperf warns when a raw value is under 1 ms: a step that short is a few clock reads
# and a device sync away from its own overhead. We take the median step, so that a
# single odd step does not decide it (only where steps are timed one by one).
CLOCK_MIN_STEP_MS = 1.0
# Other work on the machine while the run trained, in cores: whole-machine CPU beyond
# the run's own. Half a core is a second process competing for a core half the time;
# less is the telemetry's own sampling error and the kernel's background work.
OTHER_LOAD_LIMIT_CORES = 0.5
# The first measured epoch this much slower than the median of the later ones means
# warm-up (compilation, caches, a retrace) was still going on: more --warmup is needed.
# Twice the spread we call unstable: a slower first epoch within noise is not flagged.
WARMUP_SLOW_LIMIT_PCT = 2 * CV_LIMIT_PCT
# Fewer measured epochs than this give no spread to judge.
MIN_EPOCHS = 2


def _percent_off(value, reference):
    return 100.0 * abs(value - reference) / reference


def _mean_of(summary, *path):
    """summary[path...]["mean"] as a number, or None where any step is missing."""
    for name in path:
        summary = summary.get(name) if isinstance(summary, dict) else None
    mean = summary.get("mean") if isinstance(summary, dict) else None
    return mean if isinstance(mean, (int, float)) and not isinstance(mean, bool) else None


def stability(epochs, warmup, telemetry=None, cores=None):
    """Whether a run's measured epochs can be trusted: {"verdict": "stable" or "unstable",
    "reasons": [sentences], "failed": [short names of the failed checks], the figures
    judged, and the limits they were judged against}. `epochs` and `warmup` as for
    summarize; `telemetry` is metrics.telemetry (or None: no load check) and `cores` the
    machine's usable cores. Checks that lack their figures (one epoch, epoch timing, no
    telemetry) are skipped, and their figure is None."""
    measured = [e for e in epochs[warmup:] if e["seconds"]]
    speeds = [e["samples"] / e["seconds"] for e in measured]
    figures = {"epochs": len(speeds), "cv_pct": None, "min_off_median_pct": None,
               "max_off_median_pct": None, "median_step_ms": None, "other_load_cores": None,
               "first_epoch_slower_pct": None}
    failed, reasons = [], []

    def fail(name, reason):
        failed.append(name)
        reasons.append(reason)

    if len(speeds) < MIN_EPOCHS:
        fail("epochs", "%d measured epoch(s): no spread to judge" % len(speeds))
    else:
        figures_of = stats(speeds)
        median = figures_of["median"]
        cv = 100.0 * figures_of["stdev"] / figures_of["mean"]
        low, high = _percent_off(figures_of["min"], median), _percent_off(figures_of["max"], median)
        figures.update(cv_pct=cv, min_off_median_pct=low, max_off_median_pct=high)
        if cv >= CV_LIMIT_PCT:
            fail("cv", "epoch speeds vary by %.1f%% (stdev/mean), %g%% or more" % (cv, CV_LIMIT_PCT))
        if max(low, high) >= OUTLIER_LIMIT_PCT:
            fail("outlier", "an epoch is %.0f%% from the median, %g%% or more"
                 % (max(low, high), OUTLIER_LIMIT_PCT))
        rest = stats(speeds[1:])["median"]
        slower = 100.0 * (rest - speeds[0]) / rest
        figures["first_epoch_slower_pct"] = slower
        if slower >= WARMUP_SLOW_LIMIT_PCT:
            fail("warmup", "the first measured epoch is %.0f%% slower than the rest: "
                 "warm-up too short (raise --warmup)" % slower)
    steps = [1000.0 * s for e in measured for s in e.get("step_seconds") or []]
    if steps:
        figures["median_step_ms"] = stats(steps)["median"]
        if figures["median_step_ms"] < CLOCK_MIN_STEP_MS:
            fail("clock", "the median step takes %.3f ms, under %g ms: too short to time one "
                 "by one (use --timing epoch or a larger batch)"
                 % (figures["median_step_ms"], CLOCK_MIN_STEP_MS))
    system = _mean_of(telemetry, "host", "system_cpu_percent")
    own = _mean_of(telemetry, "host", "cpu_percent")
    if system is not None and own is not None and cores:
        # system_cpu_percent is a share of all cores, cpu_percent a share of one core.
        other = max(0.0, system / 100.0 * cores - own / 100.0)
        figures["other_load_cores"] = other
        if other >= OTHER_LOAD_LIMIT_CORES:
            fail("load", "other work kept %.1f of %d cores busy during the run, %g or more"
                 % (other, cores, OTHER_LOAD_LIMIT_CORES))
    figures.update(verdict="unstable" if failed else "stable", reasons=reasons, failed=failed,
                   limits={"cv_pct": CV_LIMIT_PCT, "off_median_pct": OUTLIER_LIMIT_PCT,
                           "median_step_ms": CLOCK_MIN_STEP_MS,
                           "other_load_cores": OTHER_LOAD_LIMIT_CORES,
                           "first_epoch_slower_pct": WARMUP_SLOW_LIMIT_PCT,
                           "epochs": MIN_EPOCHS})
    return figures
