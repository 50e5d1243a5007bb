"""Many runs, each in its own process: a sweep's comparison table, and the repeats of one run.

A backend is fixed when Keras is imported, and a crash or an out-of-memory
kill must not take the other runs with it: so every run is a fresh
`python -m harness` process. A process that dies without writing its result
(killed by the kernel, say) gets an `error` result written on its behalf.
`--repeat N` runs a configuration N times this way (a fresh process also
draws a fresh memory layout and thread placement, which one process's epochs
do not), and reports how far the repeats' speeds spread.
"""
import glob
import os
import signal
import subprocess
import sys
import threading
import time

from harness import backends, environment, schema, significance, stopping, timing
from harness.collector.cli import report_note
from harness.options import all_options, dest
from harness.spec import BACKENDS, KERAS3_BACKENDS, WORKLOADS, UsageError, make_spec

_LAST_LINES = 20  # of a dead run's stderr, kept in the result written for it


def main(args, options):
    """Run the sweep that `args` asks for; exit code 0 when no run failed."""
    chosen = _names(args.backends, BACKENDS, "backend") if args.backends else \
        [b for b in KERAS3_BACKENDS if backends.installed(b)]
    missing = [b for b in chosen if not backends.installed(b)]
    if missing or not chosen:
        raise UsageError("not installed in this environment: %s" % (", ".join(missing) or
                                                                   ", ".join(KERAS3_BACKENDS)))
    models = _names(args.models, WORKLOADS, "model")
    out = options.get("out", "results")
    plan = [(m, b) for m in models for b in chosen]
    if args.shard:
        plan = shard(plan, *parse_shard(args.shard))
    for model, backend in plan:  # a usage error stops the sweep before its first run
        make_spec(model=model, backend=backend, **options)
    records = []
    started = time.time()
    for number, (model, backend) in enumerate(plan, 1):
        _say("[%d/%d] %s on %s" % (number, len(plan), model, backend))
        records += run_repeats(model, backend, options, out, args.timeout)
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


def repeat(model, backend, options):
    """`python -m harness MODEL --repeat N`: exit code 0 when no repeat failed."""
    records = run_repeats(model, backend, options, options.get("out", "results"), timeout=None)
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


def run_repeats(model, backend, options, out, timeout):
    """Run one configuration `options["repeat"]` times (default once), each in its own
    process; with repeats, say how each went and how far their speeds spread."""
    count = options.get("repeat") or 1
    if count == 1:
        return [run_one(model, backend, options, out, timeout)]
    group = schema.new_run_id()
    records = []
    for index in range(count):
        record = run_one(model, backend, dict(options, repeat_index=index, repeat_group=group),
                         out, timeout)
        records.append(record)
        _say("repeat %d/%d of %s on %s: %s" % (index + 1, count, model, backend, _outcome(record)))
    _say(spread(records))
    return records


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
        figures["median"], figures["min"], figures["max"], 100.0 * figures["stdev"] / figures["mean"])


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
    record["environment"] = environment.describe()
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
    """A plain-text comparison: per workload, each backend's speed, its spread over the
    measured epochs, its ratio to the fastest (with "≈" where the difference is not
    significant, see harness.significance) and its stability verdict."""
    header = ("model", "backend", "status", "samples/s", "\u00b1 CV%", "vs best", "p", "ms/step",
              "1st epoch s", "loss", "stability")
    rows, comparisons = [], []
    for model in sorted({r["config"]["model"] for r in records}, key=list(WORKLOADS).index):
        group = [r for r in records if r["config"]["model"] == model]
        runs = {}  # backend: its ok runs as (median speed, epoch speeds)
        for r in group:
            if r["status"] == "ok":
                runs.setdefault(r["config"]["backend"], []).append(
                    (_speed(r), significance.epoch_speeds((r.get("samples") or {}).get("epochs"),
                                                          r["metrics"]["measured"]["epochs"])))
        best = max(group, key=_speed)
        versus = {backend: significance.compare_runs(own, runs[best["config"]["backend"]])
                  for backend, own in runs.items() if backend != best["config"]["backend"]}
        comparisons += list(versus.values())
        for r in sorted(group, key=_speed, reverse=True):
            m = r["metrics"]
            if r["status"] != "ok":
                rows.append((model, r["config"]["backend"], r["status"],
                             r["error"]["message"].splitlines()[0][:60] if r["error"]["message"] else "",
                             "", "", "", "", "", "", ""))
                continue
            stable = m.get("stability") or {}
            cv = stable.get("cv_pct")
            versus_best = versus.get(r["config"]["backend"])
            rows.append((model, r["config"]["backend"], "ok", "%.0f" % m["throughput"]["median"],
                         "\u00b1 %.1f" % cv if cv is not None else "",
                         significance.mark(versus_best) + "%.2f" % (_speed(r) / _speed(best)),
                         significance.p_text(versus_best) if versus_best else "best",
                         "%.2f" % m["step_ms"]["median"],
                         "%.2f" % m["warmup"]["first_epoch_s"] if m["warmup"]["first_epoch_s"] else "",
                         "%.4f" % m["loss"] if m["loss"] is not None else "",
                         _stability_cell(stable)))
    widths = [max(len(str(row[i])) for row in rows + [header]) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()
             for row in [header, tuple("-" * w for w in widths)] + rows]
    notes = ["\u00b1 CV%: the measured epochs' standard deviation over their mean. "
             "UNSTABLE marks a run whose figures should not be trusted, with the checks it "
             "failed (metrics.stability.reasons in its result file says why).",
             significance.footnote(comparisons)]
    return "\n".join(lines) + "\n\n" + "\n".join(notes) + "\n"


def _stability_cell(stability):
    if not stability.get("verdict"):
        return ""
    if stability["verdict"] == "stable":
        return "stable"
    return "UNSTABLE: " + ", ".join(stability.get("failed") or [])


def _speed(record):
    return record["metrics"]["throughput"]["median"] if record["status"] == "ok" else -1.0


def _say(line):
    sys.stderr.write(line + "\n")
    sys.stderr.flush()
