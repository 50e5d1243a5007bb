"""python -m harness: see harness/cli.py."""
import sys

from harness import stopping

if __name__ == "__main__":  # not when a data-parallel worker process imports it
    stopping.hold()  # before the command line is read: a run's file is owed from here
    from harness.cli import main
    sys.exit(main())
