"""A run's record as the run builds it, and the one document it is written as.

The parts stay apart while the run goes on: what was asked (the spec's fields), what
this machine and backend resolved it to (Placement, Workload, the calibration), the
environment, and what was measured, the epochs as they finish. `document` puts them
together as schema.py's record; a stop's watchdog may call it at any moment from
another thread, so it copies each live part with one C-level call (the GIL holds no
other thread meanwhile) instead of reading what the run is still changing.
"""
from collections import namedtuple

from harness import schema, stopping, timing

# What the backend and this machine made of the spec before anything ran (runner.resolve).
Placement = namedtuple("Placement", (
    "gpus", "devices", "processes", "nodes", "devices_per_process", "launcher",
    "device_kind", "parallel", "global_batch_size", "device_batch_size", "data_format",
    "unit", "instance", "keras_api", "timing"))
# What the data set and the built model came to (runner.measure): the steps of an epoch
# (config.steps_per_epoch: the warm-up's, or as asked), where the data came from, and
# what the backend compiled.
DataResolved = namedtuple("DataResolved", ("steps_per_epoch", "data_provenance",
                                           "data_fingerprint"))
ModelResolved = namedtuple("ModelResolved", ("jit_compile_resolved", "optimizer", "parameters"))
# The measured epochs' steps chosen from the warm-up's pace (harness.calibration).
Calibrated = namedtuple("Calibrated", ("calibration",))

# How the run ended: its status and error, its metrics, and whether its samples are kept
# (a job failed by its other ranks keeps none).
Outcome = namedtuple("Outcome", ("status", "error", "metrics", "keeps_samples"))
# Until the run says otherwise: what a write before its end would say.
_UNDECIDED = Outcome("interrupted", None, None, True)


class RunRecord(object):
    """One run's record: `asked`, the spec's fields (with run_id); `resolved`, what this
    machine made of them, in the order it was found out; `phases` (None until the
    measurement starts) and `epochs` (harness.timing.Recorder's list), live; `metrics`
    and `telemetry` (the sampler's samples), at the measurement's end; `outcome`."""

    def __init__(self, asked, command, run_id):
        self.run_id = run_id
        self.command = list(command)
        self.asked = dict(asked)
        self.started_at = schema.now()
        self.resolved = []
        self.workload = None
        self.environment = {}
        self.profile = None  # {"tool", "path"} of the framework's trace, with --profile
        self.phases = None
        self.epochs = None
        self.telemetry = None
        self.metrics = None
        self.outcome = _UNDECIDED

    def resolve(self, values):
        """Add `values` (a Placement, DataResolved, ModelResolved or Calibrated)."""
        self.resolved.append(values)

    @property
    def placement(self):
        """The Placement resolved, or None before it was."""
        return next((values for values in self.resolved if isinstance(values, Placement)), None)

    def config(self):
        """What ran: the asked fields, each resolved one as this machine resolved it."""
        config = dict(self.asked)
        for values in list(self.resolved):
            config.update(values._asdict())
        return config

    def file_name(self):
        """The result file's name (schema.file_name)."""
        return schema.file_name({"started_at": self.started_at, "run_id": self.run_id,
                                 "config": self.asked})

    def ok(self):
        """The outcome of a run that measured all it was asked to."""
        return Outcome("ok", None, dict(self.metrics, phases=dict(self.phases)), True)

    @staticmethod
    def skipped(reason):
        """The outcome of a run the backend cannot run here: nothing of it was measured."""
        return Outcome("skipped", {"type": "Unsupported", "message": reason, "traceback": None},
                       None, True)

    def ended_early(self, status, error):
        """The outcome of a run that ended before its end (interrupted, or failed): where
        it ended (the phase now), its samples as they stand, and the statistics over its
        finished measured epochs (marked partial), or none where none finished."""
        epochs = [e for e in list(self.epochs or ()) if e["seconds"] is not None]
        error = dict(error, phase=stopping.phase(), epochs_finished=len(epochs))
        try:
            metrics = timing.summarize(epochs, self.asked.get("warmup") or 0,
                                       self.config().get("unit"))
        except (ValueError, TypeError):  # no measured epoch finished
            return Outcome(status, error, None, True)
        phases = dict(self.phases) if self.phases is not None else None
        metrics.update(partial=True, phases=phases)
        return Outcome(status, error, metrics, True)

    @staticmethod
    def failed_by_peers(error):
        """The outcome the peer watcher writes: other ranks failed; no metrics."""
        return Outcome("error", error, None, False)

    def document(self, outcome=None):
        """The record as schema.write takes it, with `outcome` (default: the run's own)."""
        outcome = outcome or self.outcome
        samples = None
        if outcome.keeps_samples and self.epochs is not None:
            samples = {"epochs": [_epoch_copy(epoch) for epoch in list(self.epochs)],
                       "telemetry": self.telemetry}
        document = schema.new_record(self.asked, self.command, self.run_id)
        document.update(status=outcome.status, error=outcome.error, started_at=self.started_at,
                        config=self.config(), metrics=outcome.metrics, samples=samples,
                        profile=self.profile, workload=self.workload,
                        environment=dict(self.environment))
        return document


def _epoch_copy(epoch):
    """An epoch of Recorder.epochs as it stands: its step lists grow while the run goes
    on (its keys do not)."""
    return {name: list(value) if isinstance(value, list) else value
            for name, value in epoch.items()}
