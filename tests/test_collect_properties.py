"""The collector on generated input (hypothesis): whatever a folder holds, every output
format finishes without a traceback, and every valid record's run is in the JSON export.

The records are real ones (tests/test_collect.py's `record`, as the runner writes them:
telemetry, memory, phases, the stability verdict, the epochs' samples, native
baselines, failures), then damaged: at paths drawn
from the record's own structure, values are deleted or replaced by arbitrary JSON
(wrong types, NaN, infinities, huge numbers, nested lists and objects). Beside them lie
truncated copies and files that are not UTF-8. Whether a damaged record is still valid
is decided here, from the rules the README states, not by asking the collector.
"""
import json
import math
import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from harness import schema
from harness.collector import records, tables
from harness.collector.labels import PHASES
from harness.collector.layout import Table
from helpers import gpu_telemetry, record, run

# Generated inputs per run: the text formats are fast; each chart is a matplotlib render.
NUMBER_LIMIT = 1e15  # the collector's bound on any figure
TEXT_EXAMPLES = 200
CHART_EXAMPLES = 25
SETTINGS = dict(deadline=None, derandomize=False, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def base_records():
    """One of each shape the tables treat differently."""
    phases = {name: 1.5 for name in PHASES}
    return [
        record("cnn", "tensorflow", "tensorflow", "C5.xLarge", speed=300.0, phases=phases,
               stability={"verdict": "unstable", "reasons": ["..."], "failed": ["cv"],
                          "cv_pct": 12.0, "epochs": 3}),
        record("cnn", "torch", "torch", "C5.xLarge", speed=250.0),
        record("cnn", "native-torch", "torch", "C5.xLarge", speed=280.0),
        record("resnet50", "jax", "jax", "P3.8xLarge", gpus=4, batch_size=128, speed=900.0,
               telemetry=gpu_telemetry((80.0, 12000.0), (75.0, 11000.0)),
               memory={"peak_mb": 9000.0, "source": "jax peak_bytes_in_use"}),
        record("resnet50", "jax", "jax", "P3.8xLarge", gpus=1, speed=300.0, inference=True,
               dataset="imagenet", method="generator", profile=True),
        record("lstm", "mxnet", "mxnet-mkl", "C5.xLarge", 0, 128, "channels_last",
               step_ms=2.0, epoch_seconds=90.0, repeat=2, repeat_index=1),
        record(status="error", error={"type": "OOM", "message": "out of memory\nmore"}),
        record(status="interrupted", error={"type": "StopRequested", "message": ""}),
    ]


BASES = base_records()
SHOWN = ("config", "environment", "metrics", "error")


def paths_of(value, at=()):
    """Every path into `value`'s objects and lists, `value` itself left out."""
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield at + (key,)
        for path in paths_of(item, at + (key,)):
            yield path


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-10 ** 30, max_value=10 ** 30)
    | st.floats(allow_nan=True, allow_infinity=True) | st.text(max_size=12)
    | st.sampled_from(["", "ok", "cnn", "lstm", "jax", "native-jax", "imagenet", "fit",
                       "channels_first", "$x$", "$\\frac{$", "|", "a\nb"]),
    lambda children: st.lists(children, max_size=3)
    | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6)


@st.composite
def damaged(draw, base):
    """A copy of `base` with 0 to 4 values deleted or replaced, at any depth; half of
    them among the fields of config, environment, metrics and error that cells show."""
    one = json.loads(json.dumps(base))
    for _ in range(draw(st.integers(0, 4))):
        paths = list(paths_of(one))
        shown = [p for p in paths if p[0] in SHOWN and len(p) <= 3]
        if not paths:
            break
        path = draw(st.sampled_from(shown if shown and draw(st.booleans()) else paths))
        holder = one
        for key in path[:-1]:
            holder = holder[key]
        if draw(st.booleans()) and isinstance(holder, dict):
            del holder[path[-1]]
        else:
            holder[path[-1]] = draw(json_values)
    return one


@st.composite
def folders(draw):
    """{file name: (its bytes, the record if it is a valid one, else None)}."""
    bases = BASES
    chosen = draw(st.lists(st.sampled_from(range(len(bases))), min_size=1, max_size=5))
    files = {}
    for number, index in enumerate(chosen):
        one = draw(damaged(bases[index]))
        files["%02d.json" % number] = (json.dumps(one, indent=1).encode("utf-8"),
                                       one if is_valid(one) else None)
    good = json.dumps(bases[draw(st.sampled_from(range(len(bases))))], indent=1).encode("utf-8")
    if draw(st.booleans()):
        files["truncated.json"] = (good[:draw(st.integers(0, len(good) - 1))], None)
    if draw(st.booleans()):
        at = draw(st.integers(0, len(good)))
        bad = draw(st.sampled_from([b"\xff", b"\xe9", b"\xc3("]))
        files["not-utf8.json"] = (good[:at] + bad + good[at:], None)
    return files


def is_number(value, above=None):
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value) and abs(value) <= NUMBER_LIMIT \
        and (above is None or value > above)


def is_valid(one):
    """What the README promises is shown: a record of schema version 2 or 3 with its required
    fields; an ok one with a positive global batch and device count and positive speed,
    step time and measured span. Optional fields may be anything."""
    def at(*path):
        value = one
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    if not isinstance(one, dict) or at("schema_version") not in (2, 3) or isinstance(
            at("schema_version"), bool):
        return False
    if at("schema_version") == 3 and not isinstance(at("asked"), dict):
        return False
    if not all(isinstance(at(key), kind) for key, kind in (
            ("run_id", str), ("status", str), ("started_at", str), ("finished_at", str),
            ("command", list), ("config", dict), ("environment", dict))):
        return False
    if not all(isinstance(at("config", name), str) for name in ("model", "backend", "dataset")):
        return False
    if not _finite_everywhere(one):
        return False  # NaN and infinity are not JSON: the file is not a record
    if at("status") != "ok":
        return at("status") in schema.STATUSES and isinstance(at("error"), dict)
    return isinstance(at("metrics"), dict) and all(
        key in at("metrics") for key in ("unit", "throughput", "step_ms", "measured", "warmup")
    ) and all(isinstance(at("config", name), int) and is_number(at("config", name), above=0.5)
              for name in ("global_batch_size", "devices")) and all(
        is_number(at("metrics", section, name), above=0)
        for section, name in (("throughput", "median"), ("step_ms", "median"),
                              ("measured", "seconds"), ("measured", "epochs")))


def _finite_everywhere(value):
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return all(_finite_everywhere(v) for v in value.values())
    if isinstance(value, list):
        return all(_finite_everywhere(v) for v in value)
    return True


def write_folder(files):
    folder = tempfile.mkdtemp(prefix="collect-prop-")
    for name, (content, _) in files.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(content)
    return folder


@settings(max_examples=TEXT_EXAMPLES, **SETTINGS)
@given(folders())
def test_every_format_finishes_and_every_valid_run_is_exported(files):
    folder = write_folder(files)
    try:
        # The collector's main runs in this process: a traceback fails the test where it happens.
        results = {fmt: run(folder, "--format", fmt) for fmt in ("csv", "json")}
        results["md"] = run(folder, "--phases")
        results["rnn"] = run(folder, "--kind", "rnn")
    finally:
        shutil.rmtree(folder)
    valid = [one for _, one in files.values() if one is not None]
    for fmt, (status, text, errors) in results.items():
        assert status == (0 if valid else 1), (fmt, errors)
        assert text or not valid
    if not valid:  # nothing usable: one line that says so
        assert "none of the %d result files" % len(files) in results["json"][2]
        return
    document = json.loads(results["json"][1])
    shown = {run_id for row in document["rows"] for run_id in row["run_ids"]}
    assert shown == {one["run_id"] for one in valid}
    errors = results["json"][2]
    for name, (_, one) in files.items():  # a file not shown is named on stderr
        if one is None:
            assert "skipped %s: " % os.path.join(folder, name) in errors


@settings(max_examples=CHART_EXAMPLES, **SETTINGS)
@given(folders())
def test_the_chart_finishes_on_any_folder(files):
    pytest.importorskip("matplotlib")
    folder = write_folder(files)
    chart = os.path.join(folder, "chart.png")
    try:
        status, _, errors = run(folder, "--chart", chart)
        valid = any(one is not None for _, one in files.values())
        assert status == (0 if valid else 1), errors
        assert os.path.exists(chart) == valid
    finally:
        shutil.rmtree(folder)


# Cell text as the tables hold it: printable, one line or several, "|" included.
CELLS = st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")) | st.sampled_from(
    "|\n "), max_size=12)


@settings(max_examples=TEXT_EXAMPLES, **SETTINGS)
@given(st.integers(1, 4).flatmap(lambda width: st.tuples(
    st.lists(st.text(st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp", "Zs")),
                     max_size=10), min_size=width, max_size=width),
    st.lists(st.lists(CELLS, min_size=width, max_size=width), max_size=5))))
def test_markdown_tables_are_laid_out_as_tabulate_lays_them_out(table):
    """The collector writes its pipe tables itself (tabulate's cell typing was slow): the
    same text as tabulate's "github" format, "|" escaped and each cell on one line."""
    tabulate = pytest.importorskip("tabulate").tabulate
    headers, rows = table
    ours = tables.markdown([Table(headers, rows)])
    cells = [[cell.replace("|", "\\|").replace("\n", " ") for cell in row] for row in rows]
    assert ours == tabulate(cells, headers=headers, tablefmt="github",
                            disable_numparse=True) + "\n"


def outcome(path, decode=None):
    """What records.read makes of a file: (record, notes), or the error it raises."""
    try:
        return records.read(path, decode)
    except (schema.SchemaError, OSError) as error:
        return type(error).__name__, str(error)


@settings(max_examples=TEXT_EXAMPLES, **SETTINGS)
@given(folders())
def test_msgspec_reads_every_file_as_json_reads_it(files):
    """Large folders are read with msgspec where it is installed: the same records, notes
    and reasons as json's, whatever a file holds."""
    decode = pytest.importorskip("msgspec").json.decode
    folder = write_folder(files)
    try:
        for name in files:
            path = os.path.join(folder, name)
            assert outcome(path, decode) == outcome(path), name
    finally:
        shutil.rmtree(folder)


@pytest.mark.parametrize("text", ["1e400", '"\\ud800"', "123456789012345678901234567890",
                                  "-1e400", '"\\udc00x"'])
def test_msgspec_leaves_to_json_what_it_reads_otherwise(tmp_path, text):
    """msgspec refuses a number too large for a float and a lone surrogate escape, which
    json reads: json has the last word, and the field is emptied as without msgspec."""
    decode = pytest.importorskip("msgspec").json.decode
    one = json.dumps(BASES[0], indent=1)
    path = tmp_path / "one.json"
    path.write_text(one.replace('"loss": 6.9', '"loss": %s' % text, 1))
    assert '"loss": %s' % text in path.read_text()
    record, notes = outcome(str(path), decode)
    assert (record, notes) == outcome(str(path)) and len(notes) == 1
