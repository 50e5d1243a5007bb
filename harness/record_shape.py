"""The result record's shape, described once: each field that a record promises or that
a reader reads, with its check, the statuses that need it, and a sample value.

From it come schema.validate's checks of every record written and read (WRITTEN), the
collector's checks of what its output reads (READ, collector/records.checked), and the
tests' sample records (`sample`). Standard library only, as schema.py.
"""
import copy
from collections import namedtuple

from harness.collector.labels import PHASES

SCHEMA_VERSION = 3
STATUSES = ("ok", "error", "skipped", "interrupted")
# The software a run ran on, from its environment: part of what makes two runs repeats.
ENVIRONMENT_IDENTITY = ("backend_package", "backend_version", "keras_version")
# No figure of a run comes near this; a larger one (or 1e400, read as infinity) is
# not a measurement, and would overflow the statistics or a chart's axis.
NUMBER_LIMIT = 1e15
NUMBER_TYPES = (int, float)


def is_number(value):
    """Whether a value read from JSON is a number (true and false are not): its exact type,
    which is a quarter of isinstance's cost over the hundreds of thousands of values read."""
    return value.__class__ in NUMBER_TYPES


# path: the keys from the record down (`*`: each item of a list); check: None where a
# value is good, else what it should be; needed_by: the statuses whose records must
# have it; sample: a value that passes, for the tests' records.
Field = namedtuple("Field", ("path", "check", "needed_by", "sample"))


def _of_type(kind):
    """The writer's checks: a JSON type, named as Python names it."""
    def check(value):
        return None if isinstance(value, kind) else "a %s" % kind.__name__
    return check


def _present(value):
    return None


def _string(value):
    return None if isinstance(value, str) else "a string"


def _bool(value):
    return None if isinstance(value, bool) else "true or false"


def _one_of(choices):
    def check(value):
        return None if isinstance(value, str) and value in choices else \
            "one of %s" % ", ".join(choices)
    return check


def _strings(value):
    good = isinstance(value, list) and all(isinstance(item, str) for item in value)
    return None if good else "a list of strings"


def _whole(lowest):
    """Whole numbers from `lowest` up (GPUs may be 0, devices and batches not)."""
    def check(value):
        # JSON's integers are of class int exactly (true and false are bools)
        good = value.__class__ is int and lowest <= value <= NUMBER_LIMIT
        return None if good else "an integer of at least %d" % lowest
    return check


def _real(lowest, above=False):
    """Finite numbers from `lowest` (strictly above it with `above`) up to NUMBER_LIMIT.
    The two bounds also keep out NaN (no comparison holds) and the infinities."""
    problem = "a number %s %g" % ("above" if above else "of at least", lowest)
    if above:
        def check(value):
            return None if is_number(value) and lowest < value <= NUMBER_LIMIT else problem
    else:
        def check(value):
            return None if is_number(value) and lowest <= value <= NUMBER_LIMIT else problem
    return check


ANY_STATUS = STATUSES
OK_ONLY = ("ok",)
NOT_OK = tuple(status for status in STATUSES if status != "ok")
OPTIONAL = ()

# What every record holds, checked as it is written and as it is read (schema.validate).
REQUIRED = tuple(Field((name,), _of_type(kind), ANY_STATUS, sample) for name, kind, sample in (
    ("schema_version", int, SCHEMA_VERSION), ("run_id", str, "run00000001"),
    ("status", str, "ok"), ("started_at", str, "2026-03-01T10:00:00.000000+00:00"),
    ("finished_at", str, "2026-03-01T11:00:00+00:00"),
    ("command", list, ["python", "-m", "harness", "mlp"]), ("config", dict, {}),
    ("asked", dict, {}), ("environment", dict, {})))
# What an 'ok' record's metrics hold, and what any other record has instead.
OK_METRICS = tuple(Field(("metrics", name), _present, OK_ONLY, sample) for name, sample in (
    ("unit", "images"), ("throughput", {}), ("step_ms", {}), ("measured", {}), ("warmup", {})))
ERROR = Field(("error",), _of_type(dict), NOT_OK,
              {"type": "RuntimeError", "message": "it broke",
               "traceback": "Traceback (most recent call last): ..."})

# Every field that a table, the chart, an export or a comparison reads. A field that a
# record of its status needs is there and passes its check, or the record is skipped;
# any other field is None or passes, or it is emptied (set to None). A config field
# that only becomes text (str()) in a cell is not listed: any JSON value prints.
# (_SAMPLES: a value of each of them some status needs.)
_SAMPLES = {("config", "model"): "mlp", ("config", "backend"): "jax",
            ("config", "dataset"): "synthetic", ("config", "global_batch_size"): 32,
            ("config", "devices"): 1, ("metrics", "throughput", "median"): 100.0,
            ("metrics", "step_ms", "median"): 320.0, ("metrics", "measured", "seconds"): 6.4,
            ("metrics", "measured", "epochs"): 2}
_READ = tuple(
    [(("config", name), _string, ANY_STATUS) for name in ("model", "backend", "dataset")]
    + [(("config", name), _whole(1), OK_ONLY) for name in ("global_batch_size", "devices")]
    + [(("metrics", section, name), _real(0, above=True), OK_ONLY)
       for section, name in (("throughput", "median"), ("step_ms", "median"),
                             ("measured", "seconds"), ("measured", "epochs"))]
    # Optional: in sets, dict look-ups and joined labels (so hashable text or numbers).
    + [(("config", name), _string, OPTIONAL) for name in (
        "instance", "data_format", "method", "precision", "device_kind", "parallel",
        "keras_api", "jit_compile")]
    + [(("environment", name), _string, OPTIONAL) for name in ENVIRONMENT_IDENTITY]
    + [(("config", name), _whole(0), OPTIONAL) for name in ("gpus", "repeat_index")]
    + [(("metrics", "measured", "steps"), _whole(1), OPTIONAL)]
    + [(("config", name), _whole(1), OPTIONAL) for name in (
        "resnet_version", "resnet_layers", "image_size", "device_batch_size", "cpu_devices")]
    + [(("config", name), _bool, OPTIONAL) for name in ("inference", "profile")]
    + [(("metrics", "unit"), _string, OPTIONAL),
       (("metrics", "memory", "source"), _string, OPTIONAL),
       (("metrics", "loss"), _real(-NUMBER_LIMIT), OPTIONAL),
       (("metrics", "accuracy"), _real(-NUMBER_LIMIT), OPTIONAL),
       (("metrics", "memory", "peak_mb"), _real(0), OPTIONAL),
       (("metrics", "telemetry", "gpu", "available"), _bool, OPTIONAL),
       (("metrics", "telemetry", "gpu", "devices", "*", "util_percent", "mean"), _real(0),
        OPTIONAL),
       (("metrics", "telemetry", "gpu", "devices", "*", "memory_used_mb", "peak"), _real(0),
        OPTIONAL),
       (("error", "type"), _string, OPTIONAL), (("error", "message"), _string, OPTIONAL),
       # What defines the workload (harness.workload_digest); records from before it have none.
       (("workload", "digest"), _string, OPTIONAL),
       # The stability verdict (timing.stability); records from before it have none.
       (("metrics", "stability", "verdict"), _one_of(("stable", "unstable")), OPTIONAL),
       (("metrics", "stability", "failed"), _strings, OPTIONAL),
       (("metrics", "stability", "cv_pct"), _real(0), OPTIONAL),
       # What the measured epochs cost (harness.energy); records from before it have none.
       (("metrics", "energy", "joules_per_sample"), _real(0), OPTIONAL),
       (("metrics", "energy", "source"), _string, OPTIONAL),
       # Each epoch's samples and seconds: the significance test's samples.
       (("samples", "epochs", "*", "samples"), _real(0), OPTIONAL),
       (("samples", "epochs", "*", "seconds"), _real(0), OPTIONAL),
       # Theano's BLAS (harness/backends/theano_blas.py); other records have none.
       (("environment", "blas", "linked"), _bool, OPTIONAL)]
    + [(("environment", "blas", name), _string, OPTIONAL)
       for name in ("ldflags", "library", "version")]
    + [(("metrics", "phases", name), _real(0), OPTIONAL) for name in PHASES])
READ = tuple(Field(path, check, needed_by, _SAMPLES.get(path)) for path, check, needed_by in _READ)


def sample(status="ok"):
    """The smallest record of `status` that the writer and every reader take: the sample
    of each field that status needs."""
    record = {}
    for field in REQUIRED + OK_METRICS + (ERROR,) + READ:
        if status in field.needed_by:
            holder = record
            for step in field.path[:-1]:
                holder = holder.setdefault(step, {})
            holder.setdefault(field.path[-1], copy.deepcopy(field.sample))
    record["status"] = status
    return record
