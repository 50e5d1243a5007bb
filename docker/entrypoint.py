"""Every image's entrypoint: `python -m harness` with the user's arguments, set up first.

Before Keras is imported it
- stops at once when the image's CUDA cannot drive the GPUs it was given
  (BENCH_MAX_COMPUTE_CAPABILITY, set by the cu90 image), instead of letting
  the framework hang for half an hour in a PTX JIT compile;
- writes keras.json in a fresh home folder: the backend and the data format
  (Keras 2 reads image_data_format only from that file; --backend and
  --data-format beat the image's KERAS_BACKEND and BENCH_DATA_FORMAT);
- runs as the owner of the results folder, so the files a run writes on a
  mounted host folder belong to the host user who owns it, not to root;
- names no fallback folder for a result its folder refuses (BENCH_FALLBACK_DIR
  empty, unless given): the container's home and /tmp go with `docker compose
  run --rm`, so such a result is printed whole on stderr, where the user reads it.

Runs on the images' oldest Python (3.6) and imports nothing outside the
standard library.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))  # holds harness/
MODERN_IMAGES = "tensorflow-cuda, jax-cuda or torch-cuda"
# GPU names of generations after Volta, for drivers too old to report compute_cap.
_NEWER_THAN_VOLTA = re.compile(r"\bRTX\b|\bGTX 16\d\d|\b(?:T|A|L|H|B|GH|GB)\d+")


def option(argv, name):
    """The value of `--name X` or `--name=X` in argv (the last one wins), else None."""
    value = None
    for i, arg in enumerate(argv):
        if arg == name and i + 1 < len(argv):
            value = argv[i + 1]
        elif arg.startswith(name + "="):
            value = arg[len(name) + 1:]
    return value


def wants_gpu(argv):
    """Whether this command may put work on a GPU (help and CPU-only runs do not)."""
    if not argv or {"-h", "--help"} & set(argv):
        return False
    if os.environ.get("CUDA_VISIBLE_DEVICES") in ("", "-1"):
        return False
    return option(argv, "--gpus") != "0"


def gpus():
    """(name, compute capability or None) of each GPU the container was given."""
    for query in ("name,compute_cap", "name"):
        try:
            out = subprocess.check_output(
                ["nvidia-smi", "--query-gpu=" + query, "--format=csv,noheader"],
                stderr=subprocess.DEVNULL, universal_newlines=True, timeout=30)
        except OSError:
            return []  # no driver in this container: nothing to check
        except subprocess.SubprocessError:
            continue  # older drivers know no compute_cap field: ask for the name alone
        return [_parse(line) for line in out.strip().splitlines()]
    return []


def _parse(line):
    fields = [f.strip() for f in line.split(",")]
    try:
        return fields[0], float(fields[1])
    except (IndexError, ValueError):  # only the name was asked for, or "[N/A]"
        return fields[0], None


def too_new(max_capability):
    """The GPUs this image's CUDA cannot drive, as 'name (compute capability)'."""
    refused = []
    for name, capability in gpus():
        if capability is None and _NEWER_THAN_VOLTA.search(name):
            refused.append(name)
        elif capability is not None and capability > max_capability:
            refused.append("%s (compute capability %s)" % (name, capability))
    return refused


def check_gpus(argv):
    limit = os.environ.get("BENCH_MAX_COMPUTE_CAPABILITY")
    if not limit or not wants_gpu(argv):
        return
    refused = too_new(float(limit))
    if refused:
        sys.stderr.write(
            "error: this image's CUDA (%s) drives GPUs up to compute capability %s; it was given "
            "%s. Its kernels would be JIT-compiled from PTX for half an hour or more, or not run "
            "at all. Use a modern image (%s), run on the CPU with --gpus 0, or give this "
            "container only older GPUs.\n"
            % (os.environ.get("CUDA_VERSION", "unknown"), limit, ", ".join(refused), MODERN_IMAGES))
        sys.exit(2)


def results_owner(argv):
    """(uid, gid) of the folder the results go to, or of its nearest existing parent."""
    folder = os.path.abspath(option(argv, "--out") or "results")
    while not os.path.exists(folder):
        folder = os.path.dirname(folder)
    info = os.stat(folder)
    return info.st_uid, info.st_gid


def keras_home(backend, data_format, uid, gid):
    """A new home folder with a keras.json for this run, owned by the run's user."""
    home = tempfile.mkdtemp(prefix="bench-home-")
    keras_dir = os.path.join(home, ".keras")
    os.mkdir(keras_dir)
    config = {"image_data_format": data_format or "channels_last", "floatx": "float32",
              "epsilon": 1e-07}
    if backend:
        config["backend"] = backend
    with open(os.path.join(keras_dir, "keras.json"), "w") as f:
        json.dump(config, f)
    if os.getuid() == 0:
        for path in (home, keras_dir, os.path.join(keras_dir, "keras.json")):
            os.chown(path, uid, gid)
    return home


def main(argv):
    check_gpus(argv)
    env = dict(os.environ)
    backend = option(argv, "--backend") or env.get("KERAS_BACKEND")
    data_format = option(argv, "--data-format") or env.get("BENCH_DATA_FORMAT")
    uid, gid = results_owner(argv)
    home = keras_home(backend, data_format, uid, gid)
    env.update(HOME=home, KERAS_HOME=os.path.join(home, ".keras"),
               PYTHONPATH=os.pathsep.join(p for p in (ROOT, env.get("PYTHONPATH")) if p))
    if backend:
        env["KERAS_BACKEND"] = backend
    env.setdefault("BENCH_FALLBACK_DIR", "")
    if os.getuid() == 0 and uid != 0:
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)
    os.execve(sys.executable, [sys.executable, "-m", "harness"] + argv, env)


if __name__ == "__main__":
    main(sys.argv[1:])
