"""Shared helpers: run the harness as a user does, in its own process, and read what it wrote."""
import glob
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)
# One OpenMP thread for every process the tests start: two pytest workers share two cores,
# and PyTorch's OpenMP threads, oversubscribed, slowed a tiny run from 6 s to over 70 s.
# The tests check what runs and what is recorded; the benches under bench/ measure speed.
os.environ.setdefault("OMP_NUM_THREADS", "1")
# Tiny runs: no minimum measured time and no growing of epochs, unless a test asks for them
# (harness.spec.ENVIRONMENT_DEFAULTS; every result records the values it ran with).
os.environ.setdefault("BENCH_MIN_SECONDS", "0")
os.environ.setdefault("BENCH_EPOCH_SECONDS", "0")
# One process per configuration in sweeps and reruns (their default is 3, harness.sweep),
# unless a test asks for more.
os.environ.setdefault("BENCH_PROCESSES", "1")
from harness import backends, schema  # noqa: E402
from harness.spec import KERAS3_BACKENDS  # noqa: E402

INSTALLED_BACKENDS = [b for b in KERAS3_BACKENDS if backends.installed(b)]


def harness(*args, env=None, timeout=600, python=sys.executable):
    """`python -m harness ARGS` from the repository root, with this or another
    environment's `python`; returns the finished process."""
    environ = dict(os.environ, BENCH_OFFLINE="1", PYTHONUNBUFFERED="1")
    environ.update(env or {})
    return subprocess.run([str(python), "-m", "harness"] + [str(a) for a in args],
                          cwd=REPO, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout)


def results(out):
    """Every result record in folder `out`, validated."""
    return [schema.read(p) for p in sorted(glob.glob(os.path.join(str(out), "*.json")))]


def only_result(out, proc):
    """The single record a run wrote (with the run's stderr in the message if not)."""
    records = results(out)
    assert len(records) == 1, "expected one result, got %d; stderr:\n%s" % (len(records), proc.stderr)
    return records[0]


# Under CI=true a skipped test fails the run, unless its reason starts with one of these:
# the cases that depend on the machine the tests run on, not on what was installed or
# built (a missing environment, package or Docker engine fails the run there).
ALLOWED_SKIPS = {
    "mounting a small tmpfs needs root": "test_faults: full disks and read-only folders",
    "cannot mount a tmpfs here": "test_faults: a container without the right to mount",
    "giving results/ another owner takes root": "test_images: the entrypoint's change of user",
    "this machine is too busy": "test_telemetry: a busy loop cannot get a core to measure",
    "this kernel lists no children per thread": "test_telemetry: an old kernel's /proc",
}


def in_ci():
    return os.environ.get("CI", "").lower() in ("true", "1")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Under CI, a skip whose reason is not in ALLOWED_SKIPS is a failure."""
    report = (yield).get_result()
    if report.skipped and in_ci() and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason[len("Skipped: "):] if reason.startswith("Skipped: ") else reason
        if not reason.startswith(tuple(ALLOWED_SKIPS)):
            report.outcome = "failed"
            report.longrepr = ("skipped under CI=true, and the reason is not one of "
                               "conftest.ALLOWED_SKIPS: %s" % reason)


@pytest.fixture(params=INSTALLED_BACKENDS)
def backend(request):
    return request.param


# Tests that read different fields of one configuration's result share its run: mark
# them with this group, so that pytest-xdist gives them one worker and one cache.
SHARED_RUNS = pytest.mark.xdist_group("shared-runs")


@pytest.fixture(scope="session")
def shared_run(tmp_path_factory):
    """`shared_run(MODEL, BACKEND, *options)`: that run's record, run once per worker."""
    cache = {}

    def run(model, backend, *options):
        key = (model, backend) + tuple(str(o) for o in options)
        if key not in cache:
            out = tmp_path_factory.mktemp("shared-run")
            proc = harness(model, "--backend", backend, "--out", out, *options)
            record = only_result(out, proc)
            assert record["status"] == "ok" and proc.returncode == 0, record["error"]
            cache[key] = record
        return cache[key]
    return run
