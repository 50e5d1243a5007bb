"""python -m harness: see harness/cli.py."""
import sys

from harness.cli import main

if __name__ == "__main__":  # not when a data-parallel worker process imports it
    sys.exit(main())
