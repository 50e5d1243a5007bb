"""The VGG16 seed's table: one row per system, the seed's figure for each.

The seed's systems are Keras on a backend and TensorFlow itself per image layout
(NHWC, NCHW) without and with XLA; here the native JAX and PyTorch networks and
Keras's newer backends join them. The figure is the seed's: mean milliseconds
per trial, a trial being one forward, backward and update step, i.e. the
measured seconds (the clock around all measured steps) over the measured steps.
Every system the seed lists keeps its row: "not run" until a run of it exists,
its status and reason where the run was skipped or failed.
"""
from harness.collector.groups import number_first
from harness.collector.labels import backend_label, devices_label, error_text
from harness.collector.layout import Column, Heading, Table, stability_columns

MODEL = "vgg16"
PUBLISHED_SYSTEMS = ("Keras (TensorFlow backend)", "Keras (Theano backend)",
                     "TensorFlow NHWC no XLA", "TensorFlow NHWC with XLA",
                     "TensorFlow NCHW no XLA", "TensorFlow NCHW with XLA")
NOTE = ("Mean time per trial: the measured seconds over the measured steps (one step is a "
        "forward, backward and weight update on one batch; the clock runs from before the "
        "first measured step to after the last), the seed's figure, which timed 100 trials "
        "on a Maxwell Titan X. Trials: the measured steps behind it (over all repeats). "
        "Compiled: what --jit-compile resolved to (XLA on TensorFlow and JAX, torch.compile on "
        "PyTorch; what was asked where the run did not record it). Epoch CV % and Stability, "
        "where the runs were judged: the measured epochs' spread and whether noise could "
        "explain the figure, as in the other tables. Rows of the seed's systems with no run "
        "say so.")


def _jit(identity):
    """What --jit-compile became, where the run recorded it; else what was asked."""
    return identity.get("jit_compile_resolved") or identity.get("jit_compile")


# The seed's names for the native systems, of (layout, whether compiled).
NATIVE_SYSTEMS = {
    "native-tensorflow": lambda layout, jit: "TensorFlow %s %s" % (layout, "with XLA" if jit
                                                                   else "no XLA"),
    "native-jax": lambda layout, jit: "JAX (jax.jit)",
    "native-torch": lambda layout, jit: "PyTorch %s" % ("torch.compile" if jit else "eager")}


def system_label(identity):
    """The seed's name for a configuration's system ("TensorFlow NHWC with XLA"), or ours."""
    backend = identity.get("backend")
    if backend not in NATIVE_SYSTEMS:
        return "Keras (%s backend)" % backend_label(backend)
    layout = "NCHW" if identity.get("data_format") == "channels_first" else "NHWC"
    return NATIVE_SYSTEMS[backend](layout, _jit(identity) == "on")


def system_fields(label):
    """What a seed's system name says of its runs (system_label's inverse, case and spacing
    as the seed typed them: "Tensorflow NHWC with XLA"), or None for a name it does not know.
    A Keras row states only its backend: the seed's Keras ran in each backend's own layout."""
    words = label.lower().split()
    if words[:1] == ["keras"]:
        backends = [b for b in ("tensorflow", "theano", "jax", "pytorch", "mxnet", "cntk")
                    if b in label.lower()]
        backend = {"pytorch": "torch"}.get(backends[0], backends[0]) if backends else None
        return {"model": MODEL, "backend": backend} if backend else None
    if words[:1] == ["tensorflow"] and len(words) >= 3 and words[1] in ("nhwc", "nchw"):
        return {"model": MODEL, "backend": "native-tensorflow",
                "data_format": "channels_first" if words[1] == "nchw" else "channels_last",
                "jit_compile": "on" if "with" in words[2:] else "off"}
    return None


def blocks(groups, failures):
    """The heading, note and table for the VGG16 training runs among `groups` and `failures`
    (profiled runs left out: the profiler slows them); nothing where there are none."""
    groups = [g for g in groups if _counted(g.identity)]
    failures = [f for f in failures if _counted(f.identity)]
    if not groups and not failures:
        return []
    rows = [_Row(g.identity, g) for g in groups] + [_Row(f.identity, failure=f) for f in failures]
    shown = {row.system for row in rows}
    rows += [_Row({}, system=system) for system in PUBLISHED_SYSTEMS if system not in shown]
    rows.sort(key=_order)
    columns = [Column("System", lambda row: row.system),
               Column("Mean time per trial", _time_text),
               Column("Trials", lambda row: str(row.group.trials) if row.group else ""),
               _field("Batch size", "global_batch_size"), _field("Image size", "image_size"),
               _field("Layout", "data_format",
                      lambda value: "NCHW" if value == "channels_first" else "NHWC"),
               Column("Compiled", lambda row: _jit(row.identity) or ""),
               Column("Device", _device_text)]
    # The measured epochs' spread and the verdict, as in the other tables: six trials on
    # a busy machine rank nothing, and the row says so.
    columns += [Column(c.header, lambda row, c=c: c.cell(row.group) if row.group else "")
                for c in stability_columns(groups)]
    # Theano's BLAS, where Theano rows differ in it (linked, or NumPy's C API).
    if len({row.identity.get("blas") for row in rows if row.identity.get("blas")}) > 1:
        columns.insert(1, _field("BLAS", "blas"))
    if any(g.runs > 1 for g in groups):  # the median over repeats: say over how many
        columns.insert(2, Column("Runs", lambda row: str(row.group.runs) if row.group else ""))
    return [Heading(3, "VGG16 (the seed's table)"), NOTE,
            Table([column.header for column in columns],
                  [[column.cell(row) for column in columns] for row in rows])]


class _Row(object):
    """One system's line: a configuration's runs, a failed or skipped run, or a seed system
    not run."""

    def __init__(self, identity, group=None, failure=None, system=None):
        self.identity = identity
        self.group = group
        self.failure = failure
        self.system = system or system_label(identity)


def _counted(identity):
    return (identity.get("model") == MODEL and not identity.get("inference")
            and not identity.get("profile"))


def _order(row):
    listed = PUBLISHED_SYSTEMS.index(row.system) if row.system in PUBLISHED_SYSTEMS \
        else len(PUBLISHED_SYSTEMS)
    i = row.identity
    return (listed, row.system, number_first(i.get("gpus")), str(i.get("instance")),
            number_first(i.get("global_batch_size")), number_first(i.get("image_size")),
            str(_jit(i)), row.failure is not None)


def _time_text(row):
    if row.group:
        return "N/A" if row.group.trial_ms is None else "%.3f ms" % row.group.trial_ms
    if row.failure:
        return "%s: %s" % (row.failure.run.status, error_text(row.failure.run))
    return "not run"


def _field(header, name, label=str):
    def cell(row):
        value = row.identity.get(name)
        return "" if value is None else label(value)
    return Column(header, cell)


def _device_text(row):
    if not row.identity:
        return ""
    return "%s, %s" % (devices_label(row.identity), row.identity.get("instance"))
