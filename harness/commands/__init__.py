"""The commands of `python -m harness`, one module each, as asv's are: its NAME, HELP
and DESCRIPTION, `add_arguments(parser)`, and `run(args)`, which returns the exit
status and raises harness.spec.UsageError for a request that cannot run.

    run MODEL    one run (today's `python -m harness MODEL` too)   commands/run.py
    sweep        every backend x workload, then the comparison     commands/sweep.py
    rerun        a result's configuration again, compared with it  commands/rerun.py
    collect      a folder of results as the seeds' tables          commands/collect.py
    compare      two result sets side by side                      commands/compare.py

harness.cli puts them into one parser; harness/collect.py keeps the collector's own
spellings. collect and compare import neither harness.spec nor a framework, so that
the collector runs on any host.
"""
