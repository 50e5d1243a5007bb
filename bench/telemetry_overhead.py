"""What the telemetry sampler costs a run's throughput (the target: under 1%).

    python bench/telemetry_overhead.py [--backends tensorflow,jax,torch] [--pairs 5]
                                       [--model mlp] [--min-seconds 3] [--json PATH]
    python bench/telemetry_overhead.py --sampler-only [--pairs 5] [--json PATH]

Harness mode: runs `python -m harness MODEL --backend B` as a user does, each
run in a fresh process, with the sampler off (`--telemetry-interval 0`), at the
default interval (0.5 s) and at 0.1 s, in an order that rotates from pair to
pair so that a machine warming up or a neighbour's load favours none; reads
each run's `metrics.throughput.median` and reports, per backend and interval,
the median over the pairs of (throughput with the sampler / without). The
sampler passes when that median at the default interval is at least 0.99.
A run at a non-zero interval whose result holds no telemetry makes the
comparison void: it is reported, and fails.

Sampler-only mode: the same pairs over a fixed NumPy workload (small matrix
products in a Python loop, which contends for the interpreter lock as a
training loop does) in this process, timed with and without a sampler of the
run's GPUs (one when NVIDIA's driver lists one, else none). It measures the
sampler alone, not a backend.

Prints the figures, and writes them as JSON to bench/results/telemetry_overhead.json
or --json PATH.
"""
import argparse
import glob
import json
import os
import platform
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from harness import backends, environment, schema, telemetry  # noqa: E402
from harness.spec import KERAS3_BACKENDS  # noqa: E402

THRESHOLD = 0.99
DEFAULT_INTERVAL = 0.5
INTERVALS = (0.0, DEFAULT_INTERVAL, 0.1)  # 0: the sampler off, the baseline
DEFAULT_JSON = os.path.join(ROOT, "bench", "results", "telemetry_overhead.json")


def median(values):
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def rotated(pair):
    """The intervals in this pair's order: each goes first, second and last in turn."""
    shift = pair % len(INTERVALS)
    return INTERVALS[shift:] + INTERVALS[:shift]


def harness_throughput(model, backend, interval, min_seconds):
    """(throughput median, whether the result holds telemetry) of one run in a fresh process."""
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "harness", model, "--backend", backend, "--out", out,
                   "--telemetry-interval", repr(interval), "--min-seconds", repr(min_seconds)]
        proc = subprocess.run(command, cwd=ROOT, env=dict(os.environ, BENCH_OFFLINE="1"),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
        paths = glob.glob(os.path.join(out, "*.json"))
        if proc.returncode != 0 or len(paths) != 1:
            raise RuntimeError("%s failed (exit %d):\n%s" % (" ".join(command), proc.returncode, proc.stderr))
        record = schema.read(paths[0])
    if record["status"] != "ok":
        raise RuntimeError("%s: %s: %s" % (" ".join(command), record["status"], record["error"]["message"]))
    return record["metrics"]["throughput"]["median"], holds_summary(record)


def holds_summary(value):
    """Whether a Sampler.summary() is anywhere in `value` (a record, or a part of it)."""
    if isinstance(value, dict):
        if {"interval_s", "count", "host", "gpu"} <= set(value):
            return True
        value = list(value.values())
    return isinstance(value, list) and any(holds_summary(v) for v in value)


def sampler_only_throughput(interval, gpus, steps=150000):
    """Steps per second of a fixed NumPy workload, with a sampler at `interval` (0: none)."""
    import numpy
    a = numpy.random.RandomState(0).rand(64, 64).astype(numpy.float32)
    sampler = telemetry.Sampler(interval, gpus=gpus).start() if interval else None
    start = time.perf_counter()
    for _ in range(steps):
        b = a.dot(a)
        a = b / (1.0 + float(b[0, 0]))  # a value read back on the host each step, as a sync does
    seconds = time.perf_counter() - start
    if sampler:
        sampler.stop()
    return steps / seconds


def measure(pairs, throughput_at, say):
    """Run `pairs` rotations of INTERVALS; returns the figures of one backend (or workload)."""
    runs = {interval: [] for interval in INTERVALS}
    recorded = {interval: True for interval in INTERVALS[1:]}
    for pair in range(pairs):
        for interval in rotated(pair):
            value, has_telemetry = throughput_at(interval)
            runs[interval].append(value)
            if interval:
                recorded[interval] = recorded[interval] and has_telemetry
            say("  pair %d, interval %.1f: %.1f/s" % (pair + 1, interval, value))
    figures = {"throughput_off": runs[0.0], "intervals": {}}
    for interval in INTERVALS[1:]:
        ratios = [on / off for on, off in zip(runs[interval], runs[0.0])]
        figures["intervals"][repr(interval)] = {
            "throughput": runs[interval], "ratios": [round(r, 4) for r in ratios],
            "median_ratio": round(median(ratios), 4), "telemetry_recorded": recorded[interval]}
    default = figures["intervals"][repr(DEFAULT_INTERVAL)]
    figures["passed"] = default["telemetry_recorded"] and default["median_ratio"] >= THRESHOLD
    return figures


def parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backends", default=",".join(b for b in KERAS3_BACKENDS if backends.installed(b)),
                        help="Keras 3 backends to run (default: those installed)")
    parser.add_argument("--pairs", type=int, default=5, help="rotations of off/0.5 s/0.1 s (default: 5)")
    parser.add_argument("--model", default="mlp", help="the workload (default: mlp)")
    parser.add_argument("--min-seconds", type=float, default=3.0,
                        help="measure each run for at least this long, so that its measured "
                             "epochs span many samples (default: 3)")
    parser.add_argument("--sampler-only", action="store_true",
                        help="time the sampler over a fixed NumPy workload instead of the harness")
    parser.add_argument("--json", default=DEFAULT_JSON, help="where the figures go")
    args = parser.parse_args(argv)
    if args.pairs < 1:
        parser.error("--pairs must be at least 1")
    return args


def main(argv):
    args = parse(argv)

    def say(line):
        print(line, flush=True)

    figures = {"threshold": THRESHOLD, "pairs": args.pairs, "cpu_count": os.cpu_count(),
               "cpu_model": environment.cpu_model(), "gpus": environment.nvidia_gpus(),
               "python": platform.python_version(), "results": {}}
    if args.sampler_only:
        gpus = 1 if figures["gpus"] else 0
        figures.update(mode="sampler-only", workload="150000 steps of a 64x64 float32 matrix product",
                       sampler_gpus=gpus)
        say("sampler-only: a fixed NumPy workload, %d GPU(s) sampled" % gpus)
        figures["results"]["numpy"] = measure(
            args.pairs, lambda interval: (sampler_only_throughput(interval, gpus), True), say)
    else:
        figures.update(mode="harness", model=args.model, min_seconds=args.min_seconds)
        for backend in args.backends.split(","):
            say("%s %s:" % (args.model, backend))
            figures["results"][backend] = measure(
                args.pairs, lambda interval: harness_throughput(args.model, backend, interval,
                                                                args.min_seconds), say)
    for name, result in sorted(figures["results"].items()):
        for interval, at in sorted(result["intervals"].items()):
            say("%s, interval %s s: median ratio with/without %.4f%s" % (
                name, interval, at["median_ratio"],
                "" if at["telemetry_recorded"] else " (VOID: the results hold no telemetry)"))
        say("%s: %s (default interval %.1f s, threshold %.2f)"
            % (name, "pass" if result["passed"] else "FAIL", DEFAULT_INTERVAL, THRESHOLD))
    figures["passed"] = all(r["passed"] for r in figures["results"].values())
    os.makedirs(os.path.dirname(os.path.abspath(args.json)), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(figures, f, indent=1, sort_keys=True)
        f.write("\n")
    say("figures -> %s" % args.json)
    return 0 if figures["passed"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
