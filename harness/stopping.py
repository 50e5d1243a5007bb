"""Stopping a run on SIGTERM (`docker stop`, a sweep's timeout) or Ctrl-C, with its file.

A signal only sets a flag; the run's own loops check it at every step end
(`check`, called by the timing Recorder and the timing callback) and end
there with StopRequested. Raising from the signal handler instead lands in
whatever the main thread is running, and Keras 3 on JAX spends its time in
`pythonify_logs`, whose bare `except` swallows it: the run went on until
`docker stop` killed it, and its file was lost.

Where no step ends soon (a long compile, a slow evaluation), a watchdog
finishes the run `grace_s` seconds after the signal: it calls `on_deadline`
(which writes the interrupted result) and exits, well within Docker's 10 s.
A second signal stops at once.
"""
import os
import signal
import threading

# Seconds a run may take after a stop request to reach a step end on its own.
DEFAULT_GRACE_S = 5.0


class StopRequested(KeyboardInterrupt):
    """A stop was requested by a signal; raised where the run can stop cleanly."""


_state = {"signal": None, "grace_s": DEFAULT_GRACE_S}


def requested():
    """The number of the signal that asked the run to stop, or None."""
    return _state["signal"]


def grace_s():
    """Seconds the run is given to stop on its own after a stop request."""
    return _state["grace_s"]


def check():
    """Raise StopRequested if a stop was requested: call where the run may end."""
    if _state["signal"] is not None:
        raise StopRequested("stopped by signal %d" % _state["signal"])


def install(on_deadline, grace_s=DEFAULT_GRACE_S):
    """Handle SIGTERM and SIGINT for this process (the main thread only can).

    `on_deadline()` runs in the watchdog thread when the run has not stopped
    `grace_s` seconds after the first signal; when it returns True (it wrote the
    result), or fails, the process exits with 1 at once.
    """
    _state["grace_s"] = grace_s

    def handler(signum, frame):
        if _state["signal"] is not None:  # asked twice: stop now, wherever it is
            raise StopRequested("stopped by signal %d (twice)" % signum)
        _state["signal"] = signum
        watchdog = threading.Timer(grace_s, _finish, (on_deadline,))
        watchdog.daemon = True
        watchdog.start()

    for name in ("SIGTERM", "SIGINT"):
        if hasattr(signal, name):
            signal.signal(getattr(signal, name), handler)


def _finish(on_deadline):
    try:
        wrote = on_deadline()
    except BaseException:
        os._exit(1)
    if wrote:
        os._exit(1)
