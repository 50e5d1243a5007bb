"""`python -m harness sweep`: every installed Keras 3 backend on each workload, each run in
its own process (harness.sweep), then the comparison table and the folder's HTML report."""
import sys
import time

from harness import backends, sweep
from harness.console import say
from harness.options import add_options, check_out_dir, run_options
from harness.spec import BACKENDS, KERAS3_BACKENDS, WORKLOADS, UsageError, make_spec

NAME = "sweep"
HELP = "every installed backend x workload, each in its own process, then a comparison table"
DESCRIPTION = "Run every installed Keras 3 backend on each workload, each run in its own process."
MODELS = "mlp,cnn,lstm"


def add_arguments(parser):
    parser.add_argument("--backends", help="comma-separated (default: every installed one of %s)"
                                           % ",".join(KERAS3_BACKENDS))
    parser.add_argument("--models", default=MODELS, help="comma-separated (default: %s)" % MODELS)
    parser.add_argument("--timeout", type=float,
                        help="seconds one run may take before it is stopped (default: no limit)")
    parser.add_argument("--shard", metavar="K/N",
                        help="run only shard K (0 to N-1) of the sweep's configurations split N "
                             "ways, for N machines, a Slurm job array or a Kubernetes Indexed "
                             "Job (see docs/multi-node.md); the collector over the gathered "
                             "folders makes the one sweep's tables")
    add_options(parser, "all")


def run(args, argv):
    """Run the sweep that `args` asks for; exit code 0 when no run failed."""
    options = run_options(args)
    check_out_dir(options.get("out"))
    chosen = _names(args.backends, BACKENDS, "backend") if args.backends else \
        [b for b in KERAS3_BACKENDS if backends.installed(b)]
    missing = [b for b in chosen if not backends.installed(b)]
    if missing or not chosen:
        raise UsageError("not installed in this environment: %s" % (", ".join(missing) or
                                                                   ", ".join(KERAS3_BACKENDS)))
    models = _names(args.models, WORKLOADS, "model")
    options = sweep.several_processes(options)
    out = options.get("out", "results")
    configurations = [(m, b) for m in models for b in chosen]
    if args.shard:
        configurations = sweep.shard(configurations, *parse_shard(args.shard))
    for model, backend in configurations:  # a usage error stops the sweep before its first run
        make_spec(model=model, backend=backend, **options)
    from harness.collector import output, process_table  # the collector loads only now
    started = time.time()
    records = sweep.run_rounds(configurations, options, out, args.timeout)
    say("sweep finished in %.0f s; results in %s" % (time.time() - started, out))
    sys.stdout.write(process_table.text(records))
    say(output.report_note(out))  # the folder's HTML report: tables, charts, every run's details
    return 0 if all(sweep.succeeded(r) for r in records) else 1


def parse_shard(text):
    """"K/N" -> (K, N): this machine runs shard K (0 to N-1) of N."""
    index, _, count = text.partition("/")
    try:
        index, count = int(index), int(count)
    except ValueError:
        raise UsageError("--shard %s: give K/N, this machine's shard K of N, "
                         "counted from 0 (as JOB_COMPLETION_INDEX)" % text)
    if count < 1 or not 0 <= index < count:
        raise UsageError("--shard %s: K must be 0 to N-1 and N at least 1" % text)
    return index, count


def _names(text, known, kind):
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise UsageError("unknown %s(s) %s; choose from %s"
                         % (kind, ", ".join(unknown) or "(none given)", ", ".join(known)))
    return names
