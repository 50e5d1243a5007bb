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

from harness import record_shape, schema
from harness.record_shape import (  # noqa: F401 - the collector's modules take them from here
    ENVIRONMENT_IDENTITY, NUMBER_LIMIT, NUMBER_TYPES, is_number)


class CollectError(Exception):
    """A reason to stop with a one-line message and a non-zero exit status."""

    exit_status = 1


class MissingPackage(CollectError):
    exit_status = 2


# Every field the output reads (record_shape.READ): (path, check, the statuses that need it).
FIELDS = tuple(field[:3] for field in record_shape.READ)


def at(value, *path):
    """value[path[0]][path[1]]..., or None where a step is missing or not an object."""
    for name in path:
        if not isinstance(value, dict):
            return None
        value = value.get(name)
    return value


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
