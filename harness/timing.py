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
    """

    def __init__(self, sync, plan, clock=time.perf_counter, progress=None, agree=None,
                 per_step=True):
        self._sync = sync
        self.plan = plan
        self.per_step = per_step
        self._agree = agree or (lambda flag: flag)
        self._clock = clock
        self._progress = progress
        self._epoch_start = None
        self._last = None
        self._outputs = None  # the latest step's, for the epoch's end to wait on
        # [{"seconds": s, "steps": n, "samples": n, "step_seconds": [...], "step_samples": [...]}]
        self.epochs = []

    def begin_epoch(self):
        stopping.check()
        self._sync(None)
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
