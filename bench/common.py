"""What the harness's own benches share: their command line, running the harness as a
user does and reading its results, the statistics, and the JSON they write (their
figures, the machine, the command that reproduces them, pass or fail)."""
import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from harness import backends, environment, schema, timing  # noqa: E402
from harness.spec import KERAS3_BACKENDS  # noqa: E402

# The versions worth naming beside a figure; environment.snapshot() lists every package.
PACKAGES = ("keras", "tensorflow", "tensorflow-cpu", "jax", "jaxlib", "torch", "numpy")


def parser(name, description):
    """The options every bench takes: --backends, --quick, --json."""
    options = argparse.ArgumentParser(prog="python bench/%s.py" % name, description=description)
    installed = [b for b in KERAS3_BACKENDS if backends.installed(b)]
    options.add_argument("--backends", type=lambda text: text.split(","), default=installed,
                         help="comma-separated Keras 3 backends (default: every installed one, %s)"
                              % ",".join(installed))
    options.add_argument("--quick", action="store_true",
                         help="a smoke run: few steps and repeats (its figures prove nothing)")
    options.add_argument("--json", default=os.path.join(ROOT, "bench", "results", name + ".json"),
                         help="where the figures go (default: bench/results/%s.json)" % name)
    return options


def parse(options):
    """The bench's arguments, stamped with when it started and how loaded the machine was:
    on a 2-core machine another busy process moves every figure."""
    args = options.parse_args()
    args.started, args.load_before = time.time(), os.getloadavg()
    return args


def child_environment():
    """The environment of the processes a bench starts: unbuffered, offline, quiet TensorFlow."""
    return dict(os.environ, PYTHONUNBUFFERED="1", BENCH_OFFLINE="1", TF_CPP_MIN_LOG_LEVEL="2")


def run_harness(args, variables=None):
    """`python -m harness ARGS` in a fresh process, with the environment `variables` added;
    returns the records it wrote."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "harness"] + [str(a) for a in args] + ["--out", out]
        proc = subprocess.run(command, cwd=ROOT, env=dict(child_environment(), **(variables or {})),
                              stderr=subprocess.PIPE,
                              stdout=subprocess.DEVNULL, universal_newlines=True)
        records = [schema.read(path) for path in sorted(glob.glob(os.path.join(out, "*.json")))]
    failed = [r for r in records if r["status"] != "ok"]
    if proc.returncode != 0 or failed or not records:
        raise RuntimeError("%s failed (exit code %d):\n%s" % (" ".join(command), proc.returncode,
                                                              proc.stderr[-3000:]))
    return records


def run_python(script, args):
    """`python SCRIPT ARGS` in a fresh process; returns the JSON its last stdout line holds."""
    command = [sys.executable, os.path.join(ROOT, script)] + [str(a) for a in args]
    proc = subprocess.run(command, cwd=ROOT, env=child_environment(), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True)
    if proc.returncode != 0:
        raise RuntimeError("%s failed (exit code %d):\n%s" % (" ".join(command), proc.returncode,
                                                              proc.stderr[-3000:]))
    return json.loads(proc.stdout.splitlines()[-1])


def median(values):
    return timing.stats(values)["median"]


def variation(values):
    """Coefficient of variation: sample standard deviation over the mean."""
    figures = timing.stats(values)
    return figures["stdev"] / figures["mean"]


def machine():
    """The host a figure was measured on: CPU, cores, memory, GPUs, Python, versions, commit."""
    host = environment.snapshot()
    keep = ("cpu_model", "cpu_cores", "cpu_cores_usable", "memory_bytes", "gpus", "platform",
            "python", "git_commit", "in_container", "image")
    described = {key: host[key] for key in keep}
    described["packages"] = {name: version for name, version in host["packages"].items()
                             if name in PACKAGES}
    return described


def report(name, args, target, figures, passed):
    """Write the bench's figures as JSON to `args.json` and say where; returns the exit code."""
    document = {
        "bench": name,
        "command": [os.path.relpath(sys.executable, ROOT), "bench/%s.py" % name] + sys.argv[1:],
        "quick": args.quick,
        "target": target,
        "passed": passed,
        "figures": figures,
        "seconds": round(time.time() - args.started),
        "load_average_before": args.load_before,  # 1, 5 and 15 minutes
        "load_average_after": os.getloadavg(),
        "machine": machine(),
    }
    folder = os.path.dirname(os.path.abspath(args.json))
    os.makedirs(folder, exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(document, f, indent=1, sort_keys=True)
        f.write("\n")
    print("%s: %s against the target (%s); figures in %s"
          % (name, "passed" if passed else "FAILED", target, args.json))
    return 0 if passed else 1
