"""The command line: argv -> a RunSpec (or a sweep), usage errors -> one line and exit 2.

The only module that reads argv. No framework is imported before a run starts,
so `--help` and every usage error answer at once, in any image.
"""
import argparse
import os
import sys

from harness import backends, rerun, spec as specs, stopping
from harness.options import MODEL_OPTIONS, REPEAT_OPTIONS, RUN_OPTIONS, run_options
from harness.spec import UsageError

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
    sweep.add_argument("--shard", metavar="K/N",
                       help="run only shard K (0 to N-1) of the sweep's configurations split N "
                            "ways, for N machines, a Slurm job array or a Kubernetes Indexed "
                            "Job (see docs/multi-node.md); the collector over the gathered "
                            "folders makes the one sweep's tables")
    _add_run_options(sweep, with_backend=False)
    rerun.add_parser(commands)
    return parser


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
            stopping.release()  # each run is a process of its own, with its own file
            return sweep.main(args, run_options(args))
        if args.command == "rerun":
            stopping.release()
            return rerun.main(args)
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
            stopping.release()
            return sweep.repeat(spec.model, spec.backend, run_options(args))
        from harness import runner  # the run's own imports come only now
        code, _ = runner.run(spec, ["python", "-m", "harness"] + argv)
        return code
    except UsageError as e:
        sys.stderr.write("%s %s: error: %s\n" % (parser.prog, args.command, e))
        return 2
