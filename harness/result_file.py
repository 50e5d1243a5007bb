"""The run's one result file: written once, at the run's end or by a stop's watchdog.

A run leaves exactly one file whatever happens; where its folder fails (a full
disk), a fallback folder takes it, and where none does the record goes to stderr.
In a job of several processes only rank 0 writes.
"""
import json
import sys
import threading
import traceback

from harness import cluster, console, environment, schema, stopping


class WriteOnce(object):
    """Writes the run's record exactly once: at the run's end, or, when a stop request
    finds no step end in time, from the stop's watchdog thread as it stands then.
    `record`: the run's harness.run_record.RunRecord, which the watchdog writes."""

    def __init__(self, record, out):
        self._record, self._out = record, out
        self._lock = threading.Lock()
        self.path = None

    def __call__(self, document):
        """The run's end: write its `document`, unless the watchdog has; returns the path."""
        self._write(document)
        return self.path

    def as_interrupted(self):
        """The watchdog's write: interrupted, with the epochs finished so far and what
        the main thread was doing; a run that had reached its end is written as it
        ended. False when the run's own end has written the record already."""
        if stopping.phase() == stopping.FINAL_WRITE:  # its outcome decided: keep it
            return self._write_as_it_stands(self._record.outcome)
        frame = sys._current_frames().get(threading.main_thread().ident)
        why = "a second signal came" if stopping.signals() > 1 else \
            "no step ended within %g s of it" % stopping.grace_s()
        return self._write_as_it_stands(self._record.ended_early("interrupted", {
            "type": "StopRequested",
            "message": "%s; %s" % (stopping.stopped_by(), why),
            "traceback": "".join(traceback.format_stack(frame)) if frame else None}))

    def as_failed_by_peers(self, failures):
        """The peer watcher's write (cluster.watch_peers): other ranks failed."""
        return self._write_as_it_stands(
            self._record.failed_by_peers(cluster.peers_error(failures)))

    def _write_as_it_stands(self, outcome):
        """Write the record from another thread, with `outcome`. False when the run's own
        end has written the record already."""
        document = self._record.document(outcome)
        document["environment"].update(environment.at_end())
        if not self._write(document):
            return False
        console.report(document, self.path)
        return True

    def _write(self, record):
        """Write `record` into the run's folder, else into a fallback folder, saying so;
        where no folder takes it, print it on stderr: the measurement is never lost
        silently (the folder was checked at the start, but a disk fills up)."""
        with self._lock:
            if self.path is not None:
                return False
            record["finished_at"] = schema.now()
            try:
                self.path, failure = schema.write_or_fall_back(record, self._out)
            except BaseException as error:  # noqa: B036 - a TypeError, a SchemaError: say it all
                self.path = "stderr"
                console.say("error: the result could not be written into %s (%s: %s), nor into "
                            "%s; here it is:\n%s" % (
                                self._out, type(error).__name__, error,
                                " or ".join(schema.fallback_dirs()) or "a fallback folder",
                                json.dumps(record, sort_keys=True, default=repr)))
                return True
            if failure is not None:
                console.say("error: the result could not be written into %s (%s); it was written to "
                     "%s instead" % (self._out, failure, self.path))
            return True


class WrittenByRank0(object):
    """The writer of ranks other than 0: rank 0 writes the job's one result."""

    path = None

    def __call__(self, document):
        return None

    def as_interrupted(self):
        return True  # nothing to write: the stop's watchdog may end the process
