"""Result files to the seeds' Markdown tables (or CSV, JSON) and a speed chart.

    python harness/collect.py results/ > CNN_result.md
    python -m harness.collect results/ --kind rnn --format csv
    python -m harness.collect results/ --chart speed.png
    python -m harness.collect results/ --phases    # also where each run's time went
    python harness/collect.py results/ --format html > report.html  # one page, charts too
    python harness/collect.py compare BASELINE NEW  # two result sets, or a published table

Reads the records of harness/schema.py and nothing else: no deep-learning
framework is imported, so it runs on any host that has `tabulate` (and
`matplotlib` for --chart, and Jinja2 too for --format html). Repeated runs of one configuration become one row
(the median of their medians, with the coefficient of variation across them);
runs on different device counts are different rows. Where speeds are ranked (the
backend comparison, Keras against native), harness.significance decides whether a
difference is real ("≈" where not), and each run's stability verdict is shown.
Profiled runs are kept out of every speed (the profiler slows them) and shown only
in the phase breakdown (--phases). Failed, skipped and interrupted runs are listed
apart and never enter a speed. A file that cannot be read, or whose required field
is wrong, is named on stderr and skipped.

This file is only the entry point of these spellings, which the seeds' workflow and
the docs use; `python -m harness collect FOLDER` and `python -m harness compare A B`
run the same commands (harness/commands/). The collector itself is the package
harness/collector/, whose cli module maps the spellings onto the commands (a package
named `collect` beside this script would shadow it on import).
"""
import gc
import os
import sys

if not __package__:
    # Run as a script: only harness/ itself is on sys.path, not the package's parent.
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness.collector.cli import main  # noqa: E402

if __name__ == "__main__":
    # All the collector reads lives until it prints, and holds no reference cycles to
    # reclaim: the cyclic collector's passes over those objects were a tenth of its time.
    gc.disable()
    sys.exit(main())
