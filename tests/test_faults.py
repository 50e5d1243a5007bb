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

from conftest import INSTALLED_BACKENDS
from harness import options, schema
from harness.collector.records import CollectError
from harness.collector.runs import load
from harness.datasets import DataError
from helpers import record
from data_files import spec_for, write_cifar, write_mnist, write_wikitext, NIETZSCHE

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
    options.check_out_dir(str(tmp_path / "new" / "results"))
    options.check_out_dir(str(tmp_path))
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
    write = result_file.WriteOnce(None, str(tmp_path / "file" / "results"))
    (tmp_path / "file").write_text("x")
    path = write(one)
    errors = capsys.readouterr().err
    assert path.startswith(str(fallbacks[0])) and schema.read(path)["run_id"] == one["run_id"]
    assert "could not be written into %s" % (tmp_path / "file" / "results") in errors
    assert "it was written to %s instead" % path in errors
    assert write(one) == path  # written once


def test_with_nowhere_to_write_the_record_is_printed_on_stderr(tmp_path, fallbacks, capsys,
                                                                  monkeypatch):
    from harness import result_file
    monkeypatch.setattr(schema, "fallback_dirs", lambda: [str(tmp_path / "x" / "y")])
    (tmp_path / "x").write_text("x")
    one = record(speed=9.0)
    result_file.WriteOnce(None, str(tmp_path / "x" / "results"))(one)
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


# --- signals at every phase of a run, and twice ---

def signalled_run(out, backend, phase, signals, *extra):
    """An mlp run held for a moment as it enters `phase` (BENCH_TEST_PAUSE_AT, read by
    harness.stopping), sent `signals` there one after the other; (exit code, stderr)."""
    args = [sys.executable, "-m", "harness", "mlp", "--backend", backend, "--out", str(out),
            "--epochs", "3", "--warmup", "1", "--steps-per-epoch", "3", "--batch-size", "8"]
    env = dict(os.environ, BENCH_OFFLINE="1", PYTHONUNBUFFERED="1", BENCH_TEST_PAUSE_AT=phase)
    child = subprocess.Popen(args + list(extra), cwd=REPO, env=env, stderr=subprocess.PIPE,
                             universal_newlines=True)
    lines = []
    for line in child.stderr:
        lines.append(line)
        if line == "pausing at %s\n" % phase:
            break
    for signum in signals:
        child.send_signal(signum)
        time.sleep(0.2)
    lines += child.communicate(timeout=120)[1]
    return child.returncode, "".join(lines)


def only_record(out, errors):
    records = [schema.read(p) for p in glob.glob(str(out / "*.json"))]
    assert len(records) == 1, errors[-3000:]
    return records[0]


@pytest.mark.parametrize("phase", ["start-up", "data", "warm-up"])
def test_a_signal_in_any_phase_leaves_one_interrupted_result_saying_where(tmp_path, phase):
    """A signal is kept from the process's start, before the command line is read
    (stopping.hold), and each phase's start checks. (A signal while measuring:
    tests/test_runs.py, every backend and loop.)"""
    code, errors = signalled_run(tmp_path, "jax", phase, [signal.SIGTERM])
    record = only_record(tmp_path, errors)
    assert (code, record["status"]) == (1, "interrupted"), errors[-3000:]
    assert record["error"]["message"] == "stopped by signal %d" % signal.SIGTERM
    assert record["error"]["phase"] == phase
    assert record["metrics"] is None  # no measured epoch had finished
    assert record["environment"]["env_vars"]["BENCH_TEST_PAUSE_AT"] == phase


def test_a_signal_during_the_final_write_leaves_the_finished_result(tmp_path):
    code, errors = signalled_run(tmp_path, "jax", "final write", [signal.SIGINT])
    record = only_record(tmp_path, errors)
    assert (code, record["status"]) == (0, "ok"), errors[-3000:]
    assert record["environment"]["backend"] == "jax"  # described by the framework as usual


@pytest.mark.parametrize("phase, backend", [("final write", "jax")] + [
    ("measurement", backend) for backend in INSTALLED_BACKENDS])
def test_two_signals_leave_one_result_at_once(tmp_path, phase, backend):
    """The second signal writes the result as it stands, from the watchdog: it used to
    raise StopRequested wherever the main thread was, the final write included."""
    started = time.time()
    code, errors = signalled_run(tmp_path, backend, phase, [signal.SIGTERM, signal.SIGINT])
    record = only_record(tmp_path, errors)
    assert code == 1 and time.time() - started < 60
    if phase == "final write":  # the run had finished: its outcome stands
        assert record["status"] == "ok" and record["metrics"]["throughput"]["n"] >= 3
    else:
        assert record["status"] == "interrupted"
        assert record["error"]["message"] == \
            "stopped by signal %d; a second signal came" % signal.SIGTERM
        assert record["error"]["phase"] == "measurement"


def test_a_signal_kept_for_a_run_acts_at_once_where_no_run_comes():
    """A sweep or a rerun releases what `hold` kept: its children write their own files."""
    code = ("import os, signal, sys, time\nsys.path.insert(0, %r)\nfrom harness import stopping\n"
            "stopping.hold()\nos.kill(os.getpid(), signal.SIGTERM)\ntime.sleep(0.2)\n"
            "print('kept', flush=True)\nstopping.release()\ntime.sleep(30)\nprint('ran on')\n"
            % REPO)
    child = subprocess.run([sys.executable, "-c", code], stdout=subprocess.PIPE,
                           universal_newlines=True, timeout=60)
    assert (child.returncode, child.stdout) == (-signal.SIGTERM, "kept\n")


# --- failures of the write and of the watchdog ---

def test_a_write_that_raises_a_type_error_prints_the_record_whole(tmp_path, capsys):
    """json.dump's TypeError (a value JSON cannot hold) escaped the write: no file, no word."""
    from harness import result_file
    one = record(speed=9.0)
    one["config"]["odd"] = {1, 2}  # a set
    write = result_file.WriteOnce(None, str(tmp_path / "out"))
    assert write(one) == "stderr"
    errors = capsys.readouterr().err
    assert "TypeError" in errors and "here it is:" in errors
    printed = json.loads(errors.splitlines()[-1])
    assert printed["run_id"] == one["run_id"] and printed["config"]["odd"] == "{1, 2}"
    assert glob.glob(str(tmp_path / "out" / "*")) == []


def test_a_record_the_schema_refuses_is_printed_whole(tmp_path, capsys):
    from harness import result_file
    one = record(speed=9.0)
    one["status"] = "finished"
    assert result_file.WriteOnce(None, str(tmp_path / "out"))(one) == "stderr"
    errors = capsys.readouterr().err
    assert "SchemaError: unknown status 'finished'" in errors
    assert json.loads(errors.splitlines()[-1])["run_id"] == one["run_id"]


def test_a_watchdog_that_fails_says_why_before_the_exit():
    code = ("import sys, time\nsys.path.insert(0, %r)\nfrom harness import stopping\n"
            "def broken():\n    raise RuntimeError('the disk is on fire')\n"
            "stopping.install(broken, grace_s=0.2)\nprint('ready', flush=True)\n"
            "time.sleep(60)\n" % REPO)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, universal_newlines=True)
    assert child.stdout.readline() == "ready\n"
    child.send_signal(signal.SIGTERM)
    _, errors = child.communicate(timeout=30)
    assert child.returncode == 1
    assert "the stop's watchdog could not write the result" in errors
    assert "RuntimeError: the disk is on fire" in errors


# --- two writers of one name ---

def test_two_writers_of_one_name_never_overwrite_each_other(tmp_path, monkeypatch):
    """Both writers pause right after any check of the name they make (as a descheduled
    process would): a check that the name is free, then a rename, let both win."""
    import threading
    exists = os.path.exists

    out = tmp_path / "results"
    out.mkdir()

    def slow_exists(path):
        found = exists(path)
        if os.path.dirname(str(path)) == str(out) and not \
                os.path.basename(str(path)).startswith(".partial-"):
            time.sleep(0.3)
        return found
    monkeypatch.setattr(os.path, "exists", slow_exists)
    outcomes, template = {}, record(speed=9.0)

    def writer(name):
        one = json.loads(json.dumps(template))
        one["config"]["writer"] = name
        try:
            outcomes[name] = schema.write(one, str(out))
        except FileExistsError as error:
            outcomes[name] = error
    threads = [threading.Thread(target=writer, args=(name,)) for name in ("a", "b")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    won = [name for name, outcome in outcomes.items() if isinstance(outcome, str)]
    assert len(won) == 1, outcomes
    path, = glob.glob(str(out / "*"))
    assert schema.read(path)["config"]["writer"] == won[0]


# --- a sweep's run that hangs without a word ---

def test_a_silently_hung_sweep_run_is_stopped_at_its_deadline(tmp_path, monkeypatch):
    from harness import sweep
    silent = [sys.executable, "-c", "import time; time.sleep(60)"]
    monkeypatch.setattr(sweep, "child_command", lambda *args: silent)
    started = time.time()
    one = sweep.run_one("mlp", "jax", {"batch_size": 4}, str(tmp_path), timeout=2)
    assert time.time() - started < 30
    assert one["status"] == "interrupted"
    assert one["error"]["message"].startswith("stopped at the sweep's --timeout of 2 s: ")
    assert "killed by signal %d" % signal.SIGTERM in one["error"]["message"]
    assert [r["run_id"] for r in (schema.read(str(p)) for p in tmp_path.glob("*.json"))] == \
        [one["run_id"]]
