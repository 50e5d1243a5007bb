"""The framework-free core: spec, schema, timing, environment, the CLI's usage errors, the 3.6 floor."""
import json
import os
import shutil
import subprocess
import signal
import sys
import time

import pytest

from conftest import REPO, harness
from harness import environment, schema, timing
from harness.spec import UsageError, make_spec
from helpers import ok_record


# --- spec ---

def test_spec_fills_the_workloads_defaults():
    spec = make_spec(model="cnn", backend="jax")
    assert (spec.batch_size, spec.dataset, spec.method, spec.warmup) == (32, "synthetic", "fit", 1)
    assert make_spec(model="vgg16", backend="torch").batch_size == 16
    assert make_spec(model="mlp", backend="torch", batch_size=7).batch_size == 7
    assert make_spec(model="mlp", backend="jax").resnet_layers is None  # not an mlp option
    assert make_spec(model="resnet", backend="jax").resnet_layers == 20


@pytest.mark.parametrize("values, words", [
    (dict(model="gan", backend="jax"), "unknown model"),
    (dict(model="mlp", backend="cntk2"), "unknown backend"),
    (dict(model="mlp", backend="jax", dataset="cifar10"), "does not read data set"),
    (dict(model="mlp", backend="jax", batch_size=0), "--batch-size must be at least 1"),
    (dict(model="mlp", backend="jax", warmup=-1), "--warmup"),
    (dict(model="mlp", backend="jax", min_seconds=-1.0), "--min-seconds"),
    (dict(model="mlp", backend="jax", gpus=-2), "--gpus"),
    (dict(model="resnet50", backend="jax", dataset="imagenet", method="fit"), "streamed"),
    (dict(model="resnet", backend="jax", resnet_layers=21), "--layers"),
    (dict(model="resnet", backend="jax", resnet_version=3), "--version"),
    (dict(model="vgg16", backend="jax", image_size=16), "--image-size"),
    (dict(model="mlp", backend="jax", image_size=64), "takes no image_size"),
])
def test_spec_refuses_what_cannot_run(values, words):
    with pytest.raises(UsageError, match=words):
        make_spec(**values)


# --- schema ---


def test_schema_round_trip(tmp_path):
    path = schema.write(ok_record(), str(tmp_path))
    assert os.path.basename(path).endswith("_mlp_jax_r1.json")
    assert schema.read(path)["metrics"]["throughput"]["median"] == 8.0
    assert os.listdir(str(tmp_path)) == [os.path.basename(path)]  # no temporary file left


def test_schema_never_replaces_an_existing_result(tmp_path):
    record = ok_record()
    path = schema.write(record, str(tmp_path))
    with pytest.raises(FileExistsError):
        schema.write(record, str(tmp_path))
    assert schema.read(path)["run_id"] == "r1"
    assert len(os.listdir(str(tmp_path))) == 1


def test_schema_writes_a_diverged_loss_as_null(tmp_path):
    record = ok_record()
    record["metrics"]["loss"] = float("nan")
    assert schema.read(schema.write(record, str(tmp_path)))["metrics"]["loss"] is None


@pytest.mark.parametrize("change, words", [
    (lambda r: r.update(schema_version=99), "schema version 99"),
    (lambda r: r.pop("config"), "'config'"),
    (lambda r: r.update(status="done"), "unknown status"),
    (lambda r: r.update(metrics=None), "metrics"),
    (lambda r: r.update(status="error"), "error object"),
])
def test_schema_refuses_records_it_does_not_know(tmp_path, change, words):
    record = ok_record()
    change(record)
    path = tmp_path / "r.json"
    path.write_text(json.dumps(record))
    with pytest.raises(schema.SchemaError, match=words):
        schema.read(str(path))


def test_schema_refuses_a_truncated_file(tmp_path):
    path = tmp_path / "r.json"
    path.write_text(json.dumps(ok_record())[:-40])
    with pytest.raises(schema.SchemaError, match="not valid JSON"):
        schema.read(str(path))


# --- timing, with a fake clock ---

class FakeClock:
    def __init__(self, durations):
        self.now, self.durations = 0.0, list(durations)

    def __call__(self):
        return self.now

    def advance(self):
        self.now += self.durations.pop(0)


def test_recorder_excludes_warmup_and_computes_statistics():
    clock = FakeClock([5.0, 0.1, 0.1, 0.2, 0.2, 0.1, 0.3])  # a slow first step: compilation
    synced = []
    recorder = timing.Recorder(sync=synced.append, plan=timing.Plan(1, 2, 0, 0), clock=clock)
    for steps in ([5.0, 0.1], [0.1, 0.2], [0.2, 0.1, 0.3]):
        assert not recorder.done()
        recorder.begin_epoch()
        for _ in steps:
            clock.advance()
            recorder.end_step(10, outputs="logs")
        recorder.end_epoch()
    assert recorder.done()
    assert synced.count("logs") == 7 and synced.count(None) == 6  # sync before every clock read
    metrics = timing.summarize(recorder.epochs, warmup=1, unit="images")
    assert metrics["warmup"] == {"epochs": 1, "steps": 2, "samples": 20, "seconds": pytest.approx(5.1),
                                 "first_epoch_s": pytest.approx(5.1), "first_step_s": 5.0}
    assert metrics["measured"] == {"epochs": 2, "steps": 5, "samples": 50, "seconds": pytest.approx(0.9)}
    # epochs of 20 samples in 0.3 s and 30 samples in 0.6 s
    assert metrics["throughput"]["median"] == pytest.approx((20 / 0.3 + 30 / 0.6) / 2)
    assert metrics["throughput"]["min"] == pytest.approx(50.0)
    assert metrics["throughput"]["overall"] == pytest.approx(50 / 0.9)
    assert metrics["step_ms"]["median"] == pytest.approx(200.0)
    assert metrics["step_ms"]["max"] == pytest.approx(300.0)
    assert metrics["step_ms"]["stdev"] == pytest.approx(83.666, rel=1e-4)


def test_epoch_timing_waits_only_at_epoch_ends():
    """per_step=False: steps are counted, never waited for; the epoch's end waits for
    the last step's outputs, so the backend may run steps ahead in between."""
    clock = FakeClock([0.0, 0.0, 0.0, 0.7, 0.0, 0.0, 0.0, 0.5])
    synced = []
    recorder = timing.Recorder(sync=synced.append, plan=timing.Plan(1, 1, 0, 0), clock=clock,
                               per_step=False)
    for epoch in range(2):
        recorder.begin_epoch()
        for step in range(3):
            clock.advance()
            recorder.end_step(10, outputs="step %d" % step)
        clock.advance()
        recorder.end_epoch()
    assert synced == [None, "step 2"] * 2  # no wait inside an epoch
    assert recorder.epochs[1] == {"seconds": pytest.approx(0.5), "steps": 3, "samples": 30,
                                  "step_seconds": [], "step_samples": []}
    metrics = timing.summarize(recorder.epochs, warmup=1, unit="images")
    assert metrics["throughput"]["median"] == pytest.approx(60.0)
    assert metrics["step_ms"]["median"] == pytest.approx(500 / 3.0)
    assert metrics["step_ms"]["source"] == "epoch means"
    assert metrics["warmup"]["first_step_s"] is None


def _epochs(*steps_per_epoch, step_seconds=0.5):
    return [{"seconds": step_seconds * n, "steps": n, "samples": 4 * n,
             "step_seconds": [step_seconds] * n, "step_samples": [4] * n} for n in steps_per_epoch]


def test_plan_measures_on_until_every_minimum_is_met():
    assert timing.Plan(1, 2, 0, 0).max_epochs() == 3
    by_steps = timing.Plan(warmup=1, epochs=2, min_steps=7, min_seconds=0)
    assert by_steps.max_epochs() == timing.UNBOUNDED_EPOCHS
    assert not by_steps.done(_epochs(3, 3, 3))       # 6 measured steps
    assert by_steps.done(_epochs(3, 3, 3, 3))        # 9: the warm-up's 3 never count
    by_time = timing.Plan(warmup=0, epochs=1, min_steps=0, min_seconds=2.0)
    assert not by_time.done(_epochs(3))              # 1.5 s
    assert by_time.done(_epochs(3, 1))               # 2.0 s
    unfinished = _epochs(3, 3)
    unfinished[-1]["seconds"] = None                 # an epoch still running counts for nothing
    assert not timing.Plan(0, 2, 0, 0).done(unfinished)


def test_summary_refuses_a_run_with_nothing_measured():
    epochs = [{"seconds": 1.0, "steps": 1, "samples": 4, "step_seconds": [1.0], "step_samples": [4]}]
    with pytest.raises(ValueError, match="no measured steps"):
        timing.summarize(epochs, warmup=1, unit="images")


def test_stats_of_even_and_single_samples():
    assert timing.stats([4, 1, 3, 2])["median"] == 2.5
    assert timing.stats([7])["stdev"] == 0.0


# --- environment ---

def test_environment_names_the_package_behind_a_module():
    assert environment.providing_package("pytest") == "pytest"
    assert environment.providing_package("no_such_module_here") is None
    described = environment.snapshot()
    assert described["cpu_cores"] >= 1 and described["memory_bytes"] > 0
    assert described["packages"]["pytest"]


# --- the command line: usage errors are one line, exit 2, and write nothing ---

@pytest.mark.parametrize("args, words", [
    (["gan", "--backend", "jax"], "invalid choice: 'gan'"),
    (["mlp", "--backend", "mxnet2"], "invalid choice: 'mxnet2'"),
    (["mlp", "--backend", "jax", "--batch-size", "0"], "--batch-size must be at least 1"),
    (["mlp", "--backend", "jax", "--batch-size", "many"], "invalid int value"),
    (["mlp", "--backend", "jax", "--dataset", "cifar10"], "does not read data set"),
    (["resnet50", "--backend", "jax", "--dataset", "imagenet"], "streamed"),
    (["resnet", "--backend", "jax", "--layers", "50"], "--layers"),
    (["sweep", "--models", "mlp,gan"], "unknown model(s) gan"),
    (["run", "mlp", "--backend", "jax", "--epochs", "0"], "run mlp: error: --epochs must be"),
    (["run", "gan", "--backend", "jax"], "invalid choice: 'gan'"),
])
def test_usage_errors_exit_2_with_one_line_and_no_file(tmp_path, args, words):
    proc = harness(*(args + ["--out", tmp_path / "out"]), env={"KERAS_BACKEND": ""})
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and words in proc.stderr
    assert not (tmp_path / "out").exists()


def test_help_needs_no_framework():
    code = ("import sys, runpy; sys.argv = ['harness', 'mlp', '--help']\n"
            "try:\n    runpy.run_module('harness', run_name='__main__')\nexcept SystemExit: pass\n"
            "heavy = [m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules]\n"
            "assert not heavy, heavy")
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True)
    assert proc.returncode == 0, proc.stderr
    assert "--steps-per-epoch" in proc.stdout


@pytest.mark.parametrize("model", ["resnet", "vgg16"])
def test_the_help_shows_each_default_of_the_spec(model):
    from harness.spec import OPTIONS
    proc = subprocess.run([sys.executable, "-m", "harness", model, "--help"], cwd=REPO,
                          stdout=subprocess.PIPE, universal_newlines=True)
    shown = [o for o in OPTIONS if o.help and "{default}" in o.help
             and (o.takes in ("all", "one") or model in o.takes)]
    assert len(shown) > 15
    entries = [" ".join(entry.split()) for entry in proc.stdout.split("\n  -")]
    for option in shown:
        flag = option.keywords.get("flag") or "--" + option.name.replace("_", "-")
        entry = next(e for e in entries if e.startswith(flag[1:] + " "))
        default = "%g" % option.default if isinstance(option.default, float) else option.default
        assert "(default: %s" % default in entry, entry


LOAD_ONE_BACKEND = """import sys
from harness import backends, cluster
from harness.spec import make_spec
import harness.backends.keras3.tensorflow, harness.backends.keras3.jax, harness.backends.keras3.torch
import harness.backends.native, harness.backends.launchers.tf_strategy
from harness.backends.frameworks import jax, mxnet, tensorflow, torch
heavy = lambda: sorted(m for m in ('keras', 'tensorflow', 'jax', 'torch') if m in sys.modules)
assert not heavy(), heavy()
adapter = backends.load(make_spec(model="mlp", backend="jax", gpus=0), cluster.SINGLE)
print(type(adapter).__module__, heavy())
"""


def test_a_framework_is_imported_only_once_its_backend_is_loaded():
    """Every adapter, launcher and framework tool module loads without a framework; the
    backend chosen picks its own module, which imports its framework and no other."""
    proc = subprocess.run([sys.executable, "-c", LOAD_ONE_BACKEND], cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split("\n")[-2] == "harness.backends.keras3.jax ['jax', 'keras']"


def test_harness_holds_the_python_36_floor():
    vermin = shutil.which("vermin") or os.path.join(os.path.dirname(sys.executable), "vermin")
    proc = subprocess.run([vermin, "--no-tips", "--violations", "-t=3.6-", "harness"], cwd=REPO,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    assert proc.returncode == 0, proc.stdout


STUCK_RUN = """import sys, time
sys.path.insert(0, %r)
from harness import result_file, run_record, stopping
record = run_record.RunRecord({"model": "mlp", "backend": "jax"}, ["python", "-m", "harness"], "stuck")
stopping.install(result_file.WriteOnce(record, sys.argv[1]).as_interrupted, grace_s=0.5)
print("ready", flush=True)
time.sleep(60)  # a step that does not end: a long compile, say
"""


def test_a_stop_that_reaches_no_step_end_is_written_by_the_watchdog(tmp_path):
    """docker stop kills after 10 s: the record is written within the grace, as it stands."""
    script = tmp_path / "stuck.py"
    script.write_text(STUCK_RUN % REPO)
    out = tmp_path / "out"
    child = subprocess.Popen([sys.executable, str(script), str(out)], stdout=subprocess.PIPE,
                             universal_newlines=True)
    assert child.stdout.readline() == "ready\n"
    started = time.time()
    child.send_signal(signal.SIGTERM)
    child.wait(timeout=30)
    assert child.returncode == 1 and time.time() - started < 5
    record, = [schema.read(str(p)) for p in out.glob("*.json")]
    assert record["status"] == "interrupted" and record["error"]["type"] == "StopRequested"
    assert "no step ended within 0.5 s" in record["error"]["message"]
    assert "signal %d" % signal.SIGTERM in record["error"]["message"]
    assert "time.sleep(60)" in record["error"]["traceback"]  # where the run was stuck


def test_a_second_signal_stops_at_once():
    """It writes the result as it stands at once, from the watchdog: no handler raises."""
    code = ("import sys, time\nsys.path.insert(0, %r)\nfrom harness import stopping\n"
            "def write():\n    print('written', flush=True)\n    return True\n"
            "stopping.install(write, grace_s=60)\nprint('ready', flush=True)\n"
            "time.sleep(60)\n" % REPO)
    child = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, universal_newlines=True)
    assert child.stdout.readline() == "ready\n"
    child.send_signal(signal.SIGINT)
    time.sleep(0.3)
    assert child.poll() is None  # the first only asks
    started = time.time()
    child.send_signal(signal.SIGINT)
    output, errors = child.communicate(timeout=30)
    assert (child.returncode, output, errors) == (1, "written\n", "")
    assert time.time() - started < 5


SKIPPING = '''import pytest
def test_machine_dependent():
    pytest.skip("mounting a small tmpfs needs root")
@pytest.mark.parametrize("case", [])
def test_with_nothing_to_check(case):
    pass
def test_with_a_package_missing():
    pytest.importorskip("no_such_package_anywhere")
'''


@pytest.mark.parametrize("ci", ["true", ""])
def test_under_ci_a_skip_off_the_allow_list_fails_the_run(tmp_path, ci):
    """conftest.ALLOWED_SKIPS: a test run cannot go green by skipping what it should check."""
    (tmp_path / "test_skipping.py").write_text(SKIPPING)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider",
                           "-p", "conftest", str(tmp_path)], cwd=str(tmp_path),
                          env=dict(os.environ, CI=ci, PYTHONPATH=os.path.join(REPO, "tests")),
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    summary = proc.stdout.strip().splitlines()[-1]
    if ci:
        # the empty parameter set is skipped at set-up: an error
        assert proc.returncode == 1 and summary.startswith("1 failed, 1 skipped, 1 error"), \
            proc.stdout
        assert "not one of conftest.ALLOWED_SKIPS: got empty parameter set" in proc.stdout
        assert "could not import 'no_such_package_anywhere'" in proc.stdout
    else:
        assert proc.returncode == 0 and summary.startswith("3 skipped"), proc.stdout
    assert "SKIPPED [1] test_skipping.py:3: mounting a small tmpfs needs root" in proc.stdout
