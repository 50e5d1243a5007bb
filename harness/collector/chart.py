"""The speed chart, drawn with matplotlib (imported only when a chart is asked for): per
workload each backend's training speed relative to the fastest, with its spread as error
bars, and, where runs used more than one count of them, how speed grows with the number
of GPUs and of devices; where runs measured it, each backend's energy per sample relative
to the workload's most frugal. Linear axes: a relative speed compares across workloads
whose speeds differ a hundredfold, without a log scale that makes 0.5 and 0.9 look alike."""
import io
from collections import namedtuple

from harness.collector.groups import merge, subset, unprofiled
from harness.collector.labels import backend_label, dataset_label, model_label, workload_label
from harness.collector.layout import KNOBS
from harness.collector.records import CollectError, MissingPackage, is_number


def write_chart(groups, path):
    """Draw the chart of `groups` (profiled runs left out) into the PNG file `path`."""
    try:
        _save(chart_figure, (groups,), path, dict(dpi=100))
    except (OSError, ValueError) as error:  # ValueError: a file type matplotlib cannot write
        raise CollectError("cannot write the chart: %s" % error)


def svg_text(draw, *arguments):
    """The SVG element (no XML prologue) of the figure `draw(*arguments)` makes, its text
    kept as text (no embedded glyphs: a tenth of the size, and the page's own font)."""
    buffer = io.StringIO()
    _save(draw, arguments, buffer, {"format": "svg"}, {"svg.fonttype": "none",
                                                        "svg.hashsalt": "report"})
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def _save(draw, arguments, into, options, settings=None):
    """Save the figure `draw(*arguments)` into a path or file with savefig's `options`,
    under matplotlib's `settings`."""
    pyplot, matplotlib = _matplotlib()
    # The labels are the records' own text: a "$" in one must print, not start TeX math
    # (matplotlib before 3.5 has no such switch).
    settings = dict(settings or {})
    if "text.parse_math" in matplotlib.rcParams:
        settings["text.parse_math"] = False
    with matplotlib.rc_context(settings):
        figure = draw(*arguments)
        try:
            figure.savefig(into, **options)
        finally:
            pyplot.close(figure)


def _matplotlib():
    try:
        import matplotlib
        matplotlib.use("Agg")  # files only: no display needed, none opened
        from matplotlib import pyplot
    except ImportError:
        raise MissingPackage("--chart needs matplotlib, which is not installed: "
                             "pip install matplotlib")
    return pyplot, matplotlib


def chart_figure(groups):
    """The chart as a matplotlib Figure: a panel of speed by number of GPUs where the
    training runs used more than one GPU count (0 is the CPU), one by number of devices
    where they used more than one device count, the per-workload speed panel, and the
    per-workload energy panel where some training run measured its energy."""
    pyplot, _ = _matplotlib()
    from matplotlib.ticker import MaxNLocator
    training = [g for g in unprofiled(groups) if not g.identity.get("inference")]
    scalings = [panel for panel in (
        ("gpus", ("backend", "backend_package", "model", "resnet_version", "resnet_layers",
                  "dataset"), _package_label, "Number of GPUs used (0 = CPU)",
         "Training speed by number of GPUs, per backend and package"),
        ("devices", ("backend", "model", "resnet_version", "resnet_layers", "device_kind"),
         _device_kind_label, "Number of devices trained on (data-parallel above 1)",
         "Training speed by number of devices, per backend and model"))
        if len({g.identity.get(panel[0]) for g in training}) > 1]
    workloads = merge(training, lambda g: {"workload": workload_label(g.identity)},
                      _slot_namer(training))
    metered = [g for g in training if g.joules_per_sample]  # 0 J: nothing to compare with
    panels = len(scalings) + 1 + bool(metered)
    figure, axes = pyplot.subplots(panels, 1, squeeze=False, figsize=(
        min(max(10, 0.6 * len(workloads)), 60), 6 * panels))
    axes = [row[0] for row in axes]
    for plot, (count, fields, label, xlabel, title) in zip(axes, scalings):
        _draw_scaling(plot, merge(training, lambda g: subset(g.identity, fields),
                                  lambda g: g.identity.get(count)), label, xlabel, title)
        plot.xaxis.set_major_locator(MaxNLocator(integer=True))
    _draw_workloads(axes[len(scalings)], workloads, SPEED)
    if metered:
        _draw_workloads(axes[-1], merge(metered, lambda g: {"workload": workload_label(g.identity)},
                                        _slot_namer(training)), ENERGY)
    figure.tight_layout()
    return figure


def _package_label(identity):
    return "%s %s: %s, %s" % (backend_label(identity["backend"]), identity["backend_package"],
                              model_label(identity), dataset_label(identity["dataset"]))


def _device_kind_label(identity):
    return "%s: %s (%s)" % (backend_label(identity["backend"]), model_label(identity),
                            identity["device_kind"])


def _draw_scaling(plot, series, label, xlabel, title):
    """One line per series (named by `label(identity)`): its speed on each count over its
    speed on the fewest."""
    for row in series:
        points = sorted((count, g.speed) for count, g in row.members.items() if is_number(count))
        if points:
            plot.plot([x for x, _ in points], [y / points[0][1] for _, y in points], marker="o",
                      label=label(row.identity))
    plot.set_xlabel(xlabel)
    plot.set_ylabel("Training speed relative to the fewest")
    plot.set_title(title)
    if series:
        plot.legend(fontsize=7)


def _draw_workloads(plot, workloads, measure):
    """Per workload, each backend's figure (a Measure's) over the workload's best, as bars
    with the spread as error bars where the measure has one."""
    names = sorted({name for row in workloads for name in row.members})
    width = 0.8 / max(len(names), 1)
    value = measure.figure
    for offset, name in enumerate(names):
        placed = [(at, row.members[name], measure.best(value(g) for g in row.members.values()))
                  for at, row in enumerate(workloads) if name in row.members]
        heights = [value(group) / best for _, group, best in placed]
        errors = None
        if measure.spread:
            spreads = [measure.spread(group) for _, group, _ in placed]
            errors = [[(value(group) - low) / best
                       for (_, group, best), (low, _) in zip(placed, spreads)],
                      [(high - value(group)) / best
                       for (_, group, best), (_, high) in zip(placed, spreads)]]
        plot.bar([at + offset * width for at, _, _ in placed], heights, width, label=name,
                 yerr=errors, capsize=3)
    plot.set_xticks([at + 0.4 - width / 2 for at in range(len(workloads))])
    plot.set_xticklabels([row.identity["workload"] for row in workloads],
                         rotation=30, ha="right", fontsize=7)
    plot.set_xlabel("Workload")
    plot.set_ylabel(measure.ylabel)
    plot.set_title(measure.title)
    if workloads:
        plot.axhline(1.0, color="grey", linewidth=0.5)
        plot.legend(fontsize=7)
    else:
        plot.text(0.5, 0.5, "No successful training runs", ha="center",
                  transform=plot.transAxes)


def spread_of(group):
    """(low, high) speeds around a configuration's figure: its repeats' medians where it
    was repeated, else its one run's measured epochs (the figure alone where the run
    kept none)."""
    if group.runs > 1:
        return group.speed_min, group.speed_max
    epochs = [s for s in group.samples[0][1] or () if is_number(s)]
    return (min(epochs + [group.speed]), max(epochs + [group.speed]))


# What the per-workload panel draws: each group's figure, relative to the workload's best
# (max or min) of it, with error bars from spread(group) (or none).
Measure = namedtuple("Measure", "figure best spread ylabel title")
SPEED = Measure(lambda group: group.speed, max, spread_of,
                "Training speed relative to the workload's fastest",
                "Training speed per workload and backend (error bars: the spread)")
ENERGY = Measure(lambda group: group.joules_per_sample, min, None,
                 "Energy per sample relative to the workload's most frugal",
                 "Training energy per sample per workload and backend (lower is better)")


def _slot_namer(groups):
    """What a workload's bars are named by: backend and package, and the speed knobs
    (KNOBS) where the groups differ in them."""
    knobs = [knob for knob in KNOBS if len({knob.cell(g) for g in groups}) > 1]

    def name(group):
        text = "%s (%s)" % (backend_label(group.identity.get("backend")),
                            group.identity.get("backend_package"))
        return text + "".join(", %s %s" % (knob.header, knob.cell(group)) for knob in knobs)
    return name


def workload_figure(groups):
    """One workload's configurations (a backend each, or knobs apart): each one's speed as a
    bar with its spread (spread_of) as error bars, and its measured epochs' speeds as dots."""
    pyplot, _ = _matplotlib()
    slot = _slot_namer(groups)
    versions = [field for field in ("keras_version", "backend_version")
                if len({(slot(g), g.identity.get(field)) for g in groups})
                > len({slot(g) for g in groups})]

    def name(group):  # the versions too, where the workload ran on several
        return slot(group) + "".join(", %s %s" % (field.split("_")[0], group.identity.get(field))
                                     for field in versions)
    figure, plot = pyplot.subplots(figsize=(6.4, 0.5 + 0.45 * max(len(groups), 2)))
    ordered = sorted(groups, key=lambda g: (g.speed, g.key))
    for at, group in enumerate(ordered):
        low, high = spread_of(group)
        plot.barh(at, group.speed, xerr=[[group.speed - low], [high - group.speed]],
                  capsize=3, color="C%d" % (at % 10))
        epochs = [s for _, speeds in group.samples for s in speeds or ()]
        plot.plot(epochs, [at] * len(epochs), "k.", markersize=3)
    plot.set_yticks(range(len(ordered)))
    plot.set_yticklabels([name(group) for group in ordered], fontsize=8)
    plot.set_xlabel("%s/s (dots: the measured epochs)" % ordered[0].unit, fontsize=8)
    figure.tight_layout()
    return figure


def history_figure(series, changes, unit):
    """Speed over time: `series` maps a name to its runs as (time, speed, epoch speeds), each
    run a point and its epochs small dots; `changes` is [(name, time, speed, text)], a
    significant change marked where its later runs start."""
    pyplot, _ = _matplotlib()
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter, datestr2num
    figure, plot = pyplot.subplots(figsize=(7.5, 3.2))
    for index, (name, points) in enumerate(sorted(series.items())):
        color = "C%d" % (index % 10)
        times = datestr2num([t for t, _, _ in points])
        plot.plot(times, [s for _, s, _ in points], "o-", color=color, label=name,
                  markersize=4)
        dots = [(t, e) for t, (_, _, epochs) in zip(times, points) for e in epochs or ()]
        plot.plot([t for t, _ in dots], [e for _, e in dots], ".", color=color, alpha=0.4,
                  markersize=3)
    locator = AutoDateLocator()
    plot.xaxis.set_major_locator(locator)
    plot.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    for name, at, speed, text in changes:
        plot.annotate(text, (datestr2num(at), speed), xytext=(0, 14), textcoords="offset points",
                      ha="center", fontsize=7, color="red",
                      arrowprops={"arrowstyle": "->", "color": "red"})
    plot.set_ylabel("%s/s" % unit, fontsize=8)
    plot.tick_params(labelsize=7)
    plot.legend(fontsize=7)
    figure.tight_layout()
    return figure
