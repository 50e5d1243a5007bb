"""The result record: one JSON file per run, its version, and how it is written and read.

Standard library only: the runner in every image and the collector on the host share
this module and record_shape.py (the fields, described once). Its versions
(docs/schema.md tells each change): 1, the first; 2, devices, global batch, phases,
telemetry and memory (fields added since without a new version read as absent); 3,
`asked`: what the run was asked for where the run resolved it otherwise. A version-2
file is upgraded as it is read (`upgrade`), so every reader sees version 3.
"""
import ctypes
import datetime
import errno
import json
import math
import os
import tempfile
import uuid

from harness.record_shape import ERROR, OK_METRICS, REQUIRED, SCHEMA_VERSION, STATUSES

# The versions `read` takes: the current one, and those `upgrade` brings up to it.
READABLE_VERSIONS = (2, 3)
# The config fields a run resolves on its machine, where the option left them to it (or,
# for steps_per_epoch, a data set's length): config holds what ran, `asked` what was asked.
RESOLVED_FROM_ASKED = ("data_format", "gpus", "instance", "steps_per_epoch", "timing")

# metrics.energy (harness.energy): what measured the energy and the joules, or why nothing
# could; null in a job's other ranks, absent from records written before it. Checked as a
# record is written; a reader empties a wrong one (the collector's records.FIELDS) rather
# than lose the run's speed over it.
_ENERGY_MEASURED = ("source", "joules", "watts_mean", "joules_per_sample", "devices")


class SchemaError(ValueError):
    """A file that is not a result record of this schema version."""


def now():
    """The current UTC time as ISO 8601, to the microsecond."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def new_run_id():
    return uuid.uuid4().hex[:12]


def new_record(config, command, run_id):
    """A record for a run that has just started, asked for `config` (the spec's fields);
    the runner fills in the rest."""
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "status": "interrupted",  # until the run says otherwise
        "error": None,
        "started_at": now(),
        "finished_at": "",
        "command": list(command),
        "config": dict(config),
        "asked": asked_of(config),
        "metrics": None,
        "samples": None,
        "profile": None,  # {"tool", "path"} of the framework's trace, with --profile
        # {"digest", "files"}: what defines the workload (harness.workload_digest); records
        # written before it have none.
        "workload": None,
        "environment": {},
    }


def asked_of(config):
    """The record's `asked`: of the fields RESOLVED_FROM_ASKED, those the run options
    `config` hold, as given (null: left to the run)."""
    return {name: config[name] for name in RESOLVED_FROM_ASKED if name in config}


# RESULT.json's profiler trace (--profile) goes into the folder RESULT.profile beside it.
PROFILE_SUFFIX = ".profile"


def file_name(record):
    """A name two runs never share: start time, model, backend and the run id."""
    stamp = record["started_at"][:19].replace(":", "").replace("-", "")
    config = record["config"]
    return "%s_%s_%s_%s.json" % (stamp, config.get("model"), config.get("backend"), record["run_id"])


def validate(record):
    """Raise SchemaError unless `record` is a complete record of this schema version."""
    if not isinstance(record, dict):
        raise SchemaError("not a JSON object")
    version = record.get("schema_version")
    if version != SCHEMA_VERSION:
        raise SchemaError("schema version %r, this harness reads versions %s"
                          % (version, " and ".join(map(str, READABLE_VERSIONS))))
    for field in REQUIRED:
        problem = field.check(record.get(field.path[0]))
        if problem:
            raise SchemaError("field %r is missing or not %s" % (field.path[0], problem))
    if record["status"] not in STATUSES:
        raise SchemaError("unknown status %r" % record["status"])
    if record["status"] == "ok":
        metrics = record.get("metrics")
        names = [field.path[1] for field in OK_METRICS]
        if not isinstance(metrics, dict) or any(name not in metrics for name in names):
            raise SchemaError("an 'ok' record needs metrics with %s" % ", ".join(names))
    elif ERROR.check(record.get("error")):
        raise SchemaError("a %r record needs an error object" % record["status"])
    return record


def _validate_energy(energy):
    if energy is None:
        return
    if not isinstance(energy, dict):
        raise SchemaError("metrics.energy is not an object")
    if "unavailable" in energy:
        if not isinstance(energy["unavailable"], str):
            raise SchemaError("metrics.energy.unavailable is not a string")
    elif any(k not in energy for k in _ENERGY_MEASURED):
        raise SchemaError("metrics.energy needs 'unavailable' (why) or %s"
                          % ", ".join(_ENERGY_MEASURED))


def write(record, out_dir):
    """Write `record` into `out_dir` atomically and return its path.

    The file appears whole or not at all (a temporary file, then linked to its name,
    which fails where the name is taken: two writers of one name never overwrite each
    other), and the folder is synced, so the name survives a crash too. It is readable
    as the umask allows (0644 under the usual 022: a shared results folder is read by
    others), not mkstemp's 0600.
    """
    record = finite(record)
    validate(record)
    if record["status"] == "ok":
        _validate_energy(record["metrics"].get("energy"))
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, file_name(record))
    tmp = os.path.join(out_dir, ".partial-%s.json" % uuid.uuid4().hex)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(record, f, indent=1, sort_keys=True, allow_nan=False)
            f.write("\n")
            f.flush()
            os.fsync(f.fileno())
        _publish(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    _sync_folder(out_dir)
    return path


def fallback_dirs():
    """Where a record goes when its own folder cannot take it: the user's cache folder,
    then the system's temporary folder (the first of them that can be written); or the
    folder $BENCH_FALLBACK_DIR names, and none where it is empty (then the record goes
    whole to stderr: the images set it so, as their home and /tmp go with the container)."""
    if "BENCH_FALLBACK_DIR" in os.environ:
        return [os.environ["BENCH_FALLBACK_DIR"]] if os.environ["BENCH_FALLBACK_DIR"] else []
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return [os.path.join(cache, "keras-bench", "results"),
            os.path.join(tempfile.gettempdir(), "keras-bench-results")]


def write_or_fall_back(record, out_dir):
    """Write `record` into `out_dir`, or, where that fails (disk full, the folder removed
    or made read-only during the run), into the first of `fallback_dirs()` that takes it:
    a run's measurement must not be lost for want of its folder.

    Returns (path, the OSError that kept it out of `out_dir`, or None). Raises that
    error only when no fallback folder could take the record either.
    """
    try:
        return write(record, out_dir), None
    except OSError as error:
        failure = error
    for folder in fallback_dirs():
        try:
            return write(record, folder), failure
        except OSError:
            continue
    raise failure


def finite(value):
    """JSON has no NaN or infinity: a diverged loss is written as null."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def _publish(tmp, path):
    """Give the whole file `tmp` the name `path`, never replacing a file of that name
    (FileExistsError): a hard link where the file system has them, else Linux's
    rename without replacing (renameat2 RENAME_NOREPLACE)."""
    try:
        os.link(tmp, path)
        return
    except FileExistsError:
        raise
    except OSError as error:
        if error.errno not in _NO_LINKS:
            raise
    _rename_noreplace(tmp, path)


# What link() answers on a file system without hard links (some FUSE, SMB and FAT mounts).
_NO_LINKS = (errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS, errno.EMLINK)
_RENAME_NOREPLACE = 1  # linux/fs.h
_AT_FDCWD = -100


def _rename_noreplace(tmp, path):
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        raise OSError(errno.ENOSYS, "neither link() nor renameat2() can publish %s here" % path)
    if renameat2(_AT_FDCWD, os.fsencode(tmp), _AT_FDCWD, os.fsencode(path), _RENAME_NOREPLACE):
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code), path)


def _sync_folder(folder):
    """fsync the folder, so the new name is on disk (where the platform can)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse to sync a folder: the file itself is synced
        pass
    finally:
        os.close(fd)


def read(path):
    """Load and validate one result file; SchemaError says what is wrong with it.

    A record is UTF-8 JSON as `write` makes it: bytes that are not UTF-8, NaN and
    Infinity (which Python's json reads, and `write` never writes) and nesting too
    deep to parse are not a record, whatever the locale. (A number too large for a
    float, 1e400, reads as infinity: the collector's range checks refuse it, and
    `finite` keeps it out of what is written.)
    """
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f, parse_constant=_no_constant)
    except ValueError as e:  # UnicodeDecodeError included
        raise SchemaError("not valid JSON (%s)" % e)
    except RecursionError:
        raise SchemaError("not valid JSON (nested too deeply)")
    return validate(upgrade(record))


def upgrade(record):
    """`record` as the current version has it, from any of READABLE_VERSIONS (changed in
    place); anything else is returned as it is, for `validate` to refuse.

    2 -> 3: `asked` holds what a version-2 file can tell of it: steps_per_epoch, asked
    for (not null) unless the measured epochs were sized from the warm-up's pace
    (config.calibration without a reason_not), which only the default allows.
    """
    if not isinstance(record, dict) or record.get("schema_version") != 2:
        return record
    config = record.get("config")
    asked = {}
    if isinstance(config, dict) and "steps_per_epoch" in config:
        calibration = config.get("calibration")
        sized_by_pace = isinstance(calibration, dict) and calibration.get("reason_not") is None
        asked["steps_per_epoch"] = None if sized_by_pace else config["steps_per_epoch"]
    record["asked"] = asked
    record["schema_version"] = 3
    return record


def _no_constant(name):
    raise ValueError("%s is not a JSON number" % name)

