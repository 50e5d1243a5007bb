"""Two result sets side by side: per configuration, the speed ratio, a significance test and
a verdict (harness.collector.compare_text writes it in Markdown or JSON).

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
import os
from collections import OrderedDict, namedtuple

from harness import significance
from harness.collector import labels, published
from harness.collector.groups import collapse, failures_of, identities_of, unprofiled
from harness.collector.labels import error_text
from harness.collector.match import DEFAULT_FACTOR, MACHINE_FIELDS, MATCH_FIELDS
from harness.collector.records import CollectError
from harness.collector.runs import WORKLOAD_DIGEST, load, key_of

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
