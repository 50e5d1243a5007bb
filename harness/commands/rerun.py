"""`python -m harness rerun RESULT.json`: a recorded configuration again, here, compared with
the original (harness.rerun)."""
from harness import rerun, sweep
from harness.collector.match import DEFAULT_FACTOR
from harness.options import check_out_dir
from harness.spec import DEFAULTS

NAME = "rerun"
HELP = "run a result's configuration again here and compare with it"
DESCRIPTION = rerun.__doc__.split("\n\n")[1].replace("\n", " ")


def add_arguments(parser):
    parser.add_argument("result", help="a result file (RESULT.json)")
    parser.add_argument("--repeat", type=int,
                        help="runs, each in a fresh process (default: %d, or $%s)"
                             % (sweep.PROCESSES, sweep.PROCESSES_VARIABLE))
    parser.add_argument("--out", default=DEFAULTS["out"],
                        help="folder the new result files go to (default: %(default)s)")
    parser.add_argument("--force", action="store_true",
                        help="run even though the workload's code changed since the result")
    parser.add_argument("--factor", type=float, default=DEFAULT_FACTOR,
                        help="smallest speed ratio the comparison reports (default: "
                             "%(default)s)")


def run(args, argv):
    check_out_dir(args.out)
    return rerun.main(args)
