"""Comparing result sets: the workload digest, `collect compare` of two folders, and a
published Markdown table as the baseline (parsed robustly: hypothesis)."""
import io
import json
import os
import shutil
import subprocess
import sys

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from harness import workload_digest
from harness.collector import published
from harness.collector.cli import main
from helpers import ROOT, record, run, seed_rnn_records, write

# The seeds' published tables, copied verbatim into the repository (baselines/README.md).
BASELINES = os.path.join(ROOT, "baselines")
CNN_SEED = os.path.join(BASELINES, "keras-mxnet-CNN_result.md")
README_SEED = os.path.join(BASELINES, "keras-mxnet-benchmarks-README.md")
VGG16_SEED = os.path.join(BASELINES, "vgg16-keras-theano-tensorflow.md")
SETTINGS = dict(deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])


def run_compare(*arguments):
    """`collect compare ARGUMENTS` in this process: (exit status, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        status = main(["compare"] + [str(a) for a in arguments])
    finally:
        sys.stdout, sys.stderr = saved
    return status, out.getvalue(), err.getvalue()


def compare_json(baseline, new, *options):
    status, out, err = run_compare(baseline, new, "--format", "json", *options)
    return status, json.loads(out) if out else None, err


def marks(document):
    return {(row["identity"]["model"], row["identity"]["backend"]): row["mark"]
            for row in document["rows"]}


def cnn(backend, speed, epochs, **fields):
    return record("cnn", backend, backend, "C5.xLarge", speed=speed, epoch_speeds=epochs,
                  **fields)


def processes(backend, speeds, **fields):
    """One cnn configuration run in fresh processes (a repeat group), one record each."""
    group = "%s-%s" % (backend, speeds[0])
    return [cnn(backend, speed, None, repeat=len(speeds), repeat_index=index,
                repeat_group=group, **fields) for index, speed in enumerate(speeds)]


STEADY = [300.0, 301.0, 299.0, 302.0, 300.5]


# --- the workload digest ---

def test_the_digest_covers_model_recipe_data_and_native_network_and_is_stable():
    keras = workload_digest.compute("cnn", "cifar10", "jax")
    assert sorted(keras["files"]) == ["datasets/__init__.py", "datasets/cifar10.py",
                                      "datasets/files.py", "models/__init__.py", "models/cnn.py"]
    assert all(len(digest) == 64 for digest in keras["files"].values())
    assert keras == workload_digest.compute("cnn", "cifar10", "jax")
    native = workload_digest.compute("cnn", "synthetic", "native-torch")
    assert "backends/native/torch_nets.py" in native["files"]
    assert not any("jax" in path for path in native["files"])
    assert len({keras["digest"], native["digest"],
                workload_digest.compute("mlp", "synthetic", "jax")["digest"]}) == 3


def test_a_changed_source_changes_the_digest_and_is_named(tmp_path, monkeypatch):
    copy = tmp_path / "harness"
    shutil.copytree(os.path.join(ROOT, "harness"), str(copy),
                    ignore=shutil.ignore_patterns("__pycache__"))
    monkeypatch.setattr(workload_digest, "HARNESS", str(copy))
    before = workload_digest.compute("mlp", "synthetic", "jax")
    model = copy / "models" / "mlp.py"
    model.write_bytes(model.read_bytes().replace(b"\n", b"\r\n"))  # a Windows checkout
    assert workload_digest.compute("mlp", "synthetic", "jax") == before
    model.write_bytes(model.read_bytes() + b"# another layer\n")
    after = workload_digest.compute("mlp", "synthetic", "jax")
    assert after["digest"] != before["digest"]
    assert workload_digest.changed(before, after) == ["models/mlp.py"]
    # unrelated workloads keep theirs
    assert workload_digest.compute("cnn", "synthetic", "jax")["files"]["models/cnn.py"]


def test_the_collector_keeps_changed_workloads_apart_and_reads_records_without_one(tmp_path):
    old, new = cnn("jax", 300.0, STEADY), cnn("jax", 310.0, STEADY)
    old["workload"] = {"digest": "sha256:" + "a" * 64, "files": {}}
    new["workload"] = {"digest": "sha256:" + "b" * 64, "files": {}}
    status, markdown, errors = run(write(tmp_path, old, new, cnn("torch", 250.0, STEADY)))
    assert (status, errors) == (0, "")
    assert "Workload Digest" in markdown
    assert "aaaaaaaaaaaa" in markdown and "bbbbbbbbbbbb" in markdown


# --- compare two folders ---

def test_compare_marks_each_configuration_and_fails_on_a_slowdown(tmp_path):
    baseline = write(tmp_path / "before", *(processes("tensorflow", [300.0, 306.0, 297.0])
                                            + processes("torch", [250.0, 262.0, 243.0]) + [
                     record("mlp", "jax", "jax", "C5.xLarge", speed=1000.0),
                     record("mlp", "torch", "torch", "C5.xLarge", speed=900.0)]))
    new = write(tmp_path / "after", *(processes("tensorflow", [200.0, 204.0, 198.0])
                                      + processes("torch", [255.0, 245.0, 250.0]) + [
                record("mlp", "jax", "jax", "C5.xLarge", status="error",
                       error={"type": "OOM", "message": "out of memory"}),
                record("lstm", "jax", "jax", "C5.xLarge", step_ms=2.0, epoch_seconds=10.0)]))
    status, document, errors = compare_json(baseline, new)
    assert (status, errors) == (1, "")
    assert marks(document) == {("cnn", "tensorflow"): "slower", ("cnn", "torch"): "not significant",
                               ("mlp", "jax"): "failed now", ("mlp", "torch"): "only in baseline",
                               ("lstm", "jax"): "only in new"}
    slower = next(r for r in document["rows"] if r["mark"] == "slower")
    assert slower["ratio"] == pytest.approx(200.0 / 300.0) and slower["test_processes"] == [3, 3]
    low, high = slower["ratio_interval"]
    assert low < 200.0 / 300.0 < high < 1.0 / 1.1
    assert slower["p"] < 0.05 and document["slower"] == 1 and slower["untested_why"] is None
    assert document["test"].startswith("Welch's t-test on the log of each process's median")
    failed = next(r for r in document["rows"] if r["mark"] == "failed now")
    assert failed["new"]["error"] == "OOM: out of memory"
    status, markdown, _ = run_compare(baseline, new)
    assert status == 1 and "| slower " in markdown and "Welch's t-test" in markdown


def test_one_process_a_side_is_untested_and_never_fails_the_gate(tmp_path):
    """The issue's identical JAX pair: two processes of one configuration, 23,686 and 21,228
    samples/s, each with tight epochs; the epochs said p = 0.016 and 'slower'."""
    tight = [0.995, 1.0, 1.005, 0.998, 1.002]
    baseline = write(tmp_path / "before", cnn("jax", 23686.0, [23686.0 * f for f in tight]))
    new = write(tmp_path / "after", cnn("jax", 21228.0, [21228.0 * f for f in tight]))
    status, document, _ = compare_json(baseline, new)
    (row,) = document["rows"]
    assert status == 0 and row["mark"] == "slower (untested: 1 process a side)"
    assert row["p"] is None and row["test_processes"] == [1, 1]
    assert row["untested_why"] == "untested: 1 process a side"
    status, markdown, _ = run_compare(baseline, new)
    assert status == 0 and "| untested: 1 process a side | slower (untested: 1 process a side)" \
        in markdown


def test_energy_per_sample_is_compared_where_both_sides_measured_it(tmp_path):
    from helpers import rapl
    baseline = write(tmp_path / "before", cnn("jax", 300.0, STEADY, energy=rapl(0.5)),
                     cnn("torch", 250.0, STEADY, energy=rapl(0.4)))
    new = write(tmp_path / "after", cnn("jax", 300.0, STEADY, energy=rapl(0.4)),
                cnn("torch", 250.0, STEADY, energy={"unavailable": "RAPL: none"}))
    status, document, _ = compare_json(baseline, new)
    ratios = {row["identity"]["backend"]: row["energy_ratio"] for row in document["rows"]}
    assert ratios == {"jax": pytest.approx(0.8), "torch": None}
    jax = next(row for row in document["rows"] if row["identity"]["backend"] == "jax")
    assert (jax["baseline"]["joules_per_sample"], jax["new"]["joules_per_sample"]) == (0.5, 0.4)
    markdown = run_compare(baseline, new)[1]
    assert "| Energy New/Baseline " in markdown and "| 0.80 " in markdown
    old = write(tmp_path / "old", cnn("jax", 300.0, STEADY))  # from before energy was recorded
    assert "Energy" not in run_compare(old, new)[1]


def test_the_factor_sets_what_counts_as_slower(tmp_path):
    baseline = write(tmp_path / "before", *processes("jax", [300.0, 302.0, 298.0]))
    new = write(tmp_path / "after", *processes("jax", [285.0, 287.0, 284.0]))
    status, document, _ = compare_json(baseline, new)  # 0.95: significant, under 10%
    assert status == 0 and marks(document) == {("cnn", "jax"): "within factor"}
    status, document, _ = compare_json(baseline, new, "--factor", "1.01")
    assert status == 1 and marks(document) == {("cnn", "jax"): "slower"}
    status, _, errors = run_compare(baseline, new, "--factor", "0.5")
    assert status == 2 and errors.startswith("collect compare: --factor")


def test_processes_are_the_unit_and_versions_do_not_split_a_match(tmp_path):
    """Each process's median speed is one value; its epochs (here all at 300) are not."""
    before = [cnn("jax", speed, STEADY, repeat=3, repeat_index=i)
              for i, speed in enumerate((300.0, 302.0, 299.0))]
    after = [cnn("jax", speed, STEADY, repeat=3, repeat_index=i, keras_version="3.16.0")
             for i, speed in enumerate((400.0, 405.0, 398.0))]
    baseline = write(tmp_path / "b", *before)
    status, document, _ = compare_json(baseline, write(tmp_path / "a", *after))
    (row,) = document["rows"]
    assert row["test_processes"] == [3, 3] and row["mark"] == "faster" and row["p"] < 0.001
    assert row["ratio"] == pytest.approx(400.0 / 300.0) and status == 0
    # Processes 10-20% apart, the same configuration: not significant, even with tight epochs.
    noisy = [cnn("jax", speed, STEADY, repeat=3, repeat_index=i, keras_version="3.16.0")
             for i, speed in enumerate((340.0, 290.0, 310.0))]
    status, document, _ = compare_json(baseline, write(tmp_path / "n", *noisy))
    assert status == 0 and marks(document) == {("cnn", "jax"): "not significant"}


def test_a_changed_workload_is_marked_not_called_a_speedup(tmp_path):
    old, new = cnn("jax", 300.0, STEADY), cnn("jax", 600.0, [600.0, 601.0, 599.0, 602.0, 600.5])
    old["workload"] = {"digest": "sha256:" + "a" * 64, "files": {}}
    new["workload"] = {"digest": "sha256:" + "b" * 64, "files": {}}
    status, document, _ = compare_json(write(tmp_path / "b", old), write(tmp_path / "a", new))
    assert status == 0 and marks(document) == {("cnn", "jax"): "different workload"}
    status, markdown, _ = run_compare(tmp_path / "b", tmp_path / "a")
    assert "digests differ" in markdown


def test_compare_of_a_missing_folder_is_one_line_and_exit_2(tmp_path):
    status, out, errors = run_compare(tmp_path / "nothing", tmp_path / "nothing")
    assert (status, out) == (2, "") and len(errors.splitlines()) == 1


# --- a published table as the baseline ---

def test_the_seeds_tables_are_read_row_by_row():
    rows = published.read(CNN_SEED)
    assert len(rows) == 40
    first = rows[0]
    assert first.speed == 253.0 and first.stated == {
        "dataset": "cifar10", "inference": False, "instance": "C5.xLarge", "gpus": 0,
        "model": "cnn", "backend": "mxnet", "backend_package": "mxnet-mkl",
        "global_batch_size": 32, "data_format": "channels_last"}
    # the model of a section without a Model column comes from its Configuration table
    synthetic = [r for r in rows if r.stated["dataset"] == "synthetic"]
    assert len(synthetic) == 16 and {r.stated["model"] for r in synthetic} == {"resnet50"}
    assert {r.stated.get("method") for r in rows if r.stated["dataset"] == "imagenet"} == {
        "train_on_batch", "generator"}
    rnn = published.read(README_SEED)  # the RNN table: seconds per epoch and per step
    assert len(rnn) == 9 and rnn[1].step_ms == pytest.approx(0.264)
    assert rnn[1].stated == {"model": "lstm", "inference": False, "instance": "P3.8xLarge",
                             "gpus": 1, "dataset": "synthetic"}


def test_compare_against_the_published_seed_says_it_has_no_spread(tmp_path):
    new = write(tmp_path / "new", record("cnn", "tensorflow", "tensorflow", "C5.xLarge",
                                         data_format="channels_last", dataset="cifar10",
                                         speed=154.5, epoch_speeds=STEADY))
    status, document, _ = compare_json(CNN_SEED, new)
    (row,) = [r for r in document["rows"] if r["new"] is not None]
    assert row["ratio"] == pytest.approx(154.5 / 309.0) and row["mark"] == "slower (untested)"
    assert row["baseline"]["published"]
    assert row["untested_why"] == "a published figure has no spread"
    assert status == 0  # untested: not a significant slowdown
    assert sum(r["mark"] == "only in baseline" for r in document["rows"]) == 39
    status, markdown, _ = run_compare(CNN_SEED, new)
    assert "A published figure has no spread" in markdown and "no spread" in markdown


def test_a_published_table_matches_across_machines_and_says_what_it_does_not_state(tmp_path):
    """`make sweep` on this machine against the seed's CNN table: our instance and package
    are not the seed's, and the sweep's cnn trains on synthetic data, not CIFAR-10."""
    ours = dict(data_format="channels_last", dataset="synthetic", repeat=3,
                repeat_group="sweep")
    new = write(tmp_path / "new", *[
        record("cnn", "tensorflow", "tensorflow-cpu", "2-core AMD EPYC", speed=speed,
               repeat_index=index, **ours) for index, speed in enumerate((150.0, 160.0, 155.0))])
    status, document, _ = compare_json(CNN_SEED, new)
    assert status == 0 and {r["mark"] for r in document["rows"]} == {"only in baseline",
                                                                      "only in new"}
    status, document, _ = compare_json(CNN_SEED, new, "--ignore", "dataset")
    (row,) = [r for r in document["rows"] if r["new"] is not None]
    assert row["mark"] == "slower (untested)" and row["ratio"] == pytest.approx(155.0 / 309.0)
    assert row["differs"] == ("instance: C5.xLarge / 2-core AMD EPYC; backend_package: "
                              "tensorflow / tensorflow-cpu; dataset: cifar10 / synthetic")
    assert status == 0
    status, markdown, _ = run_compare(CNN_SEED, new, "--ignore", "dataset")
    assert "None" not in markdown and "CPU devices" not in markdown
    assert "| MXNet (mxnet-mkl) " in markdown  # the seed's own rows keep their labels
    status, _, errors = run_compare(CNN_SEED, new, "--ignore", "colour")
    assert status == 2 and "--ignore colour: not a matched field" in errors
    # What a row does not state reads so: the RNN table states no batch or data format.
    status, markdown, _ = run_compare(README_SEED, new)
    assert "batch size not stated, data format not stated" in markdown


def test_the_vgg16_seeds_systems_are_a_baseline_for_vgg16_runs(tmp_path):
    """Its Framework/Time table: each system's mean ms per trial, matched to our runs of
    that system (native TensorFlow by layout and XLA; Keras by backend)."""
    rows = published.read(VGG16_SEED)
    assert [(r.stated.get("backend"), r.stated.get("data_format"), r.stated.get("jit_compile"),
             r.step_ms) for r in rows] == [
        ("tensorflow", None, None, 362.206), ("theano", None, None, 241.478),
        ("native-tensorflow", "channels_last", "off", 365.122),
        ("native-tensorflow", "channels_last", "on", 300.424),
        ("native-tensorflow", "channels_first", "off", 298.478),
        ("native-tensorflow", "channels_first", "on", 294.063)]
    new = write(tmp_path / "new", *[
        record("vgg16", backend, backend.replace("native-", ""), "2-core AMD EPYC",
               batch_size=16, data_format="channels_last", step_ms=step_ms, jit_compile=jit)
        for backend, jit, step_ms in (("native-tensorflow", "on", 30000.0),
                                      ("tensorflow", "auto", 36220.6))])
    status, document, _ = compare_json(VGG16_SEED, new)
    ratios = {(r["identity"]["backend"], r["identity"].get("jit_compile")): r["ratio"]
              for r in document["rows"] if r["new"] is not None}
    assert ratios == {("native-tensorflow", "on"): pytest.approx(300.424 / 30000.0),
                      ("tensorflow", "auto"): pytest.approx(0.01)}
    assert status == 0  # published figures are untested: never a failing slowdown


def test_the_collectors_own_tables_are_a_baseline_too(tmp_path):
    """Our CNN and RNN Markdown, read back: every configuration's row, its figure as shown."""
    folder = write(tmp_path / "runs", *(seed_rnn_records() + [cnn("tensorflow", 300.0, STEADY)]))
    _, markdown, _ = run(folder)
    document = tmp_path / "published.md"
    document.write_text(markdown)
    rows = published.read(str(document))
    assert len(rows) == len(seed_rnn_records()) + 1
    status, compared_, _ = compare_json(document, folder)
    assert status == 0
    assert {r["mark"] for r in compared_["rows"]} == {"within factor (untested)"}
    # as exact as the printed figure: "2ms/step" for 2.04 ms
    assert all(r["ratio"] == pytest.approx(1.0, rel=0.03) for r in compared_["rows"])


def test_no_result_table_is_one_line_and_exit_2(tmp_path):
    document = tmp_path / "notes.md"
    document.write_text("# Notes\n\n| a | b |\n|---|---|\n| 1 | 2 |\n")
    status, out, errors = run_compare(document, tmp_path)
    assert (status, out) == (2, "") and "no result table" in errors


CELL = st.text(st.characters(blacklist_categories=("Cs",)), max_size=15)
HEADERS = st.lists(st.sampled_from(["Instance", "Instance Type", "GPU used", "GPUs", "Model",
                                    "Backend", "Package", "Method", "Batch Size", "Data Format",
                                    "Data Set", "Speed (images/s)",
                                    "Speed/Epoch <br />(Lower is better)", "Repeats"]) | CELL,
                   min_size=1, max_size=9)


@settings(max_examples=300, **SETTINGS)
@given(st.lists(st.one_of(
    st.builds(lambda level, title: "#" * level + " " + title, st.integers(1, 5), CELL),
    st.builds(lambda headers, rows: "\n".join(
        ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
        + ["|" + "|".join(row) + "|" for row in rows]),
        HEADERS, st.lists(st.lists(CELL | st.sampled_from(
            ["C5.xLarge", "0", "4", "MXNet", "ReNet50V1", "`fit_generator`", "32",
             "channel last", "N/A", "253", "13 sec - 264us/step", "1e400", "-5", "\t7\t"]),
            max_size=10), max_size=4)),
    CELL), max_size=8))
def test_any_markdown_parses_without_a_traceback(blocks):
    rows = published.parse("\n\n".join(blocks))
    for row in rows:
        assert (row.speed is None) != (row.step_ms is None)
        assert (row.speed or row.step_ms) > 0
        assert all(isinstance(v, (str, int, bool)) for v in row.stated.values())


def test_compare_runs_as_a_script_and_as_a_command(tmp_path):
    folder = write(tmp_path / "runs", cnn("jax", 300.0, STEADY))
    proc = subprocess.run([sys.executable, "harness/collect.py", "compare", folder, folder],
                          cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True)
    assert (proc.returncode, proc.stderr) == (0, "")
    assert "| within factor (untested: 1 process a side)" in proc.stdout
    command = subprocess.run([sys.executable, "-m", "harness", "compare", folder, folder],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             universal_newlines=True)
    assert (command.returncode, command.stdout) == (0, proc.stdout)


def test_without_scipy_nothing_is_called_significant(tmp_path):
    baseline = write(tmp_path / "before", *processes("jax", [300.0, 306.0, 297.0]))
    new = write(tmp_path / "after", *processes("jax", [200.0, 204.0, 198.0]))
    proc = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['scipy'] = None\n"
         "from harness.collector.cli import main\nsys.exit(main(sys.argv[1:]))",
         "compare", baseline, new, "--format", "json"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert proc.returncode == 0, proc.stderr
    assert marks(json.loads(proc.stdout)) == {("cnn", "jax"): "slower (untested: no scipy)"}
