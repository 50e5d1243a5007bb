"""The seeds' Markdown documents: the CNN and RNN tables (summary, configuration, results),
and beside them each workload's backend comparison, Keras against native, the phases, train
against inference per step, and the runs that failed.

Where speeds are ranked, harness.significance decides whether a difference is real ("≈"
where not). Profiled runs are kept out of every speed (the profiler slows them) and shown
only in the phase breakdown.
"""
from collections import OrderedDict

from harness import significance
from harness.collector import vgg16_table
from harness.collector.groups import merge, model_order, rank, subset, unit_of, unprofiled
from harness.collector.labels import (
    DATASET_LINKS, DATASETS, METHODS, NATIVE_PREFIX, PHASES, backend_label, dataset_label,
    error_text, kind_of, method_label, model_label, workload_label)
from harness.collector.runs import key_of
from harness.collector.layout import (
    BACKEND, BATCH, DATA_FORMAT, DATASET, EPOCH, GPUS, INSTANCE, METHOD, MODEL, PACKAGE,
    REPEATS, STABILITY_NOTE, WORKLOAD, Column, Heading, Table, energy_columns_of,
    gpu_columns_of, metric_text,
    number_text, speed_column, stability_columns, table_of, with_repeats)

# The summary table's data set columns, as in the seed's README.
SUMMARY_COLUMNS = OrderedDict((("cifar10", "CIFAR-10"), ("imagenet", "ImageNet"),
                               ("synthetic", "Synthetic Data")))
SUMMARY_FIELDS = ("instance", "gpus", "devices", "backend", "backend_package", "keras_version",
                  "backend_version")
# A training and an inference run are compared per step even when they were
# measured for different lengths.
PAIR_IGNORED = ("inference", "epochs", "warmup", "steps_per_epoch")
# Keras-on-X and native-X are compared where these agree (and X is the same).
NATIVE_MATCH = ("model", "resnet_version", "resnet_layers", "image_size", "dataset", "inference",
                "instance", "gpus", "devices", "device_kind", "global_batch_size", "precision")


def report(groups, failures, kind, phases=False):
    """The Markdown document as a list of blocks: Headings, Tables and paragraphs; with
    `phases`, each kind's phase breakdown too."""
    blocks = [Heading(1, "Keras Benchmark Results"),
              "%d successful runs in %d configurations; %d failed, skipped or interrupted."
              % (sum(g.runs for g in groups), len(groups), len(failures))]
    profiled = [g for g in groups if g.identity.get("profile")]
    if profiled:
        blocks.append("Profiled runs (%d, in %d configurations) are left out of every speed: "
                      "the profiler slows them. They appear only under Phases (--phases), "
                      "marked (profiled)." % (sum(g.runs for g in profiled), len(profiled)))
    if kind == "vgg16":
        return blocks + vgg16_table.blocks(groups, failures)
    for name, blocks_of in (("cnn", _cnn_blocks), ("rnn", _rnn_blocks)):
        if kind in (name, "all"):
            of_kind = [g for g in groups if kind_of(g.identity) == name]
            blocks += blocks_of(unprofiled(of_kind)) + (_phase_blocks(of_kind) if phases else [])
            if name == "cnn":
                blocks += vgg16_table.blocks(of_kind, failures)
    return blocks + _failure_blocks(failures)


def _cnn_blocks(groups):
    blocks = [Heading(2, "CNN Benchmarks")]
    if not groups:
        return blocks + ["No CNN results."]
    training = [g for g in groups if not g.identity.get("inference")]
    for label in _labels_in_order(training, model_label, model_order):
        blocks += _summary_blocks(label, [g for g in training if model_label(g.identity) == label])
    for dataset in _labels_in_order(groups, lambda identity: identity.get("dataset"),
                                    lambda identity: rank(DATASETS, identity.get("dataset"))):
        of_dataset = [g for g in groups if g.identity.get("dataset") == dataset]
        columns = [INSTANCE, GPUS, MODEL, BACKEND, PACKAGE] + (
            [METHOD] if dataset == "imagenet" else []) + [BATCH, DATA_FORMAT]
        blocks += [Heading(3, "%s Dataset" % dataset_label(dataset)),
                   Heading(4, "Configuration"), _configuration_table(of_dataset)]
        blocks += _results_blocks(of_dataset, 4, columns, speed_column)
    return (blocks + _comparison_blocks(groups) + _native_blocks(groups)
            + _step_time_blocks(groups))


def _rnn_blocks(groups):
    blocks = [Heading(2, "RNN Benchmarks")]
    if not groups:
        return blocks + ["No RNN results."]
    columns = [INSTANCE._replace(header="Instance"), GPUS._replace(header="GPUs"), DATASET]
    blocks += [Heading(3, "Configuration"), _configuration_table(groups)]
    blocks += _results_blocks(groups, 3, columns, lambda rows: EPOCH)
    return (blocks + _comparison_blocks(groups) + _native_blocks(groups)
            + _step_time_blocks(groups))


def _labels_in_order(groups, label, order):
    """The distinct `label(identity)` of `groups`, ordered by `order(identity)`."""
    first = {}
    for group in groups:
        first.setdefault(label(group.identity), order(group.identity))
    return sorted(first, key=lambda name: (first[name], str(name)))


def _summary_blocks(label, groups):
    """The seed README's table: the fastest training speed per machine, package and data set."""
    rows = merge([g for g in groups if g.identity.get("dataset") in SUMMARY_COLUMNS],
                  lambda g: subset(g.identity, SUMMARY_FIELDS), lambda g: g.identity["dataset"])
    if not rows:
        return []
    values = [Column(header, lambda row, dataset=dataset: _speed_of(row.members.get(dataset)))
              for dataset, header in SUMMARY_COLUMNS.items()]
    return [Heading(3, "Summary: %s" % label),
            "The fastest training configuration per instance, GPU count, devices and package "
            "(%s/s); N/A where none ran." % unit_of(groups),
            table_of(rows, [INSTANCE._replace(header="Instance"), GPUS, PACKAGE], values)]


def _speed_of(group):
    return number_text(group.speed) if group else "N/A"


def _results_blocks(groups, level, columns, value_column):
    """'Results' for training and, where any ran, 'Inference Results'."""
    blocks = []
    for title, inference in (("Results", False), ("Inference Results", True)):
        rows = [g for g in groups if bool(g.identity.get("inference")) == inference]
        if rows:
            gpu_columns, notes = gpu_columns_of(rows)
            energy_columns, energy_notes = energy_columns_of(rows)
            values = with_repeats([value_column(rows)], rows) + gpu_columns + energy_columns
            notes += energy_notes
            blocks += [Heading(level, title), table_of(rows, columns, values)] + notes
    return blocks


def _configuration_table(groups):
    """The seeds' two-column table: data sets, models, versions, training methods."""
    def listed(values, order=str):
        return sorted({v for v in values if v is not None}, key=order)

    identities = [g.identity for g in groups]
    datasets = listed((i.get("dataset") for i in identities), lambda d: rank(DATASETS, d))
    rows = [["Data Set", [_dataset_link(d) for d in datasets]],
            ["Model", _labels_in_order(groups, model_label, model_order)],
            ["Keras Version", listed(i.get("keras_version") for i in identities)]]
    for backend in listed(i.get("backend") for i in identities):
        rows.append(["%s Version" % backend_label(backend),
                     listed(i.get("backend_version") for i in identities
                            if i.get("backend") == backend)])
    methods = listed((i.get("method") for i in identities), lambda m: rank(METHODS, m))
    rows.append(["Training Method", [method_label(m) for m in methods]])
    return Table(["", ""], [[name, ", ".join(map(str, values)) or "N/A"] for name, values in rows])


def _dataset_link(dataset):
    link = DATASET_LINKS.get(dataset)
    label = dataset_label(dataset)
    return "[%s](%s)" % (label, link) if link else label


def _comparison_blocks(groups):
    """Each workload's backends side by side: speed, ratio to the fastest (with "≈" where
    the difference is not significant), final loss and accuracy (so that a backend that
    trains wrongly shows), repeats and their CV, the epochs' spread and stability."""
    workloads = OrderedDict()
    for group in groups:
        workloads.setdefault(workload_label(group.identity), []).append(group)
    rows, ratio, fastest_of = [], {}, {}
    for members in workloads.values():
        fastest = max(members, key=lambda g: (g.speed, g.key))
        for group in sorted(members, key=lambda g: (-g.speed, g.key)):
            rows.append(group)
            ratio[group.key] = group.speed / fastest.speed
            if group is not fastest:
                fastest_of[group.key] = (fastest.repeat_speeds, group.repeat_speeds)
    versus = dict(zip(fastest_of, significance.compare_all(fastest_of.values())))
    gpu_columns, notes = gpu_columns_of(rows)
    energy_columns, energy_notes = energy_columns_of(rows)
    stability = stability_columns(rows)
    values = [speed_column(groups),
              Column("vs Fastest", lambda g: significance.mark(versus.get(g.key))
                     + "%.2f" % ratio[g.key]),
              Column("p", lambda g: significance.p_text(versus[g.key]) if g.key in versus
                     else "fastest"),
              Column("Loss", lambda g: metric_text(g.loss)),
              Column("Accuracy", lambda g: metric_text(g.accuracy))] + list(REPEATS) + stability \
        + gpu_columns + energy_columns
    return [Heading(3, "Backend Comparison"),
            "Per workload, fastest first. The speed is the median of the repeats' median "
            "speeds; CV % is their standard deviation relative to their mean.",
            table_of(rows, [WORKLOAD, BACKEND, PACKAGE], values),
            significance.footnote(versus.values())] + ([STABILITY_NOTE] if stability else []) \
        + notes + energy_notes


def _native_blocks(groups):
    """Keras on each framework beside the same network written on that framework (native-X),
    for the same model, data, mode, machine, devices, global batch and precision."""
    def match(group):
        backend = group.identity.get("backend")
        framework = backend[len(NATIVE_PREFIX):] if backend.startswith(NATIVE_PREFIX) else backend
        return key_of(dict(subset(group.identity, NATIVE_MATCH), framework=framework))

    keras, natives = [], {}
    for group in groups:
        key = match(group)
        if not group.identity["backend"].startswith(NATIVE_PREFIX):
            keras.append((group, key))
        elif key not in natives or group.speed > natives[key].speed:
            natives[key] = group
    native_of = {group.key: natives[key] for group, key in keras if key in natives}
    if not native_of:
        return []
    rows = [g for g in groups if g.key in native_of]
    versus = dict(zip([g.key for g in rows], significance.compare_all(
        [(native_of[g.key].repeat_speeds, g.repeat_speeds) for g in rows])))
    unit = unit_of(rows)
    values = [Column("Keras (%s/s)" % unit, lambda g: number_text(g.speed)),
              Column("Native (%s/s)" % unit, lambda g: number_text(native_of[g.key].speed)),
              Column("vs Native", lambda g: significance.mark(versus[g.key])
                     + "%.2f" % (g.speed / native_of[g.key].speed)),
              Column("p", lambda g: significance.p_text(versus[g.key]))]
    return [Heading(3, "Keras vs Native"),
            "Keras on each framework against the same network written on that framework "
            "alone (native-*): same model, data, mode, machine, devices, global batch and "
            "precision; the fastest native configuration where several match. vs Native is "
            "Keras's speed over the native speed: below 1.00, Keras costs that much.",
            table_of(rows, [WORKLOAD, BACKEND, PACKAGE], values),
            significance.footnote(versus.values())]


def _phase_blocks(groups):
    """Where each configuration's time goes, phase by phase (the seed talk's line profile)."""
    names = [name for name in PHASES if any(g.phases[name] is not None for g in groups)]
    if not names:
        return []
    rows = [g for g in groups if any(g.phases[name] is not None for name in names)]
    values = [Column("%s (s)" % PHASES[name], lambda g, name=name: number_text(g.phases[name]))
              for name in names]
    return [Heading(3, "Phases"),
            "Median seconds per phase over the repeats: importing the framework, loading the "
            "data, building and compiling the model, the first epoch (tracing and compilation "
            "included), the warm-up, the measured (steady) epochs, evaluation, and the whole "
            "run. N/A where a run did not time that phase.",
            table_of(rows, [WORKLOAD, BACKEND, PACKAGE], values)]


def _step_time_blocks(groups):
    """Milliseconds per step, training beside inference (the seed talk's comparison)."""
    rows = merge(groups, lambda g: {k: v for k, v in g.identity.items() if k not in PAIR_IGNORED},
                  lambda g: "infer" if g.identity.get("inference") else "train")
    values = [Column("%s (ms/step)" % title,
                     lambda row, mode=mode: number_text(row.members[mode].step_ms)
                     if mode in row.members else "N/A")
              for mode, title in (("train", "Train"), ("infer", "Infer"))]
    columns = [MODEL, DATASET, INSTANCE, GPUS, BACKEND, PACKAGE, BATCH]
    return [Heading(3, "Train and Inference Time per Step"),
            "Median milliseconds per step; N/A where that mode was not run.",
            table_of(rows, columns, values)]


def _failure_blocks(failures):
    if not failures:
        return []
    columns = [Column("Status", lambda f: f.run.status),
               INSTANCE._replace(header="Instance"), GPUS, MODEL, BACKEND, PACKAGE, DATASET]
    values = [Column("Run", lambda f: f.run.run_id),
              Column("Error", lambda f: error_text(f.run))]
    return [Heading(2, "Failed, Skipped and Interrupted Runs"),
            "These runs count in no speed above.",
            table_of(failures, columns, values, tell_apart=())]


def markdown(blocks):
    text = []
    for block in blocks:
        if isinstance(block, Heading):
            text.append("#" * block.level + " " + block.text)
        elif isinstance(block, Table):
            text.append(_markdown_table(block))
        else:
            text.append(block)
    return "\n\n".join(text) + "\n"


def _markdown_table(table):
    """The one place a Table becomes Markdown: a GitHub pipe table, as in the seeds, laid
    out as tabulate's "github" format lays out text (cells stripped and left-aligned, each
    column as wide as its longest cell and at least its header and two spaces). Written out
    here: tabulate's guess at each cell's type was half the time of a long report."""
    rows = [[(cell.translate(_CELL_ESCAPES) if "|" in cell or "\n" in cell or "\r" in cell
              else cell).strip() for cell in row] for row in table.rows]
    widths = [max([len(header) + 2] + [len(row[at]) for row in rows])
              for at, header in enumerate(table.headers)]
    line = "| %s |" % " | ".join("{:<%d}" % width for width in widths)
    return "\n".join([line.format(*table.headers),
                      "|%s|" % "|".join("-" * (width + 2) for width in widths)]
                     + [line.format(*row) for row in rows])


# A cell is one line, and its "|" is text, not a column's end.
_CELL_ESCAPES = {ord("|"): "\\|", ord("\n"): " ", ord("\r"): " "}

