"""A workload's identity: a digest of the source files that define what a run computes.

Two runs measure the same workload when the same code built the same network with the
same recipe on the same data: the model's module (its architecture and RECIPE) and what
all models share, the data's generator or loader, and for a native backend the
network written on that framework. The digest hashes those files' bytes (line ends
made "\\n", so that a checkout's line ends do not count), so it needs no framework,
and is the same on every machine for the same code. The runner records it in every
result (`workload`); `compare` and `rerun` refuse to call a changed network a
speed-up. What a run is asked to do (batch, devices, precision...) is in its config.
"""
import hashlib
import os

HARNESS = os.path.dirname(os.path.abspath(__file__))
NATIVE_PREFIX = "native-"


def sources(model, dataset, backend):
    """The files, relative to harness/, that define the workload, sorted."""
    files = ["models/__init__.py", "models/%s.py" % model, "datasets/__init__.py"]
    if dataset != "synthetic":
        files += ["datasets/%s.py" % dataset, "datasets/files.py"]
    if backend.startswith(NATIVE_PREFIX):
        framework = backend[len(NATIVE_PREFIX):]
        native = os.path.join(HARNESS, "backends", "native")
        files += ["backends/native/" + name for name in sorted(os.listdir(native))
                  if name == "__init__.py" or name.startswith(framework) and name.endswith(".py")]
    return sorted(set(files))


def compute(model, dataset, backend):
    """{"digest": "sha256:...", "files": {path: sha256 of its bytes, or None if missing}}
    for the workload of a run of `model` on `dataset` with `backend`."""
    files = dict((path, file_digest(os.path.join(HARNESS, path)))
                 for path in sources(model, dataset, backend))
    return {"digest": combined(files), "files": files}


def file_digest(path):
    """The sha256 of a file's bytes with its line ends made "\\n"; None where it is missing."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (IOError, OSError):
        return None
    return hashlib.sha256(data.replace(b"\r\n", b"\n")).hexdigest()


def combined(files):
    """One digest of {path: file digest}: the paths and their digests, in path order."""
    text = "".join("%s\0%s\n" % (path, files[path]) for path in sorted(files))
    return "sha256:" + hashlib.sha256(text.encode("utf-8")).hexdigest()


def changed(recorded, current):
    """The files whose digest differs between two `compute` results (or that only one
    has), sorted; empty when the workloads are the same."""
    before, after = recorded.get("files") or {}, current.get("files") or {}
    return sorted(path for path in set(before) | set(after) if before.get(path) != after.get(path))
