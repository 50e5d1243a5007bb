"""Stopping a run on SIGTERM (`docker stop`, a sweep's timeout) or Ctrl-C, with its file.

A signal only sets a flag; the run's own loops check it at every step end
(`check`, called by the timing Recorder and the timing callback) and at every
change of phase (`entering`), and end there with StopRequested. Raising from
the signal handler instead lands in whatever the main thread is running, and
Keras 3 on JAX spends its time in `pythonify_logs`, whose bare `except`
swallows it: the run went on until `docker stop` killed it, and its file was lost.

Where no step ends soon (a long compile, a slow evaluation), a watchdog
finishes the run `grace_s` seconds after the signal: it calls `on_deadline`
(which writes the result as it stands) and exits, well within Docker's 10 s.
A second signal starts the watchdog's work at once; no handler ever raises, so
a signal that lands while the result is being described or written cannot
cost the file.
"""
import os
import signal
import sys
import threading
import time
import traceback

# Seconds a run may take after a stop request to reach a step end on its own.
DEFAULT_GRACE_S = 5.0
# The phase of a run whose outcome is decided: only its description and write remain.
FINAL_WRITE = "final write"


class StopRequested(KeyboardInterrupt):
    """A stop was requested by a signal; raised where the run can stop cleanly."""


_state = {"signal": None, "signal_at": None, "signals": 0, "grace_s": DEFAULT_GRACE_S, "phase": "start-up",
          "paused": set()}


def requested():
    """The number of the signal that asked the run to stop, or None."""
    return _state["signal"]


def signals():
    """How many stop signals arrived."""
    return _state["signals"]


def grace_s():
    """Seconds the run is given to stop on its own after a stop request."""
    return _state["grace_s"]


def phase():
    """The run's phase now (start-up, data, build, compile, warm-up, measurement,
    evaluation, final write): where a stop found it."""
    return _state["phase"]


def check():
    """Raise StopRequested if a stop was requested: call where the run may end."""
    if _state["signal"] is not None and _state["phase"] != FINAL_WRITE:
        raise StopRequested(stopped_by())


# A sweep gives each run its deadline here (seconds since the epoch, from its --timeout):
# the run's record then says that a signal after it was the sweep's.
SWEEP_DEADLINE_VARIABLE = "BENCH_SWEEP_DEADLINE"


def stopped_by():
    """What stopped the run: 'stopped by signal 15', and whether at a sweep's timeout."""
    said = "stopped by signal %d" % _state["signal"]
    deadline = os.environ.get(SWEEP_DEADLINE_VARIABLE)
    if deadline and _state["signal_at"] >= float(deadline):
        said += " at the sweep's --timeout"
    return said


def entering(name):
    """The run moves on to phase `name`: a stop requested meanwhile ends it here."""
    check()
    _state["phase"] = name
    _pause_for_tests()


def finishing():
    """The run's outcome is decided: from here on nothing raises StopRequested."""
    _state["phase"] = FINAL_WRITE
    _pause_for_tests()


# For the tests only (tests/test_faults.py): $BENCH_TEST_PAUSE_AT=PHASE holds the run
# for this many seconds as it enters PHASE, having said so on stderr, so that a signal
# lands in that phase. Every record names the variable among its env_vars.
TEST_PAUSE_S = 2.0


def _pause_for_tests():
    if os.environ.get("BENCH_TEST_PAUSE_AT") == _state["phase"] and \
            _state["phase"] not in _state["paused"]:
        _state["paused"].add(_state["phase"])
        sys.stderr.write("pausing at %s\n" % _state["phase"])
        sys.stderr.flush()
        time.sleep(TEST_PAUSE_S)  # a signal's handler runs, and the pause goes on


_SIGNALS = [getattr(signal, name) for name in ("SIGTERM", "SIGINT") if hasattr(signal, name)]


def hold():
    """Call first thing in the process: a signal that comes before the run installs its
    handler (while the command line is read) is kept for the run, which then stops at
    its first check and writes its file, instead of dying without one."""
    def keep(signum, frame):
        _state["signals"] += 1
        if _state["signal"] is None:
            _state["signal"], _state["signal_at"] = signum, time.time()
    for signum in _SIGNALS:
        signal.signal(signum, keep)
    _pause_for_tests()


def release():
    """The process runs no measurement of its own (a sweep, a rerun): signals act as
    Python's defaults again, and one kept meanwhile acts now."""
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if hasattr(signal, "SIGTERM"):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if _state["signal"] is not None:
        os.kill(os.getpid(), _state["signal"])


def install(on_deadline, grace_s=DEFAULT_GRACE_S):
    """Handle SIGTERM and SIGINT for this process (the main thread only can).

    `on_deadline()` runs in the watchdog thread `grace_s` seconds after the first
    signal, or at once on the second, unless the run has ended by then; when it
    returns True (it wrote the result), or fails, the process exits with 1.
    """
    _state["grace_s"] = grace_s

    def watch(delay):
        watchdog = threading.Timer(delay, _finish, (on_deadline,))
        watchdog.daemon = True
        watchdog.start()

    def handler(signum, frame):
        _state["signals"] += 1
        if _state["signal"] is None:
            _state["signal"], _state["signal_at"] = signum, time.time()
            watch(grace_s)
        else:  # asked twice: write the result as it stands now, wherever the run is
            watch(0)

    for signum in _SIGNALS:
        signal.signal(signum, handler)
    if _state["signal"] is not None:  # kept since the process started (hold)
        watch(0 if _state["signals"] > 1 else grace_s)


def _finish(on_deadline):
    """The watchdog: write the result unless the run has, then end the process. Its
    own failure is said on stderr before the exit, never silent."""
    try:
        wrote = on_deadline()
    except BaseException:  # noqa: B036 - the process ends here either way: say why
        try:
            sys.stderr.write("error: the stop's watchdog could not write the result:\n%s"
                             % traceback.format_exc())
            sys.stderr.flush()
        finally:
            os._exit(1)
    if wrote:
        sys.stderr.flush()
        os._exit(1)
