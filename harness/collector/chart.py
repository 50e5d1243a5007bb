"""The speed chart: training speed against the number of GPUs and of devices, and per
workload and backend, drawn with matplotlib (imported only when a chart is asked for)."""
from harness.collector.groups import merge, subset, unit_of, unprofiled
from harness.collector.labels import backend_label, dataset_label, model_label, workload_label
from harness.collector.records import CollectError, MissingPackage, is_number


def write_chart(groups, path):
    """Draw training speed against the number of GPUs per backend and package, against
    the number of devices per backend and model (where runs used several device counts),
    and the speed of each workload per backend, into the PNG file `path`. Profiled runs
    are left out."""
    try:
        import matplotlib
        matplotlib.use("Agg")  # files only: no display needed, none opened
        from matplotlib import pyplot
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise MissingPackage("--chart needs matplotlib, which is not installed: "
                             "pip install matplotlib")
    # The labels are the records' own text: a "$" in one must print, not start TeX math
    # (matplotlib before 3.5 has no such switch).
    plain = {"text.parse_math": False} if "text.parse_math" in matplotlib.rcParams else {}
    with matplotlib.rc_context(plain):
        _draw_chart(pyplot, MaxNLocator, groups, path)


def _draw_chart(pyplot, MaxNLocator, groups, path):
    training = [g for g in unprofiled(groups) if not g.identity.get("inference")]
    unit = unit_of(training)
    series = merge(training, lambda g: subset(g.identity, (
        "backend", "backend_package", "model", "resnet_version", "resnet_layers", "dataset")),
        lambda g: g.identity.get("gpus"))
    # Per backend and model the fastest run on each device count; CPU devices apart from GPUs.
    by_devices = merge(training, lambda g: subset(g.identity, (
        "backend", "model", "resnet_version", "resnet_layers", "device_kind")),
        lambda g: g.identity.get("devices"))
    several_device_counts = len({g.identity.get("devices") for g in training}) > 1
    workloads = merge(training, lambda g: {"workload": workload_label(g.identity)},
                       lambda g: "%s (%s)" % (backend_label(g.identity.get("backend")),
                                              g.identity.get("backend_package")))
    figure, axes = pyplot.subplots(3 if several_device_counts else 2, 1, figsize=(
        min(max(10, 0.6 * len(workloads)), 60), 6 * (3 if several_device_counts else 2)))
    scaling, bars = axes[0], axes[-1]
    for row in series:
        points = sorted((gpus, g.speed) for gpus, g in row.members.items() if is_number(gpus))
        scaling.plot([x for x, _ in points], [y for _, y in points], marker="o",
                     label="%s %s: %s, %s" % (backend_label(row.identity["backend"]),
                                              row.identity["backend_package"],
                                              model_label(row.identity),
                                              dataset_label(row.identity["dataset"])))
    scaling.xaxis.set_major_locator(MaxNLocator(integer=True))
    scaling.set_xlabel("Number of GPUs used (0 = CPU)")
    scaling.set_ylabel("Training speed (%s/s, log scale)" % unit)
    scaling.set_title("Training speed by number of GPUs, per backend and package")
    if several_device_counts:
        devices = axes[1]
        for row in by_devices:
            points = sorted((count, g.speed) for count, g in row.members.items()
                            if is_number(count))
            devices.plot([x for x, _ in points], [y for _, y in points], marker="o",
                         label="%s: %s (%s)" % (backend_label(row.identity["backend"]),
                                                model_label(row.identity),
                                                row.identity["device_kind"]))
        devices.xaxis.set_major_locator(MaxNLocator(integer=True))
        devices.set_xlabel("Number of devices trained on (data-parallel above 1)")
        devices.set_ylabel("Training speed (%s/s, log scale)" % unit)
        devices.set_title("Training speed by number of devices, per backend and model")
    names = sorted({name for row in workloads for name in row.members})
    width = 0.8 / max(len(names), 1)
    for offset, name in enumerate(names):
        placed = [(at, row.members[name].speed) for at, row in enumerate(workloads)
                  if name in row.members]
        bars.bar([at + offset * width for at, _ in placed], [s for _, s in placed], width,
                 label=name)
    bars.set_xticks([at + 0.4 - width / 2 for at in range(len(workloads))])
    bars.set_xticklabels([row.identity["workload"] for row in workloads],
                         rotation=30, ha="right", fontsize=7)
    if training:
        # Speeds span orders of magnitude (an MLP against ResNet50): a linear axis hides the slow.
        for plot in axes:
            plot.set_yscale("log")
            plot.legend(fontsize=7)
    else:
        scaling.text(0.5, 0.5, "No successful training runs", ha="center",
                     transform=scaling.transAxes)
    bars.set_xlabel("Workload")
    bars.set_ylabel("Training speed (%s/s, log scale)" % unit)
    bars.set_title("Training speed per workload and backend")
    figure.tight_layout()
    try:
        figure.savefig(path, dpi=100)
    except (OSError, ValueError) as error:  # ValueError: a file type matplotlib cannot write
        raise CollectError("cannot write the chart: %s" % error)
    finally:
        pyplot.close(figure)

