"""Published figures as a baseline: the result tables of a Markdown document in the seeds'
form (their CNN_result.md and RNN tables, or this collector's own output), read back into
rows that `compare` matches against a results folder.

A row states what its table and headings say, nothing more: the instance, the GPUs, the
model, backend, package, method, batch size and data format from its columns; the data set
and training or inference from the headings above it (or a Data Set column); the model
from a Configuration table's "Model" row where the table has no Model column. A figure is
the speed column ("Speed (images/s)") or the seeds' RNN cell ("13 sec - 264us/step",
compared by its step time). Tables without an instance and a figure (the configuration
tables, the seeds' summary, which names no model) are not rows. Anything unreadable in a
cell leaves that field unstated rather than stopping the read: a published page is
whatever its authors typed (tabs, "ReNet50V1", "N/A").
"""
import re
from collections import namedtuple

from harness.collector import vgg16_table
from harness.collector.labels import (
    BACKEND_LABELS, DATA_FORMAT_LABELS, DATASET_LABELS, METHOD_LABELS, MODEL_LABELS)
from harness.collector.records import NUMBER_LIMIT, CollectError

# One published row: `stated` maps identity fields (as the collector names them) to the
# row's values; `speed` in samples/s or None; `step_ms` where the cell gives a step time;
# `line` the row's line number in the document.
Row = namedtuple("Row", "stated speed step_ms line")

# Column header (lower case, spaces squeezed) -> the identity field its cells state.
COLUMNS = {"instance": "instance", "instance type": "instance", "gpu used": "gpus",
           "gpus": "gpus", "model": "model", "backend": "backend", "package": "backend_package",
           "method": "method", "training method": "method", "batch size": "global_batch_size",
           "data format": "data_format", "data set": "dataset"}
SPEED = re.compile(r"^speed \((images|sequences|samples)/s\)$")
EPOCH = re.compile(r"^speed/epoch\b")
# The seeds' RNN cell: "13 sec - 264us/step", "352 sec -  2ms/step".
EPOCH_CELL = re.compile(r"^\s*([0-9.]+)\s*sec\s*-\s*([0-9.]+)\s*(us|ms|s)/step\s*$")
NUMBER = re.compile(r"^[0-9]+(\.[0-9]+)?$")
STEP_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}
# The VGG16 seed's cell: "362.206 ms <sup>[2](#kerasnote)</sup>" (its footnote marks kept).
VGG16_TIME = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*ms\b")


def _squeezed(text):
    return " ".join(text.lower().split())


def _plain(text):
    """Letters and digits only, lower case: how names are matched ("ResNet50V1" and
    "resnet50 v1" alike)."""
    return re.sub(r"[^0-9a-z]", "", text.lower())


def _names(labels, extra=()):
    """{plain label or id: id} for a labels mapping (id -> label)."""
    names = {_plain(key): key for key in labels}
    names.update((_plain(label), key) for key, label in labels.items())
    names.update(extra)
    return names


MODELS = _names(MODEL_LABELS, {"renet50v1": "resnet50", "resnet50": "resnet50"})
BACKENDS = _names(BACKEND_LABELS)
DATASETS = _names(DATASET_LABELS, {"syntheticdata": "synthetic"})
METHODS = _names(dict(METHOD_LABELS, fit="fit", train_on_batch="train_on_batch"))
DATA_FORMATS = _names(DATA_FORMAT_LABELS)
RESNET = re.compile(r"^resnet(\d+)v(\d+)$")


def _model(text):
    """{"model": ...} (and the ResNet's layers and version) for a model's label."""
    plain = _plain(text)
    if plain in MODELS:
        return {"model": MODELS[plain]}
    resnet = RESNET.match(plain)
    if resnet:
        return {"model": "resnet", "resnet_layers": int(resnet.group(1)),
                "resnet_version": int(resnet.group(2))}
    return {}


def _stated(field, text):
    """{field: value} for one cell, or {} where the cell states nothing readable."""
    text = text.strip().strip("`").strip()
    if not text or text.upper() == "N/A":
        return {}
    if field == "model":
        return _model(text)
    if field in ("gpus", "global_batch_size"):
        return {field: int(text)} if text.isdigit() else {}
    names = {"backend": BACKENDS, "dataset": DATASETS, "method": METHODS,
             "data_format": DATA_FORMATS}.get(field)
    if names is None:
        return {field: text}
    value = names.get(_plain(text))
    return {field: value} if value is not None else {}


def _figure(kind, text):
    """(speed, step_ms) from a figure cell, or None where it holds no figure."""
    text = text.strip()
    if kind == "speed":
        speed = float(text) if NUMBER.match(text) else None
        return (speed, None) if speed and speed <= NUMBER_LIMIT else None
    cell = EPOCH_CELL.match(text)
    step_ms = float(cell.group(2)) * STEP_UNITS[cell.group(3)] if cell else None
    return (None, step_ms) if step_ms and step_ms <= NUMBER_LIMIT else None


def _cells(line):
    """A pipe table line's cells ("\\|" is text), without the outer pipes."""
    body = line.strip()
    body = body[1:] if body.startswith("|") else body
    body = body[:-1] if body.endswith("|") and not body.endswith("\\|") else body
    return [cell.replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", body)]


def _is_rule(cells):
    return all(re.match(r"^\s*:?-+:?\s*$", cell) for cell in cells) and cells


def parse(text):
    """Every row of `text`'s result tables (see the module's docstring)."""
    rows, lines = [], text.splitlines()
    # What each open heading says, outermost first: [level, {field: value}, its title].
    headings = [[0, {}, ""]]
    at = 0
    while at < len(lines):
        line = lines[at]
        title = re.match(r"^\s*(#+)\s*(.*)$", line)
        if title:
            level = len(title.group(1))
            while headings[-1][0] >= level:
                headings.pop()
            headings.append([level, _heading(title.group(2)), _plain(title.group(2))])
        elif "|" in line and at + 1 < len(lines) and _is_rule(_cells(lines[at + 1])):
            end = at + 2
            while end < len(lines) and "|" in lines[end] and lines[end].strip():
                end += 1
            body = [(number + 1, _cells(lines[number])) for number in range(at + 2, end)]
            context = {}
            for _, facts, _ in headings:
                context.update(facts)
            rows += _table(_cells(line), body, context)
            # A "Configuration" heading's table speaks for the section around it.
            section = headings[-2] if len(headings) > 1 and "config" in headings[-1][2] \
                else headings[-1]
            section[1].update(_configuration(_cells(line), body))
            at = end
            continue
        at += 1
    return rows


def _heading(title):
    """What a heading says of the tables under it: a data set, training or inference, or
    (an RNN section) the LSTM."""
    facts, words = {}, _squeezed(title).split()
    for plain, dataset in DATASETS.items():
        if plain and plain in _plain(title):
            facts["dataset"] = dataset
    if "results" in words:
        facts["inference"] = "inference" in words
    if "rnn" in words:
        facts["model"] = "lstm"
    return facts


def _configuration(headers, body):
    """A two-column Configuration table's "Model" row: the model of the tables under its
    heading."""
    if len(headers) != 2 or any(header.strip() for header in headers):
        return {}
    for _, cells in body:
        if len(cells) == 2 and _squeezed(cells[0]) == "model":
            return _model(cells[1])
    return {}


MODEL_FIELDS = ("model", "resnet_layers", "resnet_version")


def _table(headers, body, context):
    """The rows of one table, where it has an instance column and a figure column, or is the
    VGG16 seed's (a Framework and a Time column)."""
    names = [_squeezed(header) for header in headers]
    if len(names) == 2 and names[0] == "framework" and names[1].startswith("time"):
        return _vgg16_rows(body)
    fields = {at: COLUMNS[name] for at, name in enumerate(names) if name in COLUMNS}
    figure = next(((at, "speed") for at, name in enumerate(names) if SPEED.match(name)), None) \
        or next(((at, "epoch") for at, name in enumerate(names) if EPOCH.match(name)), None)
    if figure is None or "instance" not in fields.values():
        return []
    if "model" in fields.values():  # the table's own column, not its section's model
        context = {k: v for k, v in context.items() if k not in MODEL_FIELDS}
    rows = []
    for number, cells in body:
        value = _figure(figure[1], cells[figure[0]]) if figure[0] < len(cells) else None
        if value is None:
            continue
        stated = dict(context)
        for at, field in fields.items():
            if at < len(cells):
                stated.update(_stated(field, cells[at]))
        rows.append(Row(stated, value[0], value[1], number))
    return rows


def _vgg16_rows(body):
    """The VGG16 seed's table: a system's name ("Tensorflow NHWC with XLA") and its mean time
    per trial ("300.424 ms", read as a step time). It names no instance: its rows match
    every configuration of that system."""
    rows = []
    for number, cells in body:
        stated = vgg16_table.system_fields(cells[0]) if len(cells) == 2 else None
        time = VGG16_TIME.match(cells[1]) if stated else None
        if time and 0 < float(time.group(1)) <= NUMBER_LIMIT:
            rows.append(Row(stated, None, float(time.group(1)), number))
    return rows


def read(path):
    """The rows of the Markdown file `path`; CollectError where it has none."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as error:
        raise CollectError("cannot read %s: %s" % (path, error))
    rows = parse(text)
    if not rows:
        raise CollectError("no result table (an Instance column and a Speed column, or the "
                           "VGG16 seed's Framework and Time) in %s" % path)
    return rows
