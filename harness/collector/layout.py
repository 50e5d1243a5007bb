"""The pieces every table is made of: Column, Table, the columns the seeds' tables share,
cell text, and table_of, which adds the columns that tell look-alike rows apart."""
from collections import namedtuple

from harness.collector.groups import unit_of
from harness.console import stability_label
from harness.collector.labels import (
    backend_label, data_format_label, dataset_label, method_label, model_label, workload_label)

Heading = namedtuple("Heading", "level text")
Table = namedtuple("Table", "headers rows")
# A table column: its header and the function that gives a row's cell text.
Column = namedtuple("Column", "header cell")
NVML_MARK = "\u2020"  # a dagger: NVML's memory used, allocator pre-allocation included


def number_text(value):
    """Whole numbers from 10 up, as the seeds print speeds; two significant digits below."""
    if value is None:
        return "N/A"
    return "%d" % round(value) if abs(value) >= 10 else "%.2g" % value


def metric_text(value):
    return "N/A" if value is None else "%.4g" % value


def _epoch_text(group):
    """The seed's RNN cell, '13 sec - 264us/step': seconds per epoch, median step time."""
    step_ms = group.step_ms
    step = "%dus" % round(step_ms * 1000) if step_ms < 1 else "%dms" % round(step_ms)
    return "%s sec - %s/step" % (number_text(group.epoch_seconds), step)


def _field(name, label=str):
    """A cell that shows one identity field through `label`."""
    def cell(row):
        value = row.identity.get(name)
        return "N/A" if value is None else label(value)
    return cell


INSTANCE = Column("Instance Type", _field("instance"))
GPUS = Column("GPU used", _field("gpus"))
MODEL = Column("Model", lambda row: model_label(row.identity))
BACKEND = Column("Backend", _field("backend", backend_label))
PACKAGE = Column("Package", _field("backend_package"))
METHOD = Column("Method", _field("method", method_label))
BATCH = Column("Batch Size", _field("global_batch_size"))
DATA_FORMAT = Column("Data Format", _field("data_format", data_format_label))
DATASET = Column("Data Set", _field("dataset", dataset_label))
REPEATS = (Column("Repeats", lambda group: str(group.runs)),
           Column("CV %", lambda group: "-" if group.cv is None else "%.1f" % group.cv))
WORKLOAD = Column("Workload", lambda row: workload_label(row.identity))
EPOCH = Column("Speed/Epoch <br />(Lower is better)", _epoch_text)
# Not in the seeds' tables, but shown where rows would otherwise look the same.
TELL_APART = (
    BACKEND, PACKAGE, MODEL, DATASET, Column("Devices", _field("devices")), BATCH, DATA_FORMAT,
    METHOD, Column("Parallel", _field("parallel")),
    Column("Precision", _field("precision")), Column("Image Size", _field("image_size")),
    Column("Epochs", _field("epochs")), Column("Warm-up", _field("warmup")),
    Column("Steps/Epoch", _field("steps_per_epoch")),
    Column("Keras Version", _field("keras_version")),
    Column("Backend Version", _field("backend_version")),
    Column("BLAS", _field("blas")),
    # Its first 12 hex digits: runs of a changed network are not repeats of the old one.
    Column("Workload Digest", _field("workload_digest", lambda digest: digest[7:19])),
)


# The speed knobs: a column wherever the rows of a table differ in one. The jit column
# shows what the backend resolved --jit-compile to, else what was asked.
KNOBS = (
    Column("JIT Compile", lambda row: _field("jit_compile_resolved")(row)
           if row.identity.get("jit_compile_resolved") is not None
           else _field("jit_compile")(row)),
    Column("TF32", _field("tf32")),
    Column("Timing", _field("timing")),
)


def speed_column(groups):
    return Column("Speed (%s/s)" % unit_of(groups), lambda group: number_text(group.speed))


def with_repeats(values, groups):
    """The repeat count and CV columns, where some row collapses repeated runs."""
    return list(values) + (list(REPEATS) if any(g.runs > 1 for g in groups) else [])


def gpu_columns_of(groups):
    """The GPU memory and utilisation columns that some of `groups` have figures for, and
    the footnote that says what the memory figures are."""
    columns, notes = [], []
    if any(g.gpu_memory is not None for g in groups):
        columns.append(Column("GPU Mem (MiB)", lambda g: "N/A" if g.gpu_memory is None else
                              "%d%s" % (round(g.gpu_memory),
                                        NVML_MARK if g.gpu_memory_source == "nvml" else "")))
        notes.append("GPU Mem is the backend's own peak on device 0, allocator pools left out"
                     + ("; %s marks NVML's peak memory used on the busiest GPU instead, which "
                        "includes what the framework pre-allocated (TensorFlow and JAX take "
                        "most of the GPU up front)" % NVML_MARK
                        if any(g.gpu_memory_source == "nvml" for g in groups) else "") + ".")
    if any(g.gpu_util is not None for g in groups):
        columns.append(Column("GPU Util (%)", lambda g: "N/A" if g.gpu_util is None else
                              "%.0f" % g.gpu_util))
        notes.append("GPU Util is NVML's utilisation while training, the mean over the run's "
                     "GPUs of each one's mean.")
    return columns, [" ".join(notes)] if notes else []


def energy_columns_of(groups):
    """The energy per sample column where some of `groups` measured it, and its footnote
    (the counters that measured it); none where no run could (harness.energy)."""
    if all(g.joules_per_sample is None for g in groups):
        return [], []
    sample = unit_of(groups)[:-1]  # images, sequences, samples: one of them
    sources = sorted({source for g in groups for source in g.energy_sources})
    column = Column("Energy (J/%s)" % sample, lambda g: "N/A" if g.joules_per_sample is None
                    else "%.3g" % g.joules_per_sample)
    return [column], ["Energy is joules per %s over the measured epochs (the median over "
                      "repeats), as %s measured it; N/A where a run had no energy counter to "
                      "read." % (sample, " and ".join(sources))]


def table_of(rows, columns, values, tell_apart=TELL_APART):
    """One table line per row: `columns`, the KNOBS that differ between rows, then those
    of `tell_apart` that some rows need to look different (which also keeps the seeds'
    tables exactly theirs), then the `values`."""
    shown = list(columns) + [knob for knob in KNOBS
                             if len({knob.cell(row) for row in rows}) > 1]
    visible = [tuple(column.cell(row) for column in shown) for row in rows]
    headers = {column.header for column in shown}
    for column in tell_apart:
        if len(set(visible)) == len(visible):
            break
        if column.header in headers:
            continue
        cells = [column.cell(row) for row in rows]
        if _splits(visible, cells):
            shown.append(column)
            visible = [line + (cell,) for line, cell in zip(visible, cells)]
    body = [list(line) + [column.cell(row) for column in values]
            for line, row in zip(visible, rows)]
    return Table([column.header for column in shown + list(values)], body)


def _splits(visible, cells):
    """Whether `cells` differ between rows whose visible cells are the same."""
    first = {}
    return any(first.setdefault(line, cell) != cell for line, cell in zip(visible, cells))


def stability_columns(groups):
    """The epochs' spread and the stability verdict, where some run of `groups` was judged
    (records from before the verdict have neither)."""
    if not any(g.judged for g in groups):
        return []
    return [Column("Epoch CV %", lambda g: "N/A" if g.epoch_cv is None else
                   "\u00b1 %.1f" % g.epoch_cv),
            Column("Stability", _stability_text)]


def _stability_text(group):
    """stability_label of the group's runs ("(1 of 3 runs)" where only some repeats were
    unstable), or N/A where none was judged."""
    if not group.judged:
        return "N/A"
    share = "" if len(group.unstable) in (0, group.runs) else " (%d of %d runs)" % (
        len(group.unstable), group.runs)
    return stability_label(group.failed_checks, group.cv, share)


STABILITY_NOTE = ("Epoch CV % is the measured epochs' standard deviation over their mean "
                  "(the median over repeats); UNSTABLE marks a configuration with a run that "
                  "failed a stability check (cv: epochs vary by 10% or more; outlier: an epoch "
                  "50% or more from the median; clock: steps under 1 ms timed one by one; load: "
                  "other work on the machine; warmup: the first measured epoch still slow; "
                  "epochs: too few to judge; processes: the processes' median speeds vary by "
                  "10% or more, CV %). Its figures should not be trusted.")
