"""The command line: argv -> one of harness.commands, usage errors -> one line and exit 2.

    python -m harness run MODEL [options]   (or python -m harness MODEL [options])
    python -m harness sweep | rerun | collect | compare ...

The only module that reads argv for the harness (harness/collect.py keeps the
collector's own spellings). No framework is imported before a run starts, so
`--help` and every usage error answer at once, in any image.
"""
import argparse
import sys

from harness import stopping
from harness.commands import collect, compare, rerun, run, sweep
from harness.spec import UsageError

COMMANDS = (run, sweep, rerun, collect, compare)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (and exit code 2)."""

    def error(self, message):
        self.exit(2, "%s: error: %s (see --help)\n" % (self.prog, message))


def build_parser():
    parser = _Parser(prog="python -m harness",
                     description="Train or run the seeds' Keras workloads on one backend and "
                                 "write one JSON result per run.")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    run.add_workloads(commands, parser.prog)  # python -m harness MODEL, as before `run`
    for command in COMMANDS:
        sub = commands.add_parser(command.NAME, help=command.HELP,
                                  description=command.DESCRIPTION)
        command.add_arguments(sub)
        if command is not run:  # run's are set by its workloads' parsers
            sub.set_defaults(run=command.run, prog=sub.prog)
    return parser


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.run is not run.run:
        stopping.release()  # no measurement in this process: each run has its own
    try:
        return args.run(args, argv)
    except UsageError as e:
        sys.stderr.write("%s: error: %s\n" % (args.prog, e))
        return 2
