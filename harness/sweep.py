"""Many runs, each in its own process: a sweep's, a rerun's, and the repeats of one run.

A backend is fixed when Keras is imported, and a crash or an out-of-memory
kill must not take the other runs with it: so every run is a fresh
`python -m harness` process. A process that dies without writing its result
(killed by the kernel, say) gets an `error` result written on its behalf.
`--repeat N` runs a configuration N times this way (a fresh process also
draws a fresh memory layout and thread placement, which one process's epochs
do not), and reports how far the repeats' speeds spread.

A sweep runs every configuration in several processes (3 unless --repeat or
$BENCH_PROCESSES says otherwise), since significance is judged between processes
(harness.significance), and interleaves them as asv's rounds do: round 1 runs every
configuration once, round 2 again, and so on, so that a slow spell of the machine
falls on every configuration alike instead of on one configuration's processes. With
several processes a run measures 5 s (not 10) unless --min-seconds or
$BENCH_MIN_SECONDS says otherwise: the processes, not one long run, give the spread.
"""
import glob
import os
import signal
import subprocess
import sys
import threading
import time

from harness import environment, schema, stopping, timing
from harness.console import say
from harness.options import command_line
from harness.spec import ENVIRONMENT_DEFAULTS

_LAST_LINES = 20  # of a dead run's stderr, kept in the result written for it
PROCESSES = 3  # a sweep's and rerun's processes per configuration (README: why 3)
PROCESSES_VARIABLE = "BENCH_PROCESSES"  # replaces PROCESSES where --repeat is not given
PROCESS_MIN_SECONDS = 5.0  # each of several processes measures this long at least


def shard(configurations, index, count):
    """The `configurations` that shard `index` of `count` runs: every count-th one, from
    the index-th. Every shard computes the same list from the same options, so the
    shards share no configuration and together run all of it, on any machines; a
    configuration's repeats stay together, on one machine."""
    return configurations[index::count]


def several_processes(options):
    """`options` with a sweep's or rerun's defaults: --repeat, else $BENCH_PROCESSES, else
    PROCESSES processes per configuration; where several run and neither --min-seconds
    nor $BENCH_MIN_SECONDS is given, PROCESS_MIN_SECONDS measured in each."""
    options = dict(options)
    if options.get("repeat") is None:
        options["repeat"] = int(os.environ.get(PROCESSES_VARIABLE) or PROCESSES)
    if options["repeat"] > 1 and options.get("min_seconds") is None \
            and not os.environ.get(ENVIRONMENT_DEFAULTS["min_seconds"]):
        options["min_seconds"] = PROCESS_MIN_SECONDS
    return options


def repeat(model, backend, options):
    """`python -m harness MODEL --repeat N`: exit code 0 when no repeat failed."""
    records = run_rounds([(model, backend)], options, options.get("out", "results"),
                         timeout=None)
    return 0 if all(succeeded(r) for r in records) else 1


def succeeded(record):
    return record["status"] in ("ok", "skipped")


def child_command(model, backend, options, run_id):
    """The `python -m harness` command line of one run."""
    return [sys.executable, "-m", "harness", model, "--backend", backend,
            "--run-id", run_id] + command_line(options)


def run_rounds(configurations, options, out, timeout):
    """Run each (model, backend) of `configurations` `options["repeat"]` times (default
    once), each run in its own process, in rounds: every configuration once, then every
    one again. With repeats, each configuration's runs share a repeat group, and each
    run's outcome and each configuration's spread are said. Returns the records, configuration by
    configuration."""
    count = options.get("repeat") or 1
    groups = [schema.new_run_id() for _ in configurations]
    records = [[] for _ in configurations]
    for index in range(count):
        for number, (model, backend) in enumerate(configurations):
            say("[%s%d/%d] %s on %s" % ("round %d/%d, " % (index + 1, count) if count > 1
                                        else "", number + 1, len(configurations), model,
                                        backend))
            own = dict(options, repeat_index=index, repeat_group=groups[number]) \
                if count > 1 else options
            record = run_one(model, backend, own, out, timeout)
            records[number].append(record)
            if count > 1:
                say("repeat %d/%d of %s on %s: %s" % (index + 1, count, model, backend,
                                                      _outcome(record)))
    if count > 1:
        for (model, backend), runs in zip(configurations, records):
            say("%s on %s: %s" % (model, backend, spread(runs)))
    return [record for runs in records for record in runs]


def _outcome(record):
    if record["status"] == "ok":
        return "ok, %.1f %s/s (run %s)" % (record["metrics"]["throughput"]["median"],
                                           record["metrics"]["unit"], record["run_id"])
    message = (record["error"] or {}).get("message") or ""
    return "%s: %s (run %s)" % (record["status"], (message.splitlines() or [""])[0][:80],
                                record["run_id"])


def spread(records):
    """One line: the repeats' speeds and their coefficient of variation (stdev / mean)."""
    speeds = [r["metrics"]["throughput"]["median"] for r in records if r["status"] == "ok"]
    line = "%d repeats (group %s), %d ok" % (len(records), records[0]["config"]["repeat_group"],
                                             len(speeds))
    if len(speeds) < 2:
        return line + ": too few to measure a spread"
    from harness.collector.process_table import cv_pct  # the collector loads only now
    figures = timing.stats(speeds)
    return line + ": median %.1f, min %.1f, max %.1f, coefficient of variation %.2f%%" % (
        figures["median"], figures["min"], figures["max"], cv_pct(speeds))


def run_one(model, backend, options, out, timeout):
    """Run one configuration in a child process; return its result record."""
    run_id = schema.new_run_id()
    command = child_command(model, backend, options, run_id)
    environ = dict(os.environ)
    if timeout:  # the run's record then says that the sweep stopped it
        environ[stopping.SWEEP_DEADLINE_VARIABLE] = "%f" % (time.time() + timeout)
    child = subprocess.Popen(command, stderr=subprocess.PIPE, universal_newlines=True,
                             cwd=os.getcwd(), env=environ)
    tail = []
    # Its stderr is shown as it comes (the run's progress) by a thread of its own: a run
    # that hangs silently must still be stopped at its deadline.
    echo = threading.Thread(target=_echo, args=(child.stderr, tail), daemon=True)
    echo.start()
    timed_out = False
    try:
        child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        say("    run exceeded %.0f s; stopping it" % timeout)
        child.send_signal(signal.SIGTERM)  # the run writes an `interrupted` result
        try:
            child.wait(timeout=60)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait()
    echo.join(timeout=10)
    # A run whose folder failed it at the end wrote its result into a fallback folder.
    written = [path for folder in [out] + schema.fallback_dirs()
               for path in glob.glob(os.path.join(folder, "*_%s.json" % run_id))]
    if written:
        return schema.read(written[0])
    return _write_for_dead_run(model, backend, options, out, run_id, command, child.returncode,
                               tail, timeout if timed_out else None)


def _echo(stream, tail):
    """Copy a run's stderr to ours, indented, keeping its last lines in `tail`."""
    for line in stream:
        sys.stderr.write("    " + line)
        tail[:] = (tail + [line.rstrip("\n")])[-_LAST_LINES:]


def _write_for_dead_run(model, backend, options, out, run_id, command, returncode, tail,
                        timed_out_after=None):
    """The result of a run that ended without writing one (stopped at the sweep's
    --timeout of `timed_out_after` seconds, where it was)."""
    config = dict(options, model=model, backend=backend, run_id=run_id)
    record = schema.new_record(config, command, run_id)
    record["environment"] = environment.snapshot()
    record["status"] = "error"
    how = ("killed by signal %d%s" % (-returncode, " (out of memory?)"
                                      if -returncode == 9 and not timed_out_after else "")
           if returncode < 0 else "exited with code %d" % returncode)
    message = "the run's process %s without writing a result" % how
    if timed_out_after:
        record["status"] = "interrupted"
        message = "stopped at the sweep's --timeout of %g s: %s" % (timed_out_after, message)
    record["error"] = {"type": "ProcessDied", "message": message, "traceback": "\n".join(tail)}
    record["finished_at"] = schema.now()
    path, failure = schema.write_or_fall_back(record, out)
    if failure is not None:
        say("    could not write into %s (%s)" % (out, failure))
    say("    %s -> %s" % (record["error"]["message"], path))
    return record
