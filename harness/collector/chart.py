"""The speed chart, drawn with matplotlib (imported only when a chart is asked for): per
workload each backend's training speed relative to the fastest, with its spread as error
bars, and, where runs used more than one count of them, how speed grows with the number
of GPUs and of devices; where runs measured it, each backend's energy per sample relative
to the workload's most frugal. Linear axes: a relative speed compares across workloads
whose speeds differ a hundredfold, without a log scale that makes 0.5 and 0.9 look alike."""
from collections import namedtuple

from harness.collector.groups import merge, subset, unprofiled
from harness.collector.labels import backend_label, dataset_label, model_label, workload_label
from harness.collector.layout import KNOBS
from harness.collector.records import CollectError, MissingPackage, is_number


def write_chart(groups, path):
    """Draw the chart of `groups` (profiled runs left out) into the PNG file `path`."""
    pyplot, matplotlib = _matplotlib()
    # The labels are the records' own text: a "$" in one must print, not start TeX math
    # (matplotlib before 3.5 has no such switch).
    plain = {"text.parse_math": False} if "text.parse_math" in matplotlib.rcParams else {}
    with matplotlib.rc_context(plain):
        figure = chart_figure(groups)
        try:
            figure.savefig(path, dpi=100)
        except (OSError, ValueError) as error:  # ValueError: a file type matplotlib cannot write
            raise CollectError("cannot write the chart: %s" % error)
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
