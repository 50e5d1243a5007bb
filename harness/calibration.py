"""How many steps a measured epoch takes: enough to last about `--epoch-seconds`.

An epoch of the workload's steps lasts a second or two on two cores, but a
few tens of milliseconds on a fast GPU, where the clock's reads, the device
drain at the epoch's end and Keras's per-epoch work would then weigh on every
figure; and half a minute where the machine is slow or busy, where the
minimum of epochs would then cost minutes. The warm-up epochs run with the
workload's steps and are timed step by step; their pace sizes the measured
epochs to about the target either way, never below one step. Knows no
framework.
"""
import math

from harness import timing


# Inputs of one measured epoch at most: `--method fit` holds them in memory as float32
# (half of what datasets.MAX_ARRAY_BYTES lets an array take).
MAX_EPOCH_BYTES = 2 << 30


def plan(warmup_epochs, steps, batch_size, target_s, max_steps, reason_not=None):
    """The measured epochs' steps, and how they were chosen (config.calibration).

    `warmup_epochs` are the Recorder's warm-up epochs, `steps` their steps of
    `batch_size` samples, `target_s` the seconds a measured epoch should last,
    `max_steps` the most steps it may hold, `reason_not` why the steps are
    fixed whatever the pace (given by the user, one pass over a real data set),
    or None.
    """
    chosen = {"target_epoch_s": target_s, "warmup_steps_per_epoch": steps,
              "warmup_samples_per_s": None, "steps_per_epoch": steps, "capped": False,
              "reason_not": reason_not}
    if reason_not is None and not target_s:
        chosen["reason_not"] = "--epoch-seconds 0: the workload's steps"
    if reason_not is None and not warmup_epochs:
        chosen["reason_not"] = "no warm-up epoch to take the pace from"
    if chosen["reason_not"]:
        return chosen
    rate = pace(warmup_epochs)
    chosen["warmup_samples_per_s"] = rate
    wanted = int(math.ceil(target_s * rate / batch_size))
    chosen["steps_per_epoch"] = max(1, min(wanted, max_steps))
    chosen["capped"] = wanted > max_steps
    return chosen


def pace(warmup_epochs):
    """Samples per second in the warm-up: the median of its steps' rates, the run's first
    step (tracing, compiling) left out; where no later step was timed on its own (one
    step, or a call timed whole), the last epoch's rate, which includes any compiling
    and so can only make epochs shorter than the target."""
    rates = [n / s for e in warmup_epochs
             for n, s in zip(e["step_samples"], e["step_seconds"]) if s > 0][1:]
    if rates:
        return timing.stats(rates)["median"]
    last = warmup_epochs[-1]
    return last["samples"] / last["seconds"]
