"""Many runs, each in its own process: a sweep's comparison table, and the repeats of one run.

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
from collections import OrderedDict
import signal
import subprocess
import sys
import threading
import time

from harness import backends, environment, schema, significance, stopping, timing
from harness.collector.cli import report_note
from harness.options import all_options, dest
from harness.spec import (
    BACKENDS, ENVIRONMENT_DEFAULTS, KERAS3_BACKENDS, WORKLOADS, UsageError, make_spec)

_LAST_LINES = 20  # of a dead run's stderr, kept in the result written for it
PROCESSES = 3  # a sweep's and rerun's processes per configuration (README: why 3)
PROCESSES_VARIABLE = "BENCH_PROCESSES"  # replaces PROCESSES where --repeat is not given
PROCESS_MIN_SECONDS = 5.0  # each of several processes measures this long at least


def main(args, options):
    """Run the sweep that `args` asks for; exit code 0 when no run failed."""
    chosen = _names(args.backends, BACKENDS, "backend") if args.backends else \
        [b for b in KERAS3_BACKENDS if backends.installed(b)]
    missing = [b for b in chosen if not backends.installed(b)]
    if missing or not chosen:
        raise UsageError("not installed in this environment: %s" % (", ".join(missing) or
                                                                   ", ".join(KERAS3_BACKENDS)))
    models = _names(args.models, WORKLOADS, "model")
    options = several_processes(options)
    out = options.get("out", "results")
    plan = [(m, b) for m in models for b in chosen]
    if args.shard:
        plan = shard(plan, *parse_shard(args.shard))
    for model, backend in plan:  # a usage error stops the sweep before its first run
        make_spec(model=model, backend=backend, **options)
    started = time.time()
    records = run_rounds(plan, options, out, args.timeout)
    _say("sweep finished in %.0f s; results in %s" % (time.time() - started, out))
    sys.stdout.write(table(records))
    _say(report_note(out))  # the folder's HTML report: tables, charts, every run's details
    return 0 if all(_succeeded(r) for r in records) else 1


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


def shard(plan, index, count):
    """The configurations of `plan` that shard `index` of `count` runs: every count-th one,
    from the index-th. Every shard computes the same plan from the same options, so the
    shards share no configuration and together run all of it, on any machines; a
    configuration's repeats stay together, on one machine."""
    return plan[index::count]


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
    return 0 if all(_succeeded(r) for r in records) else 1


def _succeeded(record):
    return record["status"] in ("ok", "skipped")


def _names(text, known, kind):
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in known]
    if unknown or not names:
        raise UsageError("unknown %s(s) %s; choose from %s"
                         % (kind, ", ".join(unknown) or "(none given)", ", ".join(known)))
    return names


def child_command(model, backend, options, run_id):
    """The `python -m harness` command line of one run."""
    command = [sys.executable, "-m", "harness", model, "--backend", backend, "--run-id", run_id]
    for flags, spec in all_options():
        value = options.get(dest(flags, spec))
        if value is None:
            continue
        if spec.get("action") == "store_true":
            command += [flags[0]] if value else []
        else:
            command += [flags[0], str(value)]
    return command


def run_rounds(plan, options, out, timeout):
    """Run each (model, backend) of `plan` `options["repeat"]` times (default once), each run
    in its own process, in rounds: every configuration once, then every one again. With
    repeats, each configuration's runs share a repeat group, and each run's outcome and
    each configuration's spread are said. Returns the records, configuration by
    configuration."""
    count = options.get("repeat") or 1
    groups = [schema.new_run_id() for _ in plan]
    records = [[] for _ in plan]
    for index in range(count):
        for number, (model, backend) in enumerate(plan):
            _say("[%s%d/%d] %s on %s" % ("round %d/%d, " % (index + 1, count) if count > 1
                                         else "", number + 1, len(plan), model, backend))
            own = dict(options, repeat_index=index, repeat_group=groups[number]) \
                if count > 1 else options
            record = run_one(model, backend, own, out, timeout)
            records[number].append(record)
            if count > 1:
                _say("repeat %d/%d of %s on %s: %s" % (index + 1, count, model, backend,
                                                       _outcome(record)))
    if count > 1:
        for (model, backend), runs in zip(plan, records):
            _say("%s on %s: %s" % (model, backend, spread(runs)))
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
    figures = timing.stats(speeds)
    return line + ": median %.1f, min %.1f, max %.1f, coefficient of variation %.2f%%" % (
        figures["median"], figures["min"], figures["max"], _cv(speeds))


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
        _say("    run exceeded %.0f s; stopping it" % timeout)
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
        _say("    could not write into %s (%s)" % (out, failure))
    _say("    %s -> %s" % (record["error"]["message"], path))
    return record


def table(records):
    """A plain-text comparison, one row per configuration (model and backend): its processes,
    the median of their median speeds, the epochs' and the processes' spread, the ratio to
    the fastest with the test of harness.significance over the processes ("≈" where the
    difference is not significant or untested), and the stability verdict, which also
    judges the spread between processes."""
    header = ("model", "backend", "status", "processes", "samples/s", "\u00b1 CV%", "proc CV%",
              "vs best", "p [95% CI]", "ms/step", "1st epoch s", "loss", "stability")
    rows, comparisons = [], []
    for model in sorted({r["config"]["model"] for r in records}, key=list(WORKLOADS).index):
        configurations = OrderedDict()  # backend: its records
        for r in records:
            if r["config"]["model"] == model:
                configurations.setdefault(r["config"]["backend"], []).append(r)
        speeds = {backend: [_speed(r) for r in runs if r["status"] == "ok"]
                  for backend, runs in configurations.items()}
        order = sorted(configurations, key=lambda b: -_median(speeds[b]) if speeds[b] else 1)
        best = order[0]
        versus = {backend: significance.compare(speeds[best], speeds[backend])
                  for backend in order[1:] if speeds[backend] and speeds[best]}
        comparisons += list(versus.values())
        for backend in order:
            runs, own = configurations[backend], speeds[backend]
            ok = [r for r in runs if r["status"] == "ok"]
            processes = "%d" % len(runs) if len(ok) == len(runs) else "%d of %d ok" % (
                len(ok), len(runs))
            if not ok:
                message = ((runs[-1]["error"] or {}).get("message") or "").splitlines()
                rows.append((model, backend, runs[-1]["status"], processes,
                             message[0][:60] if message else "") + ("",) * 8)
                continue
            metrics = [r["metrics"] for r in ok]
            epoch_cvs = [(m.get("stability") or {}).get("cv_pct") for m in metrics]
            epoch_cvs = [cv for cv in epoch_cvs if cv is not None]
            process_cv = _cv(own)
            comparison = versus.get(backend)
            first = [m["warmup"]["first_epoch_s"] for m in metrics
                     if m["warmup"]["first_epoch_s"]]
            losses = [m["loss"] for m in metrics if m["loss"] is not None]
            rows.append((model, backend, "ok", processes, "%.0f" % _median(own),
                         "\u00b1 %.1f" % _median(epoch_cvs) if epoch_cvs else "",
                         "%.1f" % process_cv if process_cv is not None else "-",
                         significance.mark(comparison) + "%.2f" % (
                             _median(own) / _median(speeds[best])),
                         significance.p_text(comparison) if comparison else "best",
                         "%.2f" % _median([m["step_ms"]["median"] for m in metrics]),
                         "%.2f" % _median(first) if first else "",
                         "%.4f" % _median(losses) if losses else "",
                         _stability_cell(metrics, process_cv)))
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()
             for row in [header, tuple("-" * w for w in widths)] + rows]
    notes = ["samples/s: the median of the processes' median speeds. \u00b1 CV%%: the measured "
             "epochs' standard deviation over their mean (the median over the processes); "
             "proc CV%%: the same over the processes' median speeds. UNSTABLE marks a "
             "configuration whose figures should not be trusted, with the checks it failed "
             "(metrics.stability.reasons in a result file says why; 'processes': the "
             "processes' speeds vary by %g%% or more)." % timing.CV_LIMIT_PCT,
             significance.footnote(comparisons)]
    return "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"


def _median(values):
    return timing.stats(values)["median"]


def _cv(speeds):
    """The processes' coefficient of variation in %, or None for fewer than two."""
    if len(speeds) < 2:
        return None
    figures = timing.stats(speeds)
    return 100.0 * figures["stdev"] / figures["mean"]


def _stability_cell(metrics, process_cv):
    """'stable', or 'UNSTABLE: ' and the checks some process failed, with 'processes' where
    the processes' speeds spread by timing.CV_LIMIT_PCT or more."""
    verdicts = [m.get("stability") or {} for m in metrics]
    if not any(v.get("verdict") for v in verdicts):
        return ""
    failed = sorted({name for v in verdicts if v.get("verdict") == "unstable"
                     for name in v.get("failed") or []})
    if process_cv is not None and process_cv >= timing.CV_LIMIT_PCT:
        failed.append("processes")
    return "UNSTABLE: " + ", ".join(failed) if failed else "stable"


def _speed(record):
    return record["metrics"]["throughput"]["median"] if record["status"] == "ok" else -1.0


def _say(line):
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
