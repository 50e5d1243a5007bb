"""`python -m harness run MODEL` (or `python -m harness MODEL`): train or run one workload
on one backend and write its result; with --repeat N, N runs in fresh processes."""
import os
import sys

from harness import backends, stopping
from harness.options import add_options, check_out_dir, run_options
from harness.spec import BACKENDS, WORKLOADS, UsageError, make_spec

NAME = "run"
HELP = "one workload on one backend (also: python -m harness MODEL)"
DESCRIPTION = "Train or run one workload on one backend and write its JSON result."


def add_arguments(parser):
    """`run MODEL [options]`: each workload is a command of its own, with its options."""
    models = parser.add_subparsers(dest="model", metavar="MODEL")
    models.required = True
    add_workloads(models, parser.prog)


def add_workloads(commands, prog):
    """A parser per workload under `commands` (prog: the words before the model's name)."""
    for name, workload in WORKLOADS.items():
        sub = commands.add_parser(name, help=workload.summary, description=workload.summary)
        default = os.environ.get("KERAS_BACKEND")  # what the images set
        sub.add_argument("--backend", default=default, required=default is None,
                         choices=BACKENDS,
                         help="the Keras backend to run on (default: $KERAS_BACKEND)")
        for takes in ("one", "all", name):
            add_options(sub, takes)
        sub.set_defaults(model=name, run=run, prog="%s %s" % (prog, name))


def run(args, argv):
    """One run, or its repeats in fresh processes; `argv` is recorded in its result."""
    options = run_options(args)
    check_out_dir(options.get("out"))
    spec = make_spec(model=args.model, backend=args.backend, **options)
    if not backends.installed(spec.backend):
        raise UsageError("backend %s is not installed in this environment (%s)"
                         % (spec.backend, sys.executable))
    if spec.repeat > 1 and spec.repeat_index is None:  # the parent: it runs the repeats
        if spec.run_id:
            raise UsageError("--run-id names one run; --repeat %d makes %d" % (spec.repeat,
                                                                             spec.repeat))
        from harness import sweep
        stopping.release()
        return sweep.repeat(spec.model, spec.backend, options)
    from harness import runner  # the run's own imports come only now
    code, _ = runner.run(spec, ["python", "-m", "harness"] + list(argv))
    return code
