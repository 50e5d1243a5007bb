"""The collector's own spellings, as harness/collect.py runs them:

    collect FOLDER [options]             the collect command (harness.commands.collect)
    collect compare BASELINE NEW [...]   the compare command (harness.commands.compare)

`python -m harness collect|compare` runs the same two commands from harness.cli. They
are kept apart from it so that the collector loads neither harness.spec nor a framework.
"""
import argparse
import sys

from harness.commands import collect, compare


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    # "compare" names the second command; any other first word is the folder to tabulate.
    if argv[:1] == ["compare"]:
        command, prog, argv = compare, "collect compare", argv[1:]
    else:
        command, prog = collect, "collect"
    parser = argparse.ArgumentParser(prog=prog, description=command.DESCRIPTION)
    command.add_arguments(parser)
    return command.run(parser.parse_args(argv))
