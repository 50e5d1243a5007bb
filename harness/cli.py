"""The command line: argv -> a RunSpec (or a sweep), usage errors -> one line and exit 2.

The only module that reads argv. No framework is imported before a run starts,
so `--help` and every usage error answer at once, in any image.
"""
import argparse
import os
import sys

from harness import backends, spec as specs
from harness.spec import UsageError

# Options every run takes: (flags, argparse keywords). The sweep passes them on.
RUN_OPTIONS = (
    (("--dataset",), dict(choices=specs.DATASETS, help="data set (default: synthetic)")),
    (("--data-dir",), dict(help="folder of real data sets (default: $BENCH_DATA, then "
                                "the Keras cache folder ~/.keras/datasets)")),
    (("--batch-size",), dict(type=int, help="global batch size, split over the devices "
                                            "(default: the workload's)")),
    (("--per-device-batch",), dict(action="store_true", default=None,
                                   help="--batch-size is per device: the global batch is it "
                                        "times the devices")),
    (("--epochs",), dict(type=int, help="measured epochs (default: 3)")),
    (("--warmup",), dict(type=int, help="epochs run first and not counted: they include "
                                        "graph building and compilation (default: 1)")),
    (("--steps-per-epoch",), dict(type=int, help="steps in an epoch (default: the workload's "
                                                 "for synthetic data, one full pass for real data)")),
    (("--min-steps",), dict(type=int, help="measure more epochs until at least this many "
                                           "steps are measured (default: 0)")),
    (("--min-seconds",), dict(type=float, help="measure more epochs until at least this many "
                                               "seconds are measured (default: 0)")),
    (("--method",), dict(choices=specs.METHODS, help="Keras fit on arrays, one train_on_batch "
                                                     "call per step, or fit on a generator "
                                                     "(default: fit)")),
    (("--timing",), dict(choices=specs.TIMINGS, help="read the clock after every step (each "
                                                     "step then waits for the device) or only at "
                                                     "epoch ends, letting the backend queue steps "
                                                     "ahead (default: epoch when training on "
                                                     "GPUs, else step)")),
    (("--inference",), dict(action="store_true", default=None,
                            help="measure predict throughput instead of training")),
    (("--data-format",), dict(choices=specs.DATA_FORMATS,
                              help="image layout (default: the backend's configured one)")),
    (("--gpus",), dict(type=int, help="GPUs to use, data-parallel when more than one; 0 is "
                                      "the CPU (default: 1 if a GPU is visible, else 0)")),
    (("--cpu-devices",), dict(type=int, help="split the CPU into this many devices and train "
                                             "data-parallel on them, as on GPUs (default: 1)")),
    (("--precision",), dict(choices=specs.PRECISIONS, help="dtype policy (default: float32)")),
    (("--jit-compile",), dict(choices=specs.JIT_COMPILE,
                              help="compile the training step: XLA on TensorFlow and JAX, "
                                   "torch.compile on PyTorch; auto lets Keras choose (default: "
                                   "auto). The result records what each backend resolved it to")),
    (("--tf32",), dict(choices=specs.TF32, help="TF32 matmuls on NVIDIA Ampere and newer, set "
                                                "alike on every backend (default: off, the "
                                                "seeds' float32)")),
    (("--seed",), dict(type=int, help="seed of the synthetic data and the weights (default: 1234)")),
    (("--out",), dict(help="folder the result files go to (default: results)")),
    (("--instance",), dict(help="the tables' Instance Type label (default: derived from the host)")),
    (("--telemetry-interval",), dict(type=float, help="seconds between samples of GPU and host "
                                                      "use while training; 0 turns the sampler "
                                                      "off (default: 0.5)")),
    (("--profile",), dict(action="store_true", default=None,
                          help="also write the backend's own profiler trace beside the result "
                               "(slows the run: its speed is marked as profiled)")),
    (("--repeat",), dict(type=int, help="run each configuration this many times, each in a fresh "
                                        "process, and report the spread of their speeds "
                                        "(default: 1)")),
)
# What a repeat's own process is told of its place among the repeats; the
# parent passes them, users do not (hidden from --help).
REPEAT_OPTIONS = (
    (("--repeat-index",), dict(type=int, help=argparse.SUPPRESS)),
    (("--repeat-group",), dict(help=argparse.SUPPRESS)),
)
# Options only some workloads take: (workloads, flags, argparse keywords).
MODEL_OPTIONS = (
    (("resnet",), ("--version",), dict(dest="resnet_version", type=int,
                                        help="ResNet version, 1 or 2 (default: 1)")),
    (("resnet",), ("--layers",), dict(dest="resnet_layers", type=int,
                                       help="ResNet depth: 20, 56 or 110 (default: 20)")),
    (("resnet50", "vgg16"), ("--image-size",), dict(type=int, help="image side in pixels; "
                                                    "the seed's synthetic set used 256 (default: 224)")),
)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit code 2)."""

    def error(self, message):
        self.exit(2, "%s: error: %s (see --help)\n" % (self.prog, message))


def _add_run_options(parser, with_backend):
    if with_backend:
        default = os.environ.get("KERAS_BACKEND")  # what the images set
        parser.add_argument("--backend", default=default, required=default is None,
                            choices=specs.BACKENDS,
                            help="the Keras backend to run on (default: $KERAS_BACKEND)")
        parser.add_argument("--run-id", help="the result's id (default: a fresh unique one)")
        for flags, options in REPEAT_OPTIONS:
            parser.add_argument(*flags, **options)
    for flags, options in RUN_OPTIONS:
        parser.add_argument(*flags, **options)


def build_parser():
    parser = _Parser(prog="python -m harness",
                     description="Train or run the seeds' Keras workloads on one backend and "
                                 "write one JSON result per run.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for name, workload in specs.WORKLOADS.items():
        sub = commands.add_parser(name, help=workload.summary, description=workload.summary)
        _add_run_options(sub, with_backend=True)
        for models, flags, options in MODEL_OPTIONS:
            if name in models:
                sub.add_argument(*flags, **options)
    sweep = commands.add_parser("sweep", help="every installed backend x workload, each in its "
                                              "own process, then a comparison table",
                                description="Run every installed Keras 3 backend on each "
                                            "workload, each run in its own process.")
    sweep.add_argument("--backends", help="comma-separated (default: every installed one of %s)"
                                          % ",".join(specs.KERAS3_BACKENDS))
    sweep.add_argument("--models", default="mlp,cnn,lstm",
                       help="comma-separated (default: mlp,cnn,lstm)")
    sweep.add_argument("--timeout", type=float,
                       help="seconds one run may take before it is stopped (default: no limit)")
    _add_run_options(sweep, with_backend=False)
    return parser


def run_options(args):
    """The run options given on the command line, as spec fields (None: not given)."""
    fields = {}
    for flags, options in RUN_OPTIONS + REPEAT_OPTIONS + tuple((f, o) for _, f, o in MODEL_OPTIONS):
        dest = options.get("dest") or flags[0].lstrip("-").replace("-", "_")
        if getattr(args, dest, None) is not None:
            fields[dest] = getattr(args, dest)
    return fields


def check_out_dir(folder):
    """Raise UsageError unless result files can be written into `folder`: it exists and is
    a writable folder, or it is missing and its nearest existing parent is one (it is
    created when the result is written). Found now, not after hours of training; a
    folder that fails later (a full disk) still gets the result into a fallback folder
    (schema.write_or_fall_back)."""
    path = os.path.abspath(folder)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    if not os.path.isdir(path):
        raise UsageError("--out %s: %s is not a folder" % (folder, path))
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError("--out %s: %s cannot be written (%s)" % (
            folder, path, "read-only file system" if _read_only(path) else "permission denied"))


def _read_only(path):
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (AttributeError, OSError):  # no statvfs on Windows
        return False


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        check_out_dir(run_options(args).get("out", specs.DEFAULTS["out"]))
        if args.command == "sweep":
            from harness import sweep
            return sweep.main(args, run_options(args))
        spec = specs.make_spec(model=args.command, backend=args.backend, run_id=args.run_id,
                               **run_options(args))
        if not backends.installed(spec.backend):
            raise UsageError("backend %s is not installed in this environment (%s)"
                             % (spec.backend, sys.executable))
        if spec.repeat > 1 and spec.repeat_index is None:  # the parent: it runs the repeats
            if spec.run_id:
                raise UsageError("--run-id names one run; --repeat %d makes %d" % (spec.repeat,
                                                                                 spec.repeat))
            from harness import sweep
            return sweep.repeat(spec.model, spec.backend, run_options(args))
        from harness import runner  # the run's own imports come only now
        code, _ = runner.run(spec, ["python", "-m", "harness"] + argv)
        return code
    except UsageError as e:
        sys.stderr.write("%s %s: error: %s\n" % (parser.prog, args.command, e))
        return 2
