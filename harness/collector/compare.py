"""Two result sets side by side: per configuration, the speed ratio, a significance test and
a verdict, in Markdown or JSON.

    python harness/collect.py compare BASELINE NEW [--factor F] [--ignore FIELD,...]
                                                   [--format md|json]

BASELINE is a results folder or a Markdown document with the seeds' result tables
(harness.collector.published); NEW is a results folder. Configurations are matched on
MATCH_FIELDS (what ran where, not which versions: comparing versions is the point). A
published row matches on the fields it states but the machine and the framework's build
for it (MACHINE_FIELDS): a published table was measured elsewhere, so it matches on
workload, backend and settings, with the two machines side by side (Differs). --ignore
leaves more fields out of the match (a synthetic run standing for a published CIFAR-10
row), shown side by side too. The test is harness.significance's (Welch's t-test over
the processes' median speeds, the process as the unit, with the ratio's interval); a
published figure has no spread, so its rows are not tested and say so. Marks: faster,
slower (significant and beyond the factor), within factor (significant, but smaller
than F), not significant, only in baseline, only in new, failed now (ran in the
baseline, no successful run now), different workload (the workload digests differ: the
ratio is not a speed-up); "(untested...)" after the ratio's verdict where no test could
run ("untested: 1 process a side", a published figure, or no scipy here). The exit
status is 1 when a configuration is slower (tested), so CI can gate on it. Where both
sides measured their energy (metrics.energy), the energy per sample's ratio stands beside
the speed's.
"""
import json
import os
from collections import OrderedDict, namedtuple

from harness import significance
from harness.collector import labels, published
from harness.collector.groups import collapse, failures_of, identities_of, unprofiled
from harness.collector.labels import backend_label, error_text, workload_label
from harness.collector.layout import Heading, Table
from harness.collector.records import CollectError
from harness.collector.runs import WORKLOAD_DIGEST, load, key_of
from harness.collector.tables import markdown

# What makes a baseline's configuration the new one's: the workload as run, the machine
# and devices, the backend and its package, the knobs; not the versions, the workload's
# digest (told apart by its own mark) or how long the run measured.
MATCH_FIELDS = ("model", "resnet_version", "resnet_layers", "image_size", "dataset", "inference",
                "method", "instance", "gpus", "devices", "device_kind", "global_batch_size",
                "data_format", "precision", "backend", "backend_package", "jit_compile", "tf32")
# The machine and the framework's build for it (mxnet-mkl, mxnet-cu90, tensorflow-cpu): a
# published table's rows match whatever machine ran the new side.
MACHINE_FIELDS = ("instance", "backend_package")
DEFAULT_FACTOR = 1.1  # asv's: a change under 10% is not worth a CI failure
SLOWER = "slower"

# One side of a comparison: the configurations' pooled runs (speed: the median of their
# median speeds; samples: each process's median speed; step_ms: the median step time),
# the workload digests, the error of a run that did not succeed, and the median joules
# per sample (None where no run measured it).
Side = namedtuple("Side", "identity speed step_ms samples digests error published "
                          "joules_per_sample")
# One line of the comparison; differs: "field: baseline / new" of each field left out of
# the match (the machine, --ignore) in which the two sides differ.
Line = namedtuple("Line", "identity baseline new ratio by comparison mark differs")


def folder_side(folder, skipped, match_fields=MATCH_FIELDS):
    """runs_side of a results folder; appends to `skipped` the (path, reason) of each file
    not read."""
    runs, unreadable, _ = load(folder)
    skipped.extend(unreadable)
    return runs_side(runs, match_fields)


def runs_side(runs, match_fields=MATCH_FIELDS):
    """{match key: Side} of `runs` (runs.Run): their unprofiled successful configurations,
    and their failures where nothing of that configuration succeeded."""
    identities = identities_of(runs)
    groups = unprofiled(collapse([run for run in runs if run.status == "ok"], identities))
    pooled = OrderedDict()
    for group in groups:
        pooled.setdefault(_match_key(group.identity, match_fields), []).append(group)
    sides = OrderedDict((key, _pool(members)) for key, members in pooled.items())
    for failure in failures_of([run for run in runs if run.status != "ok"], identities):
        key = _match_key(failure.identity, match_fields)
        if key not in sides and not failure.identity.get("profile"):
            sides[key] = Side(_matched(failure.identity, MATCH_FIELDS), None, None, [],
                              {failure.identity.get(WORKLOAD_DIGEST)}, error_text(failure.run),
                              False, None)
    return sides


def _matched(identity, match_fields):
    return OrderedDict((name, identity.get(name)) for name in match_fields)


def _match_key(identity, match_fields):
    return key_of(_matched(identity, match_fields))


def _pool(groups):
    """One Side of the groups that match one configuration (several versions, say)."""
    speeds = sorted(speed for group in groups for speed in group.repeat_speeds)
    steps = sorted(group.step_ms for group in groups)
    joules = sorted(g.joules_per_sample for g in groups if g.joules_per_sample is not None)
    return Side(_matched(groups[0].identity, MATCH_FIELDS), _median(speeds), _median(steps),
                [speed for group in groups for speed in group.repeat_speeds],
                {group.identity.get(WORKLOAD_DIGEST) for group in groups}, None, False,
                _median(joules) if joules else None)


def _median(ordered):
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2.0


def published_side(path):
    """[(stated fields, Side)] of a Markdown document's result rows."""
    return [(row.stated, Side(row.stated, row.speed, row.step_ms, [], {None}, None, True, None))
            for row in published.read(path)]


def lines(baseline, new, factor, unmatched=()):
    """The comparison's Lines. `baseline`: a folder's {key: Side}, or a published document's
    [(stated, Side)], each matched to every new configuration that agrees on what it
    states but the machine and the `unmatched` fields; `new`: a folder's {key: Side}
    (keyed without the `unmatched` fields)."""
    shown = MACHINE_FIELDS + tuple(f for f in unmatched if f not in MACHINE_FIELDS)
    result, matched = [], set()
    if isinstance(baseline, dict):
        pairs = [(key, side, [key] if key in new else []) for key, side in baseline.items()]
    else:
        pairs = [(None, side, [key for key, one in new.items()
                               if all(one.identity.get(k) == v for k, v in stated.items()
                                      if k not in shown)])
                 for stated, side in baseline]
    compared = []  # Lines, and the (before, after) pairs that become Lines below
    for _, before, keys in pairs:
        if not keys:
            compared.append(Line(before.identity, before, None, None, None, None,
                                 "only in baseline", ""))
        for key in keys:
            matched.add(key)
            compared.append((before, new[key]))
    # The significance tests of all the pairs, run together (one call of scipy's).
    tested = [one for one in compared if not isinstance(one, Line) and _needs_test(*one)]
    comparisons = iter(significance.compare_all(
        [(before.samples, after.samples) for before, after in tested]))
    result = [one if isinstance(one, Line) else _line(
        one[0], one[1], factor, next(comparisons) if _needs_test(*one) else None,
        _differs(one[0], one[1], shown)) for one in compared]
    result += [Line(side.identity, None, side, None, None, None, "only in new", "")
               for key, side in new.items() if key not in matched]
    return result


def _differs(before, after, fields):
    """'field: baseline / new' for each of `fields` in which the two sides differ."""
    return "; ".join("%s: %s / %s" % (name, _or_not_stated(before.identity.get(name)),
                                       _or_not_stated(after.identity.get(name)))
                     for name in fields if before.identity.get(name) != after.identity.get(name))


def _or_not_stated(value):
    return labels.NOT_STATED if value is None else value


def _needs_test(before, after):
    """Whether the Line of two sides has a significance test (see _line)."""
    return before.error is None and after.error is None and not before.published \
        and len((before.digests | after.digests) - {None}) <= 1


def _line(before, after, factor, comparison, differs):
    """The Line of two matched sides; `comparison`: their test where _needs_test;
    `differs`: _differs's text."""
    identity = dict(before.identity) if before.published else dict(after.identity)
    identity.update((k, v) for k, v in after.identity.items() if identity.get(k) is None)
    if after.error is not None:
        mark = "failed now" if before.error is None else "failed in both"
        return Line(identity, before, after, None, None, None, mark, differs)
    if before.error is not None:
        return Line(identity, before, after, None, None, None, "only in new", differs)
    if before.speed is not None and after.speed:
        ratio, by = after.speed / before.speed, "speed"
    else:  # a published RNN cell gives seconds per step: the ratio of step times
        ratio, by = before.step_ms / after.step_ms, "step time"
    digests = (before.digests | after.digests) - {None}
    if len(digests) > 1:
        return Line(identity, before, after, ratio, by, None, "different workload", differs)
    if before.published:
        return Line(identity, before, after, ratio, by, None,
                    _by_ratio(ratio, factor) + " (untested)", differs)
    if comparison.why:
        mark = "%s (%s)" % (_by_ratio(ratio, factor), significance.untested_text(comparison))
    else:
        mark = _by_ratio(ratio, factor) if comparison.significant else "not significant"
    return Line(identity, before, after, ratio, by, comparison, mark, differs)


def energy_ratio(line):
    """New over baseline joules per sample (below 1: the new runs use less), or None where
    either side has no energy figure."""
    before, after = line.baseline, line.new
    if before is None or after is None or not before.joules_per_sample \
            or after.joules_per_sample is None:
        return None
    return after.joules_per_sample / before.joules_per_sample


def _by_ratio(ratio, factor):
    if ratio >= factor:
        return "faster"
    if ratio <= 1.0 / factor:
        return SLOWER
    return "within factor"


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


def compare(baseline, new, factor=DEFAULT_FACTOR, output_format="md", ignore=()):
    """(text, exit status, files skipped) of comparing the folder or Markdown document
    `baseline` with the folder `new`, leaving the fields `ignore` out of the match; the
    status is 1 where a configuration is slower."""
    compared, skipped = compare_paths(baseline, new, factor, ignore)
    render = markdown_text if output_format == "md" else json_text
    return render(compared, baseline, new, factor), exit_status(compared), skipped


def compare_paths(baseline, new, factor=DEFAULT_FACTOR, ignore=()):
    """The Lines of comparing the folder or Markdown document `baseline` with the folder
    `new`, leaving the fields `ignore` out of the match, and the (path, reason) of each
    file skipped."""
    if not factor >= 1:
        raise CollectError("--factor must be at least 1, not %g" % factor)
    unknown = [name for name in ignore if name not in MATCH_FIELDS]
    if unknown:
        raise CollectError("--ignore %s: not a matched field; choose from %s"
                           % (",".join(unknown), ", ".join(MATCH_FIELDS)))
    fields = tuple(name for name in MATCH_FIELDS if name not in ignore)
    skipped = []
    before = published_side(baseline) if os.path.isfile(baseline) \
        else folder_side(baseline, skipped, fields)
    return lines(before, folder_side(new, skipped, fields), factor, ignore), skipped


def exit_status(compared):
    """1 where a Line of `compared` is slower (tested), else 0."""
    return 1 if any(line.mark == SLOWER for line in compared) else 0


def report(before, after, baseline_name, new_name, factor=DEFAULT_FACTOR, output_format="md",
           unmatched=()):
    """(text, exit status) of comparing two sides (folder_side, runs_side, published_side);
    `unmatched`: the fields their keys leave out, shown where the sides differ in them."""
    compared = lines(before, after, factor, unmatched)
    render = markdown_text if output_format == "md" else json_text
    return render(compared, baseline_name, new_name, factor), exit_status(compared)
