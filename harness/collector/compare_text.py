"""The comparison (harness.collector.compare) as text: a Markdown table with the notes that
say what its marks and test are, or JSON; of two paths (the compare command) or of two
sides already read (a rerun's)."""
import json
from collections import OrderedDict

from harness import significance
from harness.collector.compare import (
    DEFAULT_FACTOR, SLOWER, compare_paths, energy_ratio, exit_status, lines)
from harness.collector.labels import backend_label, workload_label
from harness.collector.layout import Heading, Table
from harness.collector.tables import markdown


def of_paths(baseline, new, factor=DEFAULT_FACTOR, output_format="md", ignore=()):
    """(text, exit status, files skipped) of comparing the folder or Markdown document
    `baseline` with the folder `new`, leaving the fields `ignore` out of the match; the
    status is 1 where a configuration is slower."""
    compared, skipped = compare_paths(baseline, new, factor, ignore)
    render = markdown_text if output_format == "md" else json_text
    return render(compared, baseline, new, factor), exit_status(compared), skipped


def of_sides(before, after, baseline_name, new_name, factor=DEFAULT_FACTOR, output_format="md",
           unmatched=()):
    """(text, exit status) of comparing two sides (folder_side, runs_side, published_side);
    `unmatched`: the fields their keys leave out, shown where the sides differ in them."""
    compared = lines(before, after, factor, unmatched)
    render = markdown_text if output_format == "md" else json_text
    return render(compared, baseline_name, new_name, factor), exit_status(compared)


def markdown_text(compared, baseline_name, new_name, factor):
    """The comparison as Markdown: a table and what its marks and test are."""
    headers, rows = table(compared)
    return markdown([Heading(1, "Comparison"), Table(headers, rows)]
                    + notes(compared, baseline_name, new_name, factor))


def notes(compared, baseline_name, new_name, factor):
    """What the comparison's marks and test are, as paragraphs."""
    paragraphs = ["Baseline: %s; new: %s. New over baseline: above 1.00 the new runs are faster "
                  "(by speed, or by step time where the baseline gives only that). Factor %g: a "
                  "significant change smaller than that is 'within factor'; 'slower' fails the "
                  "comparison (exit status 1)." % (baseline_name, new_name, factor),
                  "p: %s, over each side's processes (each fresh process's median speed is one "
                  "value), then the 95%% interval of the speed ratio (geometric means); 'untested: "
                  "1 process a side': one process has no spread between processes to judge a "
                  "difference against, so its ratio is shown but never fails the comparison: run "
                  "several (--repeat, sweep's default)." % significance.TEST]
    if any(line.baseline is not None and line.baseline.published for line in compared):
        paragraphs.append("A published figure has no spread: its rows are not tested ('untested', "
                          "'no spread'), and a row states only what its table says (a row that "
                          "names no backend matches every backend; what it does not state reads "
                          "'not stated'). It matches on workload, backend and settings whatever "
                          "machine ran the new side.")
    if any(line.mark == "different workload" for line in compared):
        paragraphs.append("'different workload': the two sides' workload digests differ (the "
                          "model's, recipe's or data generator's code changed): the ratio is not a "
                          "speed-up.")
    if any(line.differs for line in compared):
        paragraphs.append("Differs (baseline / new): the fields left out of the match (the machine "
                          "where the baseline is published, and --ignore) in which the two sides "
                          "differ.")
    if any(energy_ratio(line) is not None for line in compared):
        paragraphs.append("Energy New/Baseline: the new runs' joules per sample over the baseline's "
                          "(medians over the runs; below 1.00 the new runs use less energy), where "
                          "both sides measured it; untested.")
    return paragraphs


HEADERS = ["Workload", "Differs", "Backend", "Baseline", "New", "New/Baseline", "p", "Mark"]


def table(compared):
    """The comparison table's headers and rows (cells): the Differs column only where some
    line's sides differ in a field left out of the match, an energy column where some line
    has both sides' energy."""
    headers, rows = list(HEADERS), [cells(line) for line in compared]
    if not any(line.differs for line in compared):
        del headers[1]
        rows = [row[:1] + row[2:] for row in rows]
    energy = [energy_ratio(line) for line in compared]
    if any(ratio is not None for ratio in energy):
        headers.append("Energy New/Baseline")
        rows = [row + ["-" if ratio is None else "%.2f" % ratio] for row, ratio in zip(rows, energy)]
    return headers, rows


def cells(line):
    """A Line's row of the comparison table (HEADERS)."""
    return [workload_label(line.identity), line.differs or "-",
            "%s (%s)" % (backend_label(line.identity.get("backend")),
                         line.identity.get("backend_package")),
            _figure(line.baseline), _figure(line.new),
            "-" if line.ratio is None else "%.2f" % line.ratio,
            significance.p_text(line.comparison) if line.comparison else
            ("no spread" if line.baseline is not None and line.baseline.published
             and line.ratio is not None else "-"),
            line.mark + ("" if line.new is None or line.new.error is None
                         else ": " + line.new.error)]


def _figure(side):
    if side is None or side.error is not None:
        return "-"
    if side.speed is not None:
        return "%.4g/s" % side.speed
    return "%.4g ms/step" % side.step_ms


def json_text(compared, baseline_name, new_name, factor):
    rows = [OrderedDict([
        ("identity", line.identity), ("mark", line.mark),
        ("baseline", _side_json(line.baseline)), ("new", _side_json(line.new)),
        ("ratio", line.ratio), ("ratio_by", line.by), ("differs", line.differs or None),
        ("energy_ratio", energy_ratio(line)),
        ("p", line.comparison.p if line.comparison else None),
        ("ratio_interval", [line.comparison.low, line.comparison.high]
         if line.comparison and line.comparison.low is not None else None),
        ("test_processes", list(line.comparison.n) if line.comparison else None),
        ("untested_why", _untested_why(line))])
        for line in compared]
    return json.dumps(OrderedDict([
        ("baseline", baseline_name), ("new", new_name), ("factor", factor),
        ("test", significance.TEST), ("slower", sum(line.mark == SLOWER for line in compared)),
        ("rows", rows)]), indent=1) + "\n"


def _side_json(side):
    if side is None:
        return None
    return OrderedDict([("speed", side.speed), ("step_ms", side.step_ms),
                        ("joules_per_sample", side.joules_per_sample),
                        ("runs", len(side.samples)), ("published", side.published),
                        ("workload_digests", sorted(d for d in side.digests if d)),
                        ("error", side.error)])


def _untested_why(line):
    if line.comparison is not None:
        return significance.untested_text(line.comparison) if line.comparison.why else None
    if line.ratio is None:
        return "nothing to compare"
    if line.baseline.published:
        return "a published figure has no spread"
    return line.mark
