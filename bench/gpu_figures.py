"""ResNet50 figures on one GPU, in one prepared run of at most 10 minutes.

    python bench/gpu_figures.py [--budget 560] [--only ID,ID] [--out results/gpu-figures]
                                [--quick] [--json PATH]

Runs, each in its own `python -m harness` process (sweep.run_one: a run past its
time is stopped and still leaves its result), ResNet50 v1 on synthetic 224x224
images: Keras 3 on JAX (XLA) and on PyTorch (eager, and compiled with
torch.compile), float32 with TF32 off and on, and mixed_bfloat16; batch 256
and the seeds' 32; the native ResNet50s on PyTorch and JAX (`--backend
native-torch|native-jax resnet50`; where this checkout has none, their rows
say "not available"); and bench/overhead.py on the JAX mlp with `--timing
epoch`. It needs the repository and the Keras 3 environment only, no network.

Ten minutes do not hold every combination (JAX's XLA compiles ResNet50 for
tens of seconds, torch.compile for a minute or more), so PLAN varies one knob
at a time from the figure that matters most (bfloat16, batch 256) and lists
the configurations most wanted first (the overhead bench among them), each
with the seconds it is expected to take on an H100 host. One that would not end within --budget is left out and
named; one that runs past its own limit (three times its estimate, within the
budget) is stopped. Measured epochs are sized to about a second each
(--epoch-seconds) and the measurement lasts at least MIN_SECONDS.

Prints one table at the end and writes the figures (bench/results/
gpu_figures.json); each run's own result file stays in --out. Target: the best
Keras backend at least 3,500 images/s in bfloat16 (MLPerf's per-GPU ResNet50
is about 7,000). Beside each speed, the energy: joules per image and mean watts over
the measured epochs (metrics.energy: NVML's energy counter, RAPL for the CPU), or why
there was none. --quick (tiny images, one step, the CPU if no GPU) proves the script,
not the figures.
"""
import collections
import json
import os
import subprocess
import sys
import time

import common
from harness import sweep

TARGET_IMAGES_PER_S = 3500
BUDGET_S = 560  # of the 10 minutes: start-up, the table and a margin are the rest
MIN_SECONDS = 5  # five one-second epochs: ResNet50 on a GPU is steady over them

Config = collections.namedtuple("Config", "id backend precision batch jit tf32 estimate_s")


def _config(backend, precision, batch, jit="auto", tf32="off", estimate_s=60):
    short = {"float32": "f32", "mixed_bfloat16": "bf16"}[precision]
    parts = [backend, short, str(batch)] + (["compile"] if jit == "on" else []) + \
        (["tf32"] if tf32 == "on" else [])
    return Config("-".join(parts), backend, precision, batch, jit, tf32, estimate_s)


# Most wanted first. JAX compiles with XLA whatever --jit-compile says ("auto" is on);
# PyTorch runs eagerly unless compiled. TF32 changes float32 only. torch.compile's time
# is the least certain, so the figures that are sure to fit come before it.
PLAN = (
    _config("jax", "mixed_bfloat16", 256, estimate_s=50),
    _config("torch", "mixed_bfloat16", 256, estimate_s=30),
    _config("jax", "float32", 256, estimate_s=50),
    _config("jax", "float32", 256, tf32="on", estimate_s=50),
    _config("torch", "float32", 256, estimate_s=30),
    _config("torch", "float32", 256, tf32="on", estimate_s=30),
    _config("native-torch", "float32", 256, estimate_s=25),
    _config("native-jax", "float32", 256, estimate_s=45),
    None,  # the overhead bench
    _config("torch", "mixed_bfloat16", 256, jit="on", estimate_s=110),
    _config("jax", "mixed_bfloat16", 32, estimate_s=45),
    _config("torch", "mixed_bfloat16", 32, estimate_s=25),
    _config("jax", "float32", 32, estimate_s=45),
    _config("torch", "float32", 32, estimate_s=25),
)
OVERHEAD_ID, OVERHEAD_ESTIMATE_S = "overhead-jax-mlp-epoch", 60
# --quick: images of 32 pixels, one step an epoch, small batches for the CPU.
QUICK_BATCHES = {256: 4, 32: 2}


def run_options(config, args, out):
    """The spec fields of `config`'s harness run."""
    options = {"batch_size": config.batch, "precision": config.precision,
               "jit_compile": config.jit, "tf32": config.tf32, "out": out,
               "image_size": 224, "min_seconds": MIN_SECONDS}
    if args.quick:
        options.update(batch_size=QUICK_BATCHES[config.batch], image_size=32, epochs=1,
                       steps_per_epoch=1, min_seconds=0, epoch_seconds=0)
    return options


def figure_of(config, record):
    """One row of the table from a run's record."""
    row = {"id": config.id, "backend": config.backend, "precision": config.precision,
           "batch": record["config"].get("batch_size"), "tf32": config.tf32,
           "jit": record["config"].get("jit_compile_resolved") or config.jit,
           "status": record["status"], "run_id": record["run_id"]}
    if record["status"] == "ok":
        metrics = record["metrics"]
        stability = metrics.get("stability") or {}
        row.update(images_per_s=metrics["throughput"]["median"], cv_pct=stability.get("cv_pct"),
                   stability=stability.get("verdict"), epochs=metrics["measured"]["epochs"],
                   steps_per_epoch=(record["config"].get("calibration") or {}).get(
                       "steps_per_epoch", record["config"]["steps_per_epoch"]),
                   device=(record["environment"].get("gpus") or [{}])[0].get("name", "CPU")
                   if record["config"].get("gpus") else "CPU")
        row.update(energy_of(metrics.get("energy") or {}))
    else:
        message = ((record.get("error") or {}).get("message") or "").strip().splitlines()
        row["note"] = (message[0] if message else "")[:100]
        if record["status"] == "skipped" and config.backend.startswith("native-"):
            row["status"] = "not available"
    return row


def energy_of(energy):
    """joules_per_image, watts and energy_source of a run's metrics.energy, or the reason
    it has none (energy_unavailable)."""
    if not energy or "unavailable" in energy:
        return {"energy_unavailable": energy.get("unavailable", "not recorded")}
    return {"joules_per_image": energy["joules_per_sample"], "watts": energy["watts_mean"],
            "energy_source": energy["source"]}


def run_overhead(args, seconds):
    """bench/overhead.py on the JAX mlp, steps not waited for (--timing epoch), within
    `seconds`; its exit code 1 (its own target missed) is a figure, not a failure."""
    path = os.path.join(args.out, "overhead.json")
    command = [sys.executable, "bench/overhead.py", "--backends", "jax", "--models", "mlp",
               "--timing", "epoch", "--json", path] + (["--quick"] if args.quick else
                                                       ["--pairs", "2"])
    row = {"id": OVERHEAD_ID, "backend": "jax", "precision": "float32", "batch": 128,
           "jit": "auto", "tf32": "off", "status": "ok"}
    try:
        proc = subprocess.run(command, env=common.child_environment(), stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, universal_newlines=True, timeout=seconds)
    except subprocess.TimeoutExpired:
        return dict(row, status="interrupted", note="stopped after %d s" % seconds)
    if proc.returncode not in (0, 1) or not os.path.exists(path):
        lines = (proc.stderr.strip() or "exit code %d" % proc.returncode).splitlines()
        return dict(row, status="error", note=lines[-1][:100])
    with open(path) as f:
        (figures,) = json.load(f)["figures"]["configurations"]
    row["harness_over_plain"] = figures["median_harness_over_plain"]
    row["note"] = "harness/plain %.3f (median of %d pairs)" % (
        figures["median_harness_over_plain"], figures["pairs"])
    return row


def table(rows):
    """The figures as one plain-text table."""
    header = ("configuration", "status", "device", "images/s", "J/image", "W", "\u00b1 CV%",
              "epochs x steps", "jit", "tf32", "note")
    lines = []
    for row in rows:
        speed = row.get("images_per_s")
        lines.append((row["id"], row["status"], row.get("device", ""),
                      "%.0f" % speed if speed else "",
                      "%.3g" % row["joules_per_image"] if row.get("joules_per_image") else "",
                      "%.0f" % row["watts"] if row.get("watts") else "",
                      "%.1f" % row["cv_pct"] if row.get("cv_pct") is not None else "",
                      "%d x %d" % (row["epochs"], row["steps_per_epoch"]) if speed else "",
                      row.get("jit", ""), row.get("tf32", ""),
                      row.get("note") or ("UNSTABLE" if row.get("stability") == "unstable" else "")))
    widths = [max(len(str(line[i])) for line in lines + [header]) for i in range(len(header))]
    return "\n".join("  ".join(str(cell).ljust(w) for cell, w in zip(line, widths)).rstrip()
                     for line in [header, tuple("-" * w for w in widths)] + lines)


def main():
    options = common.parser("gpu_figures", __doc__.splitlines()[0])
    options.add_argument("--budget", type=float, default=BUDGET_S,
                         help="seconds all runs may take (default: %d)" % BUDGET_S)
    options.add_argument("--only", type=lambda text: text.split(","),
                         help="comma-separated configuration ids to run (default: all of %s)"
                              % ", ".join(c.id if c else OVERHEAD_ID for c in PLAN))
    options.add_argument("--out", default=os.path.join(common.ROOT, "results", "gpu-figures"),
                         help="folder of the runs' result files (default: results/gpu-figures)")
    args = common.parse(options)
    args.out = os.path.abspath(args.out)
    wanted = [c for c in PLAN if (c.backend.replace("native-", "") if c else "jax")
              in args.backends]
    ids = [c.id if c else OVERHEAD_ID for c in wanted]
    unknown = sorted(set(args.only or ()) - set(ids))
    if unknown:
        sys.stderr.write("gpu_figures: unknown configuration(s) %s\n" % ", ".join(unknown))
        return 2
    os.chdir(common.ROOT)  # `python -m harness` runs from the repository's root
    rows, deadline = [], args.started + args.budget
    for config in wanted:
        ident, estimate = (config.id, config.estimate_s) if config else (OVERHEAD_ID,
                                                                         OVERHEAD_ESTIMATE_S)
        if args.only and ident not in args.only:
            continue
        left = deadline - time.time()
        if estimate > left:
            rows.append({"id": ident, "status": "not run",
                         "note": "expected %d s, %d s of the budget left" % (estimate, max(0, left))})
            continue
        limit = min(3 * estimate, left)
        sys.stderr.write("[%s] %s\n" % (time.strftime("%H:%M:%S"), ident))
        if config is None:
            rows.append(run_overhead(args, limit))
        else:
            record = sweep.run_one("resnet50", config.backend, run_options(config, args, args.out),
                                   args.out, limit)
            rows.append(figure_of(config, record))
    print(table(rows))
    unmetered = sorted({row["energy_unavailable"] for row in rows if row.get("energy_unavailable")})
    if unmetered:
        print("no energy figures: %s" % " | ".join(unmetered))
    best = max([r["images_per_s"] for r in rows if r.get("images_per_s")
                and r["precision"] == "mixed_bfloat16" and not r["backend"].startswith("native-")]
               or [0.0])
    return common.report("gpu_figures", args, "best Keras bfloat16 ResNet50 >= %d images/s"
                         % TARGET_IMAGES_PER_S, {"configurations": rows, "results": args.out,
                                                 "best_keras_bfloat16": best},
                         best >= TARGET_IMAGES_PER_S)


if __name__ == "__main__":
    raise SystemExit(main())
