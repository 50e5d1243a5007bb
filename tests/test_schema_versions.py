"""Schema versions: every version-2 file reads as version 3 and renders as it did.

tests/fixtures/schema2 holds files the version-2 harness wrote (runs of cnn on PyTorch
predicting, the LSTM per batch on TensorFlow, cnn on TensorFlow, one process of an MLP
sweep on JAX, and an MLP run stopped by SIGTERM); schema2.md is the Markdown its
collector rendered of them.
"""
import json
import os

import pytest

from harness import record_shape, schema
from harness.collector import records
from harness.collector.records import result_paths
from helpers import ROOT, record, run, write

FIXTURES = os.path.join(ROOT, "tests", "fixtures", "schema2")


def test_every_version_2_file_reads_as_version_3():
    paths = result_paths(FIXTURES)
    assert len(paths) == 5
    for path in paths:
        with open(path) as f:
            assert json.load(f)["schema_version"] == 2
        one = schema.read(path)
        assert one["schema_version"] == 3 and isinstance(one["asked"], dict)
        # Given on their command lines, so no calibration sized their epochs.
        assert one["asked"] == {"steps_per_epoch": 3}


def test_version_2_files_render_the_tables_they_rendered():
    with open(FIXTURES + ".md") as f:
        assert run(FIXTURES, "--kind", "all") == (0, f.read(), "")


def test_upgraded_and_written_again_they_render_alike(tmp_path):
    for path in result_paths(FIXTURES):
        schema.write(schema.read(path), str(tmp_path))
    for options in ([], ["--kind", "all", "--format", "csv"], ["--format", "json"],
                    ["--kind", "vgg16"], ["--phases"]):
        assert run(tmp_path, *options) == run(FIXTURES, *options)


def test_the_sample_records_render_alike_in_either_version(tmp_path):
    """The tests' sample records, as version 3 writes them and as version 2 did."""
    samples = [record(speed=100.0), record("mlp", "jax", "jax", speed=50.0, gpus=1),
               record("lstm", "tensorflow", "tensorflow", step_ms=20.0, epoch_seconds=4.0),
               record(status="interrupted"), record(status="skipped")]
    old = tmp_path / "old"
    old.mkdir()
    for one in samples:
        before = json.loads(json.dumps(one))
        del before["asked"]
        before["schema_version"] = 2
        with open(str(old / schema.file_name(one)), "w") as f:
            json.dump(before, f)
    new = write(tmp_path / "new", *samples)
    for options in ([], ["--kind", "all", "--format", "csv"], ["--phases"]):
        assert run(old, *options) == run(new, *options)


@pytest.mark.parametrize("status", schema.STATUSES)
def test_the_shapes_sample_is_a_record_the_writer_and_the_collector_take(status, tmp_path):
    one = record_shape.sample(status)
    assert schema.validate(one) is one
    assert records.checked(one) == (one, [])
    path = schema.write(one, str(tmp_path))
    assert records.read(path) == (one, []) and one["status"] == status


def test_a_field_the_shape_requires_is_required_by_the_writer_and_the_collector():
    for field in record_shape.REQUIRED + record_shape.OK_METRICS + record_shape.READ:
        if "ok" not in field.needed_by:
            continue
        one = record_shape.sample("ok")
        holder = one
        for step in field.path[:-1]:
            holder = holder[step]
        del holder[field.path[-1]]
        with pytest.raises(schema.SchemaError, match=field.path[-1].replace("_", "[_ ]")):
            records.checked(schema.validate(one))
