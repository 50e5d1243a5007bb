"""How long the collector takes to render 10,000 result files (the target: under 2 s).

    python bench/collect_speed.py [OUT.json]

Writes realistic version-2 records (per-step and telemetry samples included,
data-parallel runs on several devices, native baselines, GPU telemetry and memory,
phases, numbered repeats, a few profiled, failed and skipped runs) into a
temporary folder, then times `python harness/collect.py FOLDER` as a
user runs it, interpreter start included, best of three, with the CPU seconds that
run took (its pool of readers included: on a machine busy with other work the wall
time says little, the CPU time still says what the collector costs). Two folders: a
sweep whose runs repeat a few hundred configurations, and one where every run is its
own configuration (the longest tables); and `collect.py compare` of the sweep folder
against the distinct one (20,000 files read; target 4 s); and the HTML report
(`--format html`) of each folder, with the page's size (no target: charts are
drawn by matplotlib, tens of milliseconds each). Prints the figures, and writes
them as JSON to OUT.json, or to stdout when no path is given.
"""
import itertools
import json
import os
import platform
import random
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from harness import schema  # noqa: E402

FILES = 10000
TARGET_SECONDS = 2.0
COMPARE_TARGET_SECONDS = 4.0
REPEATS = 3
STEPS, EPOCHS, WARMUP = 25, 3, 1
MODELS = {"mlp": ("synthetic", "mnist"), "cnn": ("synthetic", "cifar10"),
          "resnet": ("synthetic", "cifar10"), "resnet50": ("synthetic", "imagenet"),
          "vgg16": ("synthetic",), "lstm": ("synthetic", "nietzsche", "wikitext2")}
BACKENDS = (("tensorflow", "tensorflow-cpu", "2.21.0"), ("jax", "jax", "0.10.2"),
            ("torch", "torch", "2.13.0"), ("mxnet", "mxnet-mkl", "1.9.1"),
            ("native-jax", "jax", "0.10.2"), ("native-torch", "torch", "2.13.0"))
PARALLEL = {"tensorflow": "tf MirroredStrategy", "jax": "jax DataParallel",
            "torch": "torch DistributedDataParallel (nccl)", "mxnet": "mxnet context list",
            "native-jax": "jax DataParallel",
            "native-torch": "torch DistributedDataParallel (nccl)"}
MACHINES = (("C5.18xLarge", 0, 1), ("2-core Intel Xeon", 0, 2), ("P3.8xLarge", 1, 1),
            ("P3.8xLarge", 4, 4))  # instance, GPUs, devices trained on
TELEMETRY_SAMPLES = 20


def configurations():
    """The sweep's configurations: every model, data set, backend, machine and format."""
    for model, datasets in sorted(MODELS.items()):
        for dataset, backend, machine, data_format in itertools.product(
                datasets, BACKENDS, MACHINES, ("channels_first", "channels_last")):
            yield model, dataset, backend, machine, data_format


def record(number, model, dataset, backend, machine, data_format, batch_size, repeat_index,
           rng):
    """One run's record as the runner writes it; about one in thirty did not succeed, and
    about one in a hundred ran under the profiler."""
    name, package, version = backend
    instance, gpus, devices = machine
    run_id = "%012x" % number
    config = {"model": model, "backend": name, "dataset": dataset, "data_dir": None,
              "batch_size": batch_size, "per_device_batch": False,
              "global_batch_size": batch_size, "device_batch_size": max(1, batch_size // devices),
              "devices": devices, "device_kind": "gpu" if gpus else "cpu", "gpus": gpus,
              "cpu_devices": 1 if gpus else devices,
              "parallel": PARALLEL[name] if devices > 1 else None,
              "epochs": EPOCHS, "warmup": WARMUP,
              "steps_per_epoch": STEPS, "method": "fit", "inference": number % 7 == 0,
              "data_format": data_format, "precision": "float32",
              "seed": number, "out": "results", "instance": instance, "run_id": run_id,
              "resnet_version": 1, "resnet_layers": 20, "image_size": 224,
              "profile": number % 97 == 0, "telemetry_interval": 0.5, "repeat": 3,
              "repeat_index": repeat_index, "repeat_group": "group-%d" % (number % 1000),
              # What harness/runner.py adds once the run has resolved its defaults.
              "unit": "sequences" if model == "lstm" else "images", "keras_api": "keras3",
              "data_provenance": {}, "parameters": 669706,
              "optimizer": {"optimizer": "rmsprop", "learning_rate": 0.001,
                            "loss": "categorical_crossentropy"}}
    started = "2026-01-01T00:00:00.%06d+00:00" % (number % 1000000)
    result = schema.new_record(config, ["python", "-m", "harness", model], run_id)
    result.update(started_at=started, finished_at=started, environment={
        "keras_version": "3.15.1", "backend": name, "backend_version": version,
        "backend_package": package, "python": "3.11.7", "platform": "Linux-x86_64",
        "cpu_model": "Intel Xeon", "cpu_cores": 2, "memory_bytes": 8 << 30, "gpus": [],
        "cuda": None, "cudnn": None, "image": None, "git_commit": "0" * 40,
        "packages": {package: version, "keras": "3.15.1"}})
    fate = number % 30
    if fate == 1:
        result.update(status="error", error={"type": "RuntimeError", "message": "out of memory",
                                             "traceback": "Traceback...\n" * 20})
    elif fate == 2:
        result.update(status="skipped", error={"type": "Unsupported",
                                               "message": "%s cannot run %s" % (name, model)})
    else:
        result["status"] = "ok"
        epochs = [{"seconds": STEPS * 0.05,
                   "step_seconds": [0.05 * rng.uniform(0.9, 1.1) for _ in range(STEPS)],
                   "step_samples": [batch_size] * STEPS}
                  for _ in range(EPOCHS + WARMUP)]
        samples = [{"t": 0.5 * (i + 1), "cpu_percent": rng.uniform(90, 110),
                    "system_cpu_percent": rng.uniform(40, 60), "rss_mb": rng.uniform(2000, 2200),
                    "gpus": [{"util_percent": rng.uniform(80, 99), "memory_used_mb": 70000.0,
                              "power_w": 300.0} for _ in range(gpus)]}
                   for i in range(TELEMETRY_SAMPLES)]
        result["samples"] = {"epochs": epochs, "telemetry": samples}
        result["metrics"] = metrics(epochs, model, samples, gpus)
    return result


def metrics(epochs, model, telemetry_samples, gpus):
    """The `metrics` of a record, made the way harness.timing.summarize makes them."""
    def stats(values):
        ordered = sorted(values)
        return {"median": ordered[len(ordered) // 2], "mean": sum(ordered) / len(ordered),
                "min": ordered[0], "max": ordered[-1], "stdev": 0.0, "n": len(ordered)}

    def totals(some):
        return {"epochs": len(some), "steps": sum(len(e["step_seconds"]) for e in some),
                "samples": sum(sum(e["step_samples"]) for e in some),
                "seconds": sum(e["seconds"] for e in some)}

    measured = epochs[WARMUP:]
    seconds = [s for e in measured for s in e["step_seconds"]]
    samples = [n for e in measured for n in e["step_samples"]]
    throughput = stats([n / s for n, s in zip(samples, seconds)])
    throughput["overall"] = sum(samples) / sum(e["seconds"] for e in measured)
    warmup = dict(totals(epochs[:WARMUP]), first_epoch_s=epochs[0]["seconds"],
                  first_step_s=epochs[0]["step_seconds"][0])
    def mean_peak(values):
        return {"mean": sum(values) / len(values), "peak": max(values)}

    host = {name: mean_peak([s[name] for s in telemetry_samples])
            for name in ("cpu_percent", "system_cpu_percent", "rss_mb")}
    devices = [dict({"index": i, "name": "Tesla V100-SXM2-16GB", "memory_total_mb": 16160.0},
                    **{name: mean_peak([s["gpus"][i][name] for s in telemetry_samples])
                       for name in ("util_percent", "memory_used_mb", "power_w")})
               for i in range(gpus)]
    telemetry = {"interval_s": 0.5, "count": len(telemetry_samples), "host": host,
                 "gpu": {"available": bool(gpus), "reason": None if gpus else "no GPU in use",
                         "devices": devices}}
    phases = {"import_s": 3.2, "data_s": 0.4, "build_s": 0.9, "compile_s": 0.02,
              "first_epoch_s": epochs[0]["seconds"], "warmup_s": warmup["seconds"],
              "steady_s": sum(e["seconds"] for e in measured), "evaluate_s": 0.3,
              "total_s": 12.0}
    return {"unit": "sequences" if model == "lstm" else "images", "throughput": throughput,
            "step_ms": stats([1000 * s for s in seconds]), "measured": totals(measured),
            "warmup": warmup, "loss": 2.3, "accuracy": 0.1, "phases": phases,
            "telemetry": telemetry, "evaluation": {"loss": 2.3, "accuracy": 0.1},
            "memory": {"peak_mb": 5120.0, "source": "torch.cuda.max_memory_allocated"}
            if gpus else None}


def write_folder(folder, distinct):
    """FILES records: the sweep repeated (each pass a repeat), or (distinct) each with its
    own batch size."""
    rng = random.Random(0)
    sweep = list(configurations())
    for number in range(FILES):
        model, dataset, backend, machine, data_format = sweep[number % len(sweep)]
        batch_size = 1 + number if distinct else 32
        result = record(number, model, dataset, backend, machine, data_format, batch_size,
                        number // len(sweep), rng)
        # json.dump, not schema.write: its fsync per file would make setting up take minutes.
        with open(os.path.join(folder, schema.file_name(result)), "w") as f:
            json.dump(result, f, indent=1, sort_keys=True)


def time_collector(*arguments):
    """The best of REPEATS runs of `collect.py ARGUMENTS`: (wall seconds, CPU seconds,
    bytes written)."""
    command = [sys.executable, os.path.join(ROOT, "harness", "collect.py")] + list(arguments)

    def cpu_seconds():
        used = resource.getrusage(resource.RUSAGE_CHILDREN)
        return used.ru_utime + used.ru_stime

    def timed():
        cpu, start = cpu_seconds(), time.perf_counter()
        # compare exits 1 where it finds a slowdown: a verdict, not a failure here
        output = subprocess.run(command, check=arguments[0] != "compare",
                                stdout=subprocess.PIPE).stdout
        return time.perf_counter() - start, cpu_seconds() - cpu, len(output)
    return min(timed() for _ in range(REPEATS))


def main(argv):
    # Readable lines on stdout only when the JSON goes to a file, so that stdout stays JSON.
    lines = sys.stdout if len(argv) > 1 else sys.stderr
    figures = {"files": FILES, "target_seconds": TARGET_SECONDS, "repeats": REPEATS,
               "cpu_count": os.cpu_count(), "python": platform.python_version(), "seconds": {},
               "cpu_seconds": {}, "load_average_before": list(os.getloadavg())}
    with tempfile.TemporaryDirectory() as sweep, tempfile.TemporaryDirectory() as distinct:
        write_folder(sweep, False)
        write_folder(distinct, True)
        for name, arguments, files, target in (
                ("sweep", [sweep], FILES, TARGET_SECONDS),
                ("distinct", [distinct], FILES, TARGET_SECONDS),
                ("compare", ["compare", sweep, distinct], 2 * FILES, COMPARE_TARGET_SECONDS),
                ("html_sweep", [sweep, "--format", "html"], FILES, None),
                ("html_distinct", [distinct, "--format", "html"], FILES, None)):
            seconds, cpu, size = time_collector(*arguments)
            figures["seconds"][name] = round(seconds, 3)
            figures["cpu_seconds"][name] = round(cpu, 3)
            figures.setdefault("output_bytes", {})[name] = size
            print("%s: %d files in %.2f s, %.2f CPU seconds, %.1f MB written%s"
                  % (name, files, seconds, cpu, size / 1e6,
                     " (target %.1f s)" % target if target else ""), file=lines)
    figures["compare_target_seconds"] = COMPARE_TARGET_SECONDS
    figures["within_target"] = (max(figures["seconds"]["sweep"], figures["seconds"]["distinct"])
                                < TARGET_SECONDS
                                and figures["seconds"]["compare"] < COMPARE_TARGET_SECONDS)
    text = json.dumps(figures, indent=1, sort_keys=True) + "\n"
    if len(argv) > 1:
        with open(argv[1], "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0 if figures["within_target"] else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
