"""How long a user waits for the shortest run and for --help: start-up, not training.

    python bench/startup.py [--backends jax,torch] [--repeats 5] [--quick]

Times, in fresh processes, `python -m harness mlp --backend B --epochs 1
--steps-per-epoch 1 --min-seconds 0` (interpreter, Keras and one framework, one tiny
compiled step, the result file) on each backend, and `python -m harness
--help`. Reports the median and the range of the wall times, and which
frameworks each run loaded (a JAX or PyTorch run that loads TensorFlow pays
seconds for it). Targets: the JAX run under 8 s, --help under 0.3 s.
"""
import os
import subprocess
import sys
import tempfile
import time

import common

TARGETS = {"jax": 8.0, "help": 0.3}


def wall_time(args):
    """Seconds `python -m harness ARGS` takes in a fresh process, and the result it wrote."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "harness"] + args
        if args[0] != "--help":
            command += ["--out", out]
        started = time.perf_counter()
        proc = subprocess.run(command, cwd=common.ROOT, env=common.child_environment(),
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              universal_newlines=True)
        seconds = time.perf_counter() - started
        if proc.returncode != 0:
            raise RuntimeError("%s failed:\n%s" % (" ".join(command), proc.stderr[-3000:]))
        found = [common.schema.read(os.path.join(out, name)) for name in os.listdir(out)
                 if name.endswith(".json")]
    return seconds, found[0] if found else None


def measure(name, command, repeats):
    """The wall times of `command`, run `repeats` times, and what its last run recorded."""
    timed = [wall_time(command) for _ in range(repeats)]
    seconds = [s for s, _ in timed]
    record = timed[-1][1]
    entry = {"command": "python -m harness " + " ".join(command), "repeats": repeats,
             "seconds": seconds, "median_s": common.median(seconds),
             "frameworks_loaded": record and record["environment"]["frameworks_loaded"],
             "import_s": record and record["metrics"]["phases"]["import_s"],
             "target_s": TARGETS.get(name)}
    entry["passed"] = entry["target_s"] is None or entry["median_s"] < entry["target_s"]
    print("%-60s median %.2f s (%.2f-%.2f)%s" % (
        entry["command"], entry["median_s"], min(seconds), max(seconds),
        "" if entry["target_s"] is None else ", target %.1f s: %s" % (
            entry["target_s"], "passed" if entry["passed"] else "FAILED")), flush=True)
    return entry


def main():
    options = common.parser("startup", __doc__.splitlines()[0])
    options.add_argument("--repeats", type=int, help="processes per command (default: 5; "
                                                     "--quick: 1)")
    args = common.parse(options)
    repeats = args.repeats or (1 if args.quick else 5)
    shortest = ["--epochs", "1", "--steps-per-epoch", "1", "--min-seconds", "0"]
    runs = [dict(measure(b, ["mlp", "--backend", b] + shortest, repeats), model="mlp", backend=b)
            for b in args.backends]
    help_ = measure("help", ["--help"], repeats)
    return common.report("startup", args, "jax mlp of one step < 8 s, --help < 0.3 s",
                         {"configurations": runs, "help": help_},
                         all(r["passed"] for r in runs + [help_]))


if __name__ == "__main__":
    raise SystemExit(main())
