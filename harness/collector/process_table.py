"""The sweep's closing comparison, in plain text: one row per model and backend over the
records of its processes, failed ones counted, as `python -m harness sweep` prints it."""
from collections import OrderedDict

from harness import significance, timing
from harness.collector.groups import rank
from harness.collector.labels import MODELS
from harness.collector.layout import Table
from harness.console import stability_label

HEADERS = ("model", "backend", "status", "processes", "samples/s", "\u00b1 CV%", "proc CV%",
           "vs best", "p [95% CI]", "ms/step", "1st epoch s", "loss", "stability")


def text(records):
    """The table of `records` (result records, each a run's process) with its notes: the
    processes, the median of their median speeds, the epochs' and the processes' spread,
    the ratio to the fastest with the test of harness.significance over the processes
    ("≈" where the difference is not significant or untested), and the stability verdict,
    which also judges the spread between processes."""
    table, comparisons = table_of(records)
    notes = ["samples/s: the median of the processes' median speeds. \u00b1 CV%%: the measured "
             "epochs' standard deviation over their mean (the median over the processes); "
             "proc CV%%: the same over the processes' median speeds. UNSTABLE marks a "
             "configuration whose figures should not be trusted, with the checks it failed "
             "(metrics.stability.reasons in a result file says why; 'processes': the "
             "processes' speeds vary by %g%% or more)." % timing.CV_LIMIT_PCT,
             significance.footnote(comparisons)]
    return plain_text(table) + "\n\n" + "\n".join(notes) + "\n"


def plain_text(table):
    """A Table as aligned columns of text under a dashed rule."""
    widths = [max(len(str(row[i])) for row in table.rows + [table.headers])
              for i in range(len(table.headers))]
    return "\n".join("  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip()
                     for row in [table.headers, tuple("-" * w for w in widths)] + table.rows)


def table_of(records):
    """The Table of `records`, and the significance tests it shows."""
    rows, comparisons = [], []
    for model in sorted({r["config"]["model"] for r in records}, key=lambda m: rank(MODELS, m)):
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
            rows.append(_row(model, backend, configurations[backend], speeds[backend],
                             speeds[best], versus.get(backend)))
    return Table(HEADERS, rows), comparisons


def _row(model, backend, runs, own, best, comparison):
    """One configuration's cells: its records `runs`, their speeds `own`, the fastest's
    speeds `best`, and the test against the fastest (None: it is the fastest)."""
    ok = [r for r in runs if r["status"] == "ok"]
    processes = "%d" % len(runs) if len(ok) == len(runs) else "%d of %d ok" % (len(ok), len(runs))
    if not ok:
        message = ((runs[-1]["error"] or {}).get("message") or "").splitlines()
        return (model, backend, runs[-1]["status"], processes,
                message[0][:60] if message else "") + ("",) * 8
    metrics = [r["metrics"] for r in ok]
    epoch_cvs = [(m.get("stability") or {}).get("cv_pct") for m in metrics]
    epoch_cvs = [cv for cv in epoch_cvs if cv is not None]
    process_cv = cv_pct(own)
    first = [m["warmup"]["first_epoch_s"] for m in metrics if m["warmup"]["first_epoch_s"]]
    losses = [m["loss"] for m in metrics if m["loss"] is not None]
    return (model, backend, "ok", processes, "%.0f" % _median(own),
            "\u00b1 %.1f" % _median(epoch_cvs) if epoch_cvs else "",
            "%.1f" % process_cv if process_cv is not None else "-",
            significance.mark(comparison) + "%.2f" % (_median(own) / _median(best)),
            significance.p_text(comparison) if comparison else "best",
            "%.2f" % _median([m["step_ms"]["median"] for m in metrics]),
            "%.2f" % _median(first) if first else "",
            "%.4f" % _median(losses) if losses else "",
            _stability(metrics, process_cv))


def _median(values):
    return timing.stats(values)["median"]


def cv_pct(speeds):
    """The processes' coefficient of variation in %, or None for fewer than two."""
    if len(speeds) < 2:
        return None
    figures = timing.stats(speeds)
    return 100.0 * figures["stdev"] / figures["mean"]


def _stability(metrics, process_cv):
    """The processes' stability_label, or nothing where none was judged."""
    verdicts = [m.get("stability") or {} for m in metrics]
    if not any(v.get("verdict") for v in verdicts):
        return ""
    return stability_label(sorted({name for v in verdicts if v.get("verdict") == "unstable"
                                   for name in v.get("failed") or []}), process_cv)


def _speed(record):
    return record["metrics"]["throughput"]["median"] if record["status"] == "ok" else -1.0
