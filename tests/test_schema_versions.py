"""Schema versions: every version-2 file reads as version 3 and renders as it did.

tests/fixtures/schema2 holds files the version-2 harness wrote (runs of cnn on PyTorch
predicting, the LSTM per batch on TensorFlow, cnn on TensorFlow, one process of an MLP
sweep on JAX, and an MLP run stopped by SIGTERM); schema2.md is the Markdown its
collector rendered of them.
"""
import json
import os

from harness import schema
from harness.collector.records import result_paths
from test_collect import ROOT, record, run, write

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
