"""The run options: their flags and help, shared by the command line and the sweep.

The command line builds its parser from these tables, and the sweep turns a
run's options back into a `python -m harness` command line; both import this
module, so neither imports the other. No framework is imported here.
"""
import argparse

from harness import spec as specs

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
    (("--epochs",), dict(type=int, help="measured epochs at least (default: 5)")),
    (("--warmup",), dict(type=int, help="epochs run first and not counted: they include "
                                        "graph building and compilation (default: 1)")),
    (("--steps-per-epoch",), dict(type=int, help="steps in an epoch (default: the workload's "
                                                 "for synthetic data, one full pass for real data)")),
    (("--epoch-seconds",), dict(type=float, help="make each measured epoch of synthetic data "
                                                 "last about this long: the warm-up's pace "
                                                 "sets its steps (one at least); 0: the "
                                                 "workload's steps (default: 1, or "
                                                 "$BENCH_EPOCH_SECONDS)")),
    (("--min-steps",), dict(type=int, help="measure more epochs until at least this many "
                                           "steps are measured (default: 0)")),
    (("--min-seconds",), dict(type=float, help="measure more epochs until at least this many "
                                               "seconds are measured (default: 10, or "
                                               "$BENCH_MIN_SECONDS)")),
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
    (("--num-processes",), dict(type=int, help="processes of a multi-process job, on one or "
                                                 "more machines (default: what torchrun's, "
                                                 "Slurm's, TF_CONFIG's or KERAS_DISTRIBUTION_* "
                                                 "variables say, else 1; see docs/multi-node.md)")),
    (("--process-id",), dict(type=int, help="this process's rank in the job, 0 to N-1; rank 0 "
                                            "writes the result (default: from the variables)")),
    (("--coordinator",), dict(metavar="HOST:PORT", help="rank 0's address, where the processes "
                                                        "meet (default: from the variables)")),
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


def all_options():
    """(flags, argparse keywords) of every run option, the workloads' own included."""
    return RUN_OPTIONS + REPEAT_OPTIONS + tuple((f, o) for _, f, o in MODEL_OPTIONS)


def dest(flags, options):
    """The spec field an option sets."""
    return options.get("dest") or flags[0].lstrip("-").replace("-", "_")


def run_options(args):
    """The run options given on the command line, as spec fields (None: not given)."""
    fields = {}
    for flags, options in all_options():
        name = dest(flags, options)
        if getattr(args, name, None) is not None:
            fields[name] = getattr(args, name)
    return fields
