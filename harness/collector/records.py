"""Reading result files: every record under a folder, each field the output reads checked.

One bad file must not cost the table of all the good ones: every field the
output reads is checked once, as a record is read (FIELDS, `checked`), so the
rendering code can trust what it gets. A file that cannot be read, or whose
required field is wrong, is named with the field and skipped; a wrong optional
field is named and emptied, and the rest of its record is shown.
"""
import json
import os
from collections import OrderedDict

from harness import schema
from harness.collector.labels import PHASES


class CollectError(Exception):
    """A reason to stop with a one-line message and a non-zero exit status."""

    exit_status = 1


class MissingPackage(CollectError):
    exit_status = 2


# The software a run ran on, from its environment: part of what makes two runs repeats.
ENVIRONMENT_IDENTITY = ("backend_package", "backend_version", "keras_version")
# No figure of a run comes near this; a larger one (or 1e400, read as infinity) is
# not a measurement, and would overflow the statistics or a chart's axis.
NUMBER_LIMIT = 1e15


def is_number(value):
    """Whether a value read from JSON is a number (true and false are not): its exact type,
    which is a quarter of isinstance's cost over the hundreds of thousands of values read."""
    return value.__class__ in NUMBER_TYPES


NUMBER_TYPES = (int, float)


def at(value, *path):
    """value[path[0]][path[1]]..., or None where a step is missing or not an object."""
    for name in path:
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value


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


ANY_STATUS = schema.STATUSES
OK_ONLY = ("ok",)
OPTIONAL = ()
# Every field that a table, the chart, an export or a comparison reads: (path, check,
# the statuses that need it). `*` is each item of a list. A field that a record of
# its status needs is there and passes its check, or the record is skipped; any
# other field is None or passes, or it is emptied (set to None). A config field
# that only becomes text (str()) in a cell is not listed: any JSON value prints.
FIELDS = tuple(
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


def result_paths(folder):
    """Every result file under `folder`, in a stable order (CollectError where there is none)."""
    if not os.path.exists(folder):
        raise CollectError("no such folder: %s" % folder)
    if not os.path.isdir(folder):
        raise CollectError("not a folder: %s" % folder)
    paths = []
    for root, folders, files in os.walk(folder):
        # Hidden names are a run still writing its file (schema.write's .partial-*);
        # RESULT.profile/ holds a profiler's trace (--profile), not results.
        folders[:] = sorted(name for name in folders
                            if not name.startswith(".") and not name.endswith(schema.PROFILE_SUFFIX))
        paths.extend(os.path.join(root, name) for name in sorted(files)
                     if name.endswith(".json") and not name.startswith("."))
    if not paths:
        raise CollectError("no result files (*.json) in %s" % folder)
    return paths


def read(path, decode=None):
    """The record in the file `path`, checked (see `checked`): (record, notes). Raises
    SchemaError or OSError where the file is no usable record. `decode`: a faster JSON
    reader of bytes (fast_decoder's) to try first; json (schema.read) has the last word."""
    if decode is not None:
        with open(path, "rb") as f:
            data = f.read()
        try:
            record = decode(data)
        except (ValueError, RecursionError):  # msgspec.DecodeError is a ValueError
            # msgspec refuses some of what json reads (1e400, a lone surrogate escape),
            # and says why in its own words: json reads it again, as without msgspec.
            pass
        else:
            return checked(schema.validate(schema.upgrade(record)))
    return checked(schema.read(path))


def fast_decoder(files):
    """msgspec's JSON reader (msgspec.json.decode: four times as fast as json, and the
    same values: integers of any size, the same nesting limit) where reading `files`
    files pays for its import (about 30 ms); None where json is the better or only choice."""
    if files < FAST_DECODER_FROM:
        return None
    try:
        from msgspec.json import decode
    except ImportError:  # an optional speed-up: the collector needs only the standard library
        return None
    return decode


# About 0.1 ms of json per 12 KB record saved, against msgspec's import.
FAST_DECODER_FROM = 300


def checked(record):
    """`record` (a valid schema record) with every field in FIELDS checked: raises SchemaError
    naming the first field its status needs that is missing or wrong; empties (sets to None)
    each other field that is wrong, and returns (record, a note per emptied field)."""
    notes = []
    for where, fields in _FIELDS_BY_STATUS[record["status"]]:
        holders = _holders(record, where)
        for name, check, needed in fields:
            found = False
            for holder in holders:
                value = holder.get(name, _ABSENT)
                if value is _ABSENT:
                    continue
                found = True
                problem = None if value is None and not needed else check(value)
                if problem is None:
                    continue
                text = "%s is %s, not %s" % (".".join(where + (name,)), _kind(value), problem)
                if needed:
                    raise schema.SchemaError(text)
                holder[name] = None
                notes.append(text + ": shown empty")
            if needed and not found:
                raise schema.SchemaError("%s is missing" % ".".join(where + (name,)))
    return record, notes


_ABSENT = object()


# Per status, FIELDS by the path of the object that holds them (each object is found once
# per record): [(path, [(name, check, whether that status needs it)])].
_FIELDS_BY_STATUS = {}
for _status in schema.STATUSES:
    _by_holder = OrderedDict()
    for _path, _check, _needed_by in FIELDS:
        _by_holder.setdefault(_path[:-1], []).append((_path[-1], _check, _status in _needed_by))
    _FIELDS_BY_STATUS[_status] = list(_by_holder.items())


def _holders(value, path):
    """The objects at `path` in the object `value`; a `*` step goes into each item of a
    list. None where the path breaks off (a step missing, or of another type)."""
    if "*" not in path:  # the common case, walked without building lists
        for step in path:
            value = value.get(step) if value.__class__ is dict else None
        return [value] if value.__class__ is dict else []
    holders = [value]
    for index, step in enumerate(path):
        if step == "*":
            holders = [item for holder in holders for item in holder]
        else:
            holders = [holder[step] for holder in holders if step in holder]
        kind = list if path[index + 1:index + 2] == ("*",) else dict
        holders = [holder for holder in holders if isinstance(holder, kind)]
    return holders


def _kind(value):
    """How a wrong value is named: its JSON type, and the value itself where short."""
    text = json.dumps(value)
    return "%s %s" % (type(value).__name__, text) if len(text) <= 40 else type(value).__name__
