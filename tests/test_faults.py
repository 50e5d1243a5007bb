"""Faults: no result is lost and no half-written one is read, whatever happens to the
processes, the disk or the folders; damaged data files are refused by name, and a
read-only data folder is read.

The full disk and the read-only folders are small tmpfs mounts, which need root;
elsewhere those tests are skipped with the reason.
"""
import contextlib
import glob
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import pytest

from harness import cli, schema
from harness.collector.records import CollectError
from harness.collector.runs import load
from harness.datasets import DataError
from test_collect import record
from test_datasets import spec_for, write_cifar, write_mnist, write_wikitext, NIETZSCHE

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TESTS = os.path.join(REPO, "tests")


@contextlib.contextmanager
def tmpfs(path, size="64k", read_only_after=None):
    """A tmpfs of `size` at `path`; `read_only_after(path)` fills it, then it is remounted
    read-only. Unmounted at the end. Skips the test where mounting is not allowed."""
    path.mkdir(exist_ok=True)
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s" % size, "tmpfs", str(path)],
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                             universal_newlines=True)
    if mounted.returncode:
        pytest.skip("cannot mount a tmpfs here: %s" % mounted.stdout.strip())
    try:
        if read_only_after:
            read_only_after(path)
            subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


@pytest.fixture
def fallbacks(tmp_path, monkeypatch):
    """The fallback folders of this test: the cache under tmp_path, the temp dir too."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)  # read TMPDIR again
    return [pathlib.Path(p) for p in schema.fallback_dirs()]


# --- the output folder, checked before the run ---

def harness_check(*args):
    """`python -m harness ARGS` in a fresh process that then reports which frameworks
    were imported: (exit code, stderr, imported)."""
    code = ("import sys, json\nfrom harness import cli\ncode = cli.main(sys.argv[1:])\n"
            "print(json.dumps([m for m in ('keras', 'tensorflow', 'jax', 'torch', 'mxnet', "
            "'theano') if m in sys.modules]))\nsys.exit(code)")
    proc = subprocess.run([sys.executable, "-c", code] + [str(a) for a in args], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    return proc.returncode, proc.stderr, json.loads(proc.stdout.splitlines()[-1])


def test_an_out_folder_under_a_file_is_a_usage_error_before_any_framework(tmp_path):
    (tmp_path / "a-file").write_text("x")
    for out in (tmp_path / "a-file", tmp_path / "a-file" / "results"):
        for command in (["mlp", "--backend", "jax"], ["sweep", "--backends", "jax"]):
            code, errors, imported = harness_check(*command + ["--out", out])
            assert (code, imported) == (2, [])
            assert errors.splitlines() == [
                "python -m harness %s: error: --out %s: %s is not a folder"
                % (command[0], out, tmp_path / "a-file")]
    assert os.listdir(str(tmp_path)) == ["a-file"]


def test_a_read_only_out_folder_is_a_usage_error(tmp_path):
    with tmpfs(tmp_path / "ro", read_only_after=lambda path: None) as folder:
        for out in (folder, folder / "new" / "results"):
            code, errors, imported = harness_check("mlp", "--backend", "jax", "--out", out)
            assert (code, imported) == (2, [])
            assert errors == "python -m harness mlp: error: --out %s: %s cannot be written " \
                             "(read-only file system)\n" % (out, folder)


def test_a_missing_out_folder_that_can_be_made_passes_and_is_not_made_yet(tmp_path):
    cli.check_out_dir(str(tmp_path / "new" / "results"))
    cli.check_out_dir(str(tmp_path))
    assert not (tmp_path / "new").exists()


# --- the fallback when the folder fails at the end ---

def test_a_record_whose_folder_went_away_is_written_to_the_fallback(tmp_path, fallbacks):
    one = record(speed=9.0)
    out = tmp_path / "results"
    out.write_text("the folder was replaced by a file during the run")
    path, failure = schema.write_or_fall_back(one, str(out))
    assert isinstance(failure, OSError)
    assert os.path.dirname(path) == str(fallbacks[0])
    assert schema.read(path) == one
    # With the cache not writable either, the temporary folder takes it.
    shutil.rmtree(str(tmp_path / "cache"))
    (tmp_path / "cache").write_text("not a folder")
    path, _ = schema.write_or_fall_back(record(speed=9.0), str(out))
    assert os.path.dirname(path) == str(fallbacks[1])


def test_the_runner_says_where_the_fallback_record_is(tmp_path, fallbacks, capsys):
    from harness import result_file
    one = record(speed=9.0)
    write = result_file.WriteOnce(one, str(tmp_path / "file" / "results"))
    (tmp_path / "file").write_text("x")
    path = write()
    errors = capsys.readouterr().err
    assert path.startswith(str(fallbacks[0])) and schema.read(path)["run_id"] == one["run_id"]
    assert "could not be written into %s" % (tmp_path / "file" / "results") in errors
    assert "it was written to %s instead" % path in errors
    assert write() == path  # written once


def test_with_nowhere_to_write_the_record_is_printed_on_stderr(tmp_path, fallbacks, capsys,
                                                                  monkeypatch):
    from harness import result_file
    monkeypatch.setattr(schema, "fallback_dirs", lambda: [str(tmp_path / "x" / "y")])
    (tmp_path / "x").write_text("x")
    one = record(speed=9.0)
    result_file.WriteOnce(one, str(tmp_path / "x" / "results"))()
    errors = capsys.readouterr().err
    assert "here it is:" in errors
    assert json.loads(errors.splitlines()[-1])["run_id"] == one["run_id"]


def test_a_full_disk_during_the_write_leaves_the_fallback_record(tmp_path, fallbacks):
    one = record(speed=9.0)
    one["samples"] = {"epochs": [{"steps": [0.001234567] * 20000}]}  # about 300 KB
    with tmpfs(tmp_path / "small", size="64k") as folder:
        path, failure = schema.write_or_fall_back(one, str(folder))
        assert "No space left on device" in str(failure)
        assert os.listdir(str(folder)) == []  # no partial file left behind
    assert os.path.dirname(path) == str(fallbacks[0])
    assert schema.read(path)["samples"] == one["samples"]


# --- many writers, and a writer killed ---

WRITER = """
import json, sys
sys.path[:0] = [%r]
from harness import schema
record = json.load(open(sys.argv[1]))
for _ in range(int(sys.argv[3])):
    record["run_id"], record["started_at"] = schema.new_run_id(), schema.now()
    schema.write(record, sys.argv[2])
    print(record["run_id"], flush=True)
""" % REPO


def start_writer(template, out, count):
    return subprocess.Popen([sys.executable, "-c", WRITER, str(template), str(out), str(count)],
                            stdout=subprocess.PIPE, universal_newlines=True)


def test_eight_processes_writing_fifty_results_each_lose_none(tmp_path):
    template = tmp_path / "record.json"
    template.write_text(json.dumps(record(speed=9.0)))
    out = tmp_path / "results"
    writers = [start_writer(template, out, 50) for _ in range(8)]
    run_ids = set()
    for writer in writers:
        output, _ = writer.communicate(timeout=120)
        assert writer.returncode == 0
        run_ids.update(output.split())
    assert len(run_ids) == 400
    assert len(os.listdir(str(out))) == 400  # no temporary file left
    records, unreadable, emptied = load(str(out))
    assert (unreadable, emptied) == ([], [])
    assert {one.run_id for one in records} == run_ids


def test_a_writer_killed_mid_write_leaves_nothing_read_as_a_result(tmp_path):
    big = record(speed=9.0)
    big["samples"] = {"epochs": [{"steps": [0.001234567] * 400000}]}  # a write takes a while
    template = tmp_path / "record.json"
    template.write_text(json.dumps(big))
    out = tmp_path / "results"
    for _ in range(5):  # until the kill lands during a write (almost always the first time)
        writer = start_writer(template, out, 1000)
        deadline = time.time() + 60
        while not glob.glob(str(out / ".partial-*")) and time.time() < deadline:
            time.sleep(0.001)
        writer.send_signal(signal.SIGKILL)
        writer.communicate()
        if glob.glob(str(out / ".partial-*")):
            break
    partial = glob.glob(str(out / ".partial-*"))
    assert partial, "no kill landed during a write"
    results = glob.glob(str(out / "*.json"))  # what every reader lists: no hidden names
    assert not set(partial) & set(results)
    for path in results:
        schema.read(path)
    if results:
        records, unreadable, _ = load(str(out))
        assert unreadable == [] and len(records) == len(results)
    else:
        with pytest.raises(CollectError, match="no result files"):
            load(str(out))


# --- data files ---

def flip_byte(path, at):
    data = bytearray(path.read_bytes())
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))


def _bad_gzip_crc(folder):
    path = folder / "cifar-10-python.tar.gz"
    write_cifar(path)
    flip_byte(path, -6)  # inside gzip's CRC-32 trailer: every byte of the tar is intact
    return ("cnn", "cifar10", path, "CRC")


def _bad_zip_crc(folder):
    path = folder / "wikitext-2-raw-v1.zip"
    write_wikitext(path)
    flip_byte(path, path.read_bytes().index(b"Valkyria"))  # stored data, its CRC-32 unchanged
    return ("lstm", "wikitext2", path, "CRC-32")


def _bad_npz_crc(folder):
    path = folder / "mnist.npz"
    write_mnist(path)
    import zipfile
    with zipfile.ZipFile(str(path)) as archive:
        info = archive.getinfo("y_train.npy")
    flip_byte(path, info.header_offset + 30 + len(info.filename) + len(info.extra)
              + info.compress_size // 2)
    return ("mlp", "mnist", path, "CRC-32")


def _truncated_npz(folder):
    path = folder / "mnist.npz"
    write_mnist(path)
    path.write_bytes(path.read_bytes()[:300])
    return ("mlp", "mnist", path, "corrupt")


def _garbage_tar(folder):
    path = folder / "cifar-10-python.tar.gz"
    path.write_bytes(os.urandom(2048))
    return ("cnn", "cifar10", path, "corrupt")


@pytest.mark.parametrize("damage", [_bad_gzip_crc, _bad_zip_crc, _bad_npz_crc, _truncated_npz,
                                    _garbage_tar])
def test_a_damaged_data_file_is_refused_by_name(tmp_path, monkeypatch, damage):
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    model, dataset, path, reason = damage(tmp_path)
    from harness import datasets
    with pytest.raises(DataError, match=reason) as error:
        datasets.load(spec_for(model, dataset, tmp_path), "channels_last", 1)
    assert str(path) in str(error.value) and "corrupt" in str(error.value)


def _fill_data(folder):
    write_mnist(folder / "mnist.npz")
    write_cifar(folder / "cifar-10-python.tar.gz")
    write_wikitext(folder / "wikitext-2-raw-v1.zip")
    (folder / "nietzsche.txt").write_bytes(NIETZSCHE.encode("utf-8"))


def test_a_read_only_data_folder_holding_good_files_is_read(tmp_path, monkeypatch, fallbacks):
    """As the images mount /data: the archives are unpacked into the user's cache instead."""
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    from harness import datasets
    with tmpfs(tmp_path / "data", size="2m", read_only_after=_fill_data) as folder:
        for model, dataset in (("mlp", "mnist"), ("cnn", "cifar10"), ("lstm", "nietzsche"),
                               ("lstm", "wikitext2")):
            for _ in range(2):  # the second time from what the first unpacked
                data = datasets.load(spec_for(model, dataset, folder), "channels_last", 1)
                assert data.num_samples > 0 and not data.provenance["published"]
        assert sorted(os.listdir(str(folder))) == [
            "cifar-10-python.tar.gz", "mnist.npz", "nietzsche.txt", "wikitext-2-raw-v1.zip"]
    unpacked = fallbacks[0].parent / "unpacked"
    assert len(os.listdir(str(unpacked))) == 2
