"""How each configuration's speed moved over dates, versions and commits (conbench's and
asv's history, for the HTML report).

Per workload, one series per backend (its package and knobs apart): its successful,
unprofiled runs in time order. A series is cut where the build changes (the day, the
Keras or backend version, the commit or the workload digest), and each cut is tested as
`compare` tests two result sets: the runs before it against the runs after it, with
compare's test, factor and marks. Only where the results span more than one build.
"""
from collections import OrderedDict, namedtuple

from harness.collector import compare
from harness.collector.groups import identities_of, subset
from harness.collector.labels import backend_label, workload_label
from harness.collector.runs import key_of

# One workload's history. series: {name: [(started_at, speed, epoch speeds)]}, in time
# order; changes: the cuts compare found significant beyond its factor.
History = namedtuple("History", "workload unit series changes")
# A cut of one series: the build before and after it and compare's Line for the two.
Change = namedtuple("Change", "series started_at speed before after line")
# What tells two builds apart; runs of one build are compared only with other builds.
BUILD_FIELDS = ("keras_version", "backend_version", "workload_digest")
MARKED = ("faster", compare.SLOWER)


def build_of(run, identity):
    """A run's build: its day, versions, commit and workload digest, as text."""
    commit = dict(run.details or ()).get("Commit")
    parts = [run.started_at[:10]] + ["%s %s" % (name.split("_")[0], identity.get(name))
                                      for name in BUILD_FIELDS if identity.get(name)]
    return ", ".join(parts + (["commit %s" % commit[:10]] if commit else []))


def series_label(identity):
    """A series' name: the backend and its package, and the knobs it was run with."""
    knobs = "".join(", %s %s" % (name, identity[name]) for name in ("jit_compile", "tf32")
                    if identity.get(name) not in (None, "auto", False))
    return "%s (%s)%s" % (backend_label(identity.get("backend")),
                         identity.get("backend_package"), knobs)


def histories(runs, factor=compare.DEFAULT_FACTOR):
    """The History of each workload with a series whose runs (runs.Run, loaded with their
    details) come from more than one build."""
    identities = identities_of(runs)
    ok = sorted((run for run in runs if run.status == "ok"
                 and not identities[run.key].get("profile")),
                key=lambda run: (run.started_at, run.run_id))
    builds = {run.key + run.run_id: build_of(run, identities[run.key]) for run in ok}
    workloads = OrderedDict()
    for run in ok:
        identity = identities[run.key]
        series = key_of(subset(identity, compare.MATCH_FIELDS))
        workloads.setdefault(workload_label(identity), OrderedDict()).setdefault(
            series, []).append(run)
    result = []
    for workload, series in workloads.items():
        if all(len({builds[run.key + run.run_id] for run in one}) < 2
               for one in series.values()):
            continue  # no series of it moved from one build to another
        members = [run for one in series.values() for run in one]
        points, changes = OrderedDict(), []
        for one in series.values():
            name = series_label(identities[one[0].key])
            points[name] = [(run.started_at, run.speed, run.epoch_speeds) for run in one]
            changes += _changes(name, one, builds, factor)
        result.append(History(workload, members[0].unit or "samples", points, changes))
    return result


def _changes(name, runs, builds, factor):
    """The significant changes between consecutive builds of one series' runs."""
    segments = []
    for run in runs:
        build = builds[run.key + run.run_id]
        if not segments or segments[-1][0] != build:
            segments.append((build, []))
        segments[-1][1].append(run)
    changes = []
    for (before, earlier), (after, later) in zip(segments, segments[1:]):
        for line in compare.lines(compare.runs_side(earlier), compare.runs_side(later), factor):
            if line.mark in MARKED:
                changes.append(Change(name, later[0].started_at, later[0].speed, before, after,
                                      line))
    return changes
