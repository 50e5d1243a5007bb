"""The images built and run for real, through docker-compose, as a user runs them.

Static checks (tests/test_images.py) cannot see what only an engine shows: a
base image or index out of reach, a package that pip check misses, the results
folder's owner, a run lost on `docker stop`. So this module gets an engine
(docker/engine.py: the one that answers, else Debian's dockerd started
privately under build/docker and stopped at the end), makes a stand-in for the
official Python image from Debian 12's packages (no registry answers here),
and builds on it:

- jax-cpu, tensorflow-cpu and torch-cpu from a wheelhouse fetched by the host's
  pip, with no network in the build (PIP_NO_INDEX=1), through `docker-compose
  build` with the README's BENCH_GIT_COMMIT;
- images/cpu-mkl's Python 3.11 stand-ins: mxnet-py311 and mxnet-mkl-py311 (the
  seed's own mxnet-mkl 1.1.0) from their wheelhouses, and theano-py311 from PyPI
  through the pip-ca build secret (the host's CA bundle: this network re-signs
  TLS), which must not stay in the image.

Each runs `mlp` through `docker-compose run`; mxnet-mkl-py311 also `resnet`, into
the collector's CNN table beside the seed's MXNet rows. Docker's layer cache and the base
image live in the engine's data root and the wheelhouses in build/wheels, so a
second run on the same machine only checks them. Every test is in one xdist
group: one worker, one engine. Not root and no engine: skipped; an engine that
cannot start: a failure.
"""
import glob
import json
import os
import ssl
import subprocess
import sys
import time
import uuid

import pytest
from packaging.utils import canonicalize_name

from conftest import REPO, only_result
from harness import schema
from harness.collector import published
from image_builds import TOOLS, build_commit, pins

sys.path.insert(0, os.path.join(REPO, "docker"))
import engine as docker_engine  # noqa: E402

pytestmark = pytest.mark.xdist_group("docker")

COMPOSE = os.path.join(TOOLS, "docker-compose")
PROJECT = "keras-bench-test"  # compose's project: its network and containers, apart from a user's
OWNER = (1000, 1000)  # the non-root owner of the host's results folder
# Service: (requirements file, how pip gets its pins: "wheelhouse" or "index via pip-ca").
IMAGES = {
    "jax-cpu": ("images/keras3/jax-cpu.txt", "wheelhouse"),
    "tensorflow-cpu": ("images/keras3/tensorflow-cpu.txt", "wheelhouse"),
    "torch-cpu": ("images/keras3/torch-cpu.txt", "wheelhouse"),
    "mxnet-py311": ("requirements/keras2-mxnet.txt", "wheelhouse"),
    "mxnet-mkl-py311": ("images/cpu-mkl/mxnet-mkl-py311.txt", "wheelhouse"),
    "theano-py311": ("requirements/keras2-theano.txt", "index via pip-ca"),
}
KERAS3 = ["jax-cpu", "tensorflow-cpu", "torch-cpu"]
FRAMEWORKS = {"jax-cpu": {"jax", "jaxlib"}, "tensorflow-cpu": {"tensorflow-cpu"}, "torch-cpu": {"torch"}}
# The image's environment, not the suite's: the minimum time is turned off here, not by
# conftest's BENCH_MIN_SECONDS.
TINY = ["--epochs", "1", "--warmup", "0", "--steps-per-epoch", "2", "--batch-size", "8",
        "--min-seconds", "0"]
# The seeds' CNN table (the seed's MXNet 1.1.0 rows among them), and the columns by which a
# row of the collector's CNN table reads as one of its rows, but for the machine and model.
SEED_CNN_TABLE = os.path.join(REPO, "baselines", "keras-mxnet-CNN_result.md")
SEED_CNN_COLUMNS = ("inference", "gpus", "backend", "backend_package", "global_batch_size",
                    "data_format")


def git_head():
    """The commit an image built from this tree names, as the README builds it."""
    return build_commit(REPO)


@pytest.fixture(scope="session")
def engine():
    """The Docker engine for the session; a private one is stopped however the session ends."""
    if not os.path.exists(COMPOSE):
        pytest.fail("%s is missing: run `make .venv-tools/.installed`" % COMPOSE)
    try:
        found = docker_engine.engine()
    except docker_engine.Unavailable as why:
        pytest.skip(str(why))
    except Exception as why:  # noqa: BLE001 - the engine's own words are the message
        pytest.fail("no Docker engine could be started: %s" % why)
    try:
        yield found
    finally:
        compose(found, "down", "--remove-orphans", check=False)
        found.stop()


def compose(engine, *args, env=None, check=True, timeout=900):
    """docker-compose (v1, from .venv-tools) on compose.yaml, against `engine`."""
    environ = engine.env(**(env or {}))
    for name in [k for k in environ if k.startswith("BENCH_") and k not in (env or {})]:
        del environ[name]  # compose.yaml's defaults unless a test sets them
    cmd = [COMPOSE, "-p", PROJECT, "-f", os.path.join(REPO, "compose.yaml")] + list(args)
    proc = subprocess.run(cmd, cwd=REPO, env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout)
    if check:
        assert proc.returncode == 0, "%s\n%s\n%s" % (" ".join(cmd), proc.stdout[-4000:], proc.stderr[-4000:])
    return proc


def host_ca_bundle():
    """The CA bundle the host's pip trusts (this network's TLS proxy among them)."""
    return (os.environ.get("PIP_CERT") or ssl.get_default_verify_paths().cafile
            or "/etc/ssl/certs/ca-certificates.crt")


@pytest.fixture(scope="session")
def image(engine):
    """build(service) -> the service's image, built once per session on the stand-in base."""
    base = docker_engine.base_image(engine)
    built = {}
    config = compose_services(engine)

    def build(service):
        if service not in built:
            requirements, source = IMAGES[service]
            args = ["BASE_IMAGE=" + base]
            if source == "wheelhouse":
                folder = docker_engine.wheelhouse(os.path.join(REPO, requirements),
                                                  os.path.join(docker_engine.WHEELS, service))
                args += ["WHEELHOUSE=" + os.path.relpath(folder, REPO), "PIP_NO_INDEX=1"]
                command = ["build"] + [a for arg in args for a in ("--build-arg", arg)] + [service]
                compose(engine, *command, env={"BENCH_GIT_COMMIT": git_head()}, timeout=1800)
            else:
                # compose v1 passes no build secrets: the README's `docker build` command.
                spec = config[service]["build"]
                args += ["%s=%s" % kv for kv in spec["args"].items() if kv[0] != "BASE_IMAGE"]
                args = [a if not a.startswith("BENCH_GIT_COMMIT=") else "BENCH_GIT_COMMIT=" + git_head()
                        for a in args]
                engine.docker("build", "-f", spec["dockerfile"], "-t", config[service]["image"],
                              "--secret", "id=pip-ca,src=" + host_ca_bundle(),
                              *[a for arg in args for a in ("--build-arg", arg)], ".",
                              cwd=REPO, timeout=1800)
            built[service] = config[service]["image"]
        return built[service]
    return build


def compose_services(engine):
    """compose.yaml's services as `docker-compose config` resolves them, BENCH_GIT_COMMIT unset."""
    proc = compose(engine, "config")
    to_json = "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"
    dumped = subprocess.run([os.path.join(TOOLS, "python"), "-c", to_json], input=proc.stdout,
                            stdout=subprocess.PIPE, universal_newlines=True, check=True)
    return json.loads(dumped.stdout)["services"]


@pytest.fixture
def folders(tmp_path):
    """(results, data): a results folder owned by a non-root user, and a data folder."""
    results, data = tmp_path / "results", tmp_path / "data"
    results.mkdir()
    data.mkdir()
    (data / "README").write_text("a data set would be here\n")
    os.chmod(str(tmp_path), 0o755)
    if os.getuid() == 0:
        os.chown(str(results), *OWNER)
    return str(results), str(data)


def run_service(engine, service, folders, *args, extra=(), **kwargs):
    """`docker-compose run --rm -T [extra] SERVICE ARGS`, writing into `folders`."""
    results, data = folders
    return compose(engine, "run", "--rm", "-T", *extra, service, *args,
                   env={"BENCH_RESULTS": results, "BENCH_DATA": data}, check=False, **kwargs)


@pytest.mark.parametrize("service", sorted(IMAGES))
def test_image_builds_and_runs_mlp_through_compose(service, engine, image, folders):
    """One valid result in the host's folder, owned by that folder's owner, readable
    by all (umask 022), naming the image, its pins and the commit it was built from."""
    name = image(service)
    proc = run_service(engine, service, folders, "mlp", *TINY)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    record = only_result(folders[0], proc)
    path = glob.glob(os.path.join(folders[0], "*.json"))[0]
    info = os.stat(path)
    if os.getuid() == 0:
        assert (info.st_uid, info.st_gid) == OWNER
    assert info.st_mode & 0o777 == 0o644
    assert_ok_naming_its_image(record, service, name)
    if service in KERAS3:
        assert record["config"]["backend"] == service.split("-")[0]
        others = set().union(*FRAMEWORKS.values()) - FRAMEWORKS[service]
        assert not others & {canonicalize_name(p) for p in record["environment"]["packages"]}
    if service == "theano-py311":  # linked to the OpenBLAS the image installs, not NumPy's C API
        blas = record["environment"]["blas"]
        assert blas["linked"] and blas["library"].startswith("/usr/lib/x86_64-linux-gnu/"), blas


def assert_ok_naming_its_image(record, service, name):
    """An ok result that names the image `name`, the commit it was built from and every pin."""
    assert record["status"] == "ok", record.get("error")
    environment = record["environment"]
    assert environment["image"] == name and environment["in_container"]
    assert environment["git_commit"] == git_head()
    requirements, _ = IMAGES[service]
    for package, requirement in pins(os.path.join(REPO, requirements)).items():
        installed = environment["packages"].get(package)
        assert installed and installed.split("+")[0] in requirement.specifier, (package, installed)


def test_the_seeds_mxnet_runs_resnet_into_the_seeds_cnn_table(engine, image, folders):
    """mxnet-mkl-py311's `resnet` at the seeds' batch of 32 is a row of the collector's CNN
    table that reads as one of the seed's MXNet CPU rows, column for column, but for the
    machine and the ResNet's depth."""
    service = "mxnet-mkl-py311"
    name = image(service)
    proc = run_service(engine, service, folders, "resnet", "--epochs", "1", "--warmup", "0",
                       "--steps-per-epoch", "2", "--min-seconds", "0")
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert_ok_naming_its_image(only_result(folders[0], proc), service, name)
    table = subprocess.run([sys.executable, os.path.join(REPO, "harness", "collect.py"), "--kind", "cnn",
                            "--format", "json", folders[0]],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    assert table.returncode == 0, table.stderr
    [row] = json.loads(table.stdout)["rows"]
    assert (row["model"], row["backend_version"]) == ("resnet", "1.1.0")
    seed_rows = [{column: seed.stated.get(column) for column in SEED_CNN_COLUMNS}
                 for seed in published.read(SEED_CNN_TABLE)]
    assert {column: row[column] for column in SEED_CNN_COLUMNS} in seed_rows
    assert row["backend_package"] == "mxnet-mkl" and row["data_format"] == "channels_first"


@pytest.mark.parametrize("service", KERAS3)
def test_help_answers(service, engine, image, folders):
    image(service)
    proc = run_service(engine, service, folders, "--help", timeout=120)
    assert proc.returncode == 0 and "python -m harness" in proc.stdout, proc.stderr


def test_the_data_folder_is_read_only_inside(engine, image, folders):
    image("jax-cpu")
    probe = "try:\n    open('/data/new', 'w')\nexcept OSError as e:\n    print(e.strerror)\n"
    proc = run_service(engine, "jax-cpu", folders, "-c", probe, extra=["--entrypoint", "python"],
                       timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "Read-only file system", proc.stdout + proc.stderr
    assert not os.path.exists(os.path.join(folders[1], "new"))


def test_an_image_built_without_the_commit_says_why(engine, image, folders):
    """A plain `docker compose build` leaves BENCH_GIT_COMMIT empty: the result says so."""
    image("jax-cpu")
    proc = run_service(engine, "jax-cpu", folders, "mlp", *TINY, extra=["-e", "BENCH_GIT_COMMIT="])
    assert proc.returncode == 0, proc.stderr[-3000:]
    environment = only_result(folders[0], proc)["environment"]
    assert environment["git_commit"] is None
    assert "built without BENCH_GIT_COMMIT" in environment["git_commit_unknown"]


def test_the_ca_secret_stays_out_of_the_image(engine, image):
    """theano-py311 installed its pins from PyPI through the pip-ca secret, which
    lived only while pip ran: not in the image's files, history or environment."""
    name = image("theano-py311")
    inspect = engine.docker("image", "inspect", name).stdout
    history = engine.docker("history", "--no-trunc", name).stdout
    with open(host_ca_bundle()) as f:
        first_cert_line = [line for line in f.read().splitlines() if line and "-----" not in line][0]
    assert first_cert_line not in inspect + history and "PIP_CERT" not in inspect
    proc = engine.docker("run", "--rm", "--entrypoint", "sh", name, "-c",
                         "ls /run/secrets 2>/dev/null; env | grep -c PIP_CERT", check=False)
    assert proc.stdout.split() == ["0"], proc.stdout


def stop_during_training(engine, service, folders, before_stop=lambda: None):
    """`docker-compose run --rm` a long mlp, `before_stop()` once it trains, then `docker
    stop` it (SIGTERM, then SIGKILL after its default 10 s); (seconds the stop took, the
    run's output, its exit code)."""
    container = "keras-bench-stop-" + uuid.uuid4().hex[:8]
    results, data = folders
    environ = engine.env(BENCH_RESULTS=results, BENCH_DATA=data)
    run = subprocess.Popen(
        [COMPOSE, "-p", PROJECT, "-f", os.path.join(REPO, "compose.yaml"), "run", "--rm", "-T",
         "--name", container, service, "mlp", "--epochs", "1", "--warmup", "0", "--min-seconds", "600",
         "--steps-per-epoch", "20", "--batch-size", "8"],
        cwd=REPO, env=environ, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True)
    try:
        deadline = time.time() + 180
        while time.time() < deadline and run.poll() is None:
            logs = engine.docker("logs", container, check=False)
            if "epoch 1/" in logs.stdout + logs.stderr:
                break
            time.sleep(1)
        else:
            pytest.fail("training never started:\n" + (run.communicate(timeout=60)[0] or "")[-3000:])
        before_stop()
        started = time.time()
        engine.docker("stop", container, timeout=60)
        stopped = time.time() - started
        output = run.communicate(timeout=120)[0]
    finally:
        if run.poll() is None:
            run.kill()
            run.wait()
    return stopped, output, run.returncode


@pytest.mark.parametrize("service", ["jax-cpu", "tensorflow-cpu", "torch-cpu", "mxnet-mkl-py311"])
def test_docker_stop_leaves_an_interrupted_result(service, engine, image, folders):
    """`docker stop` (SIGTERM, then SIGKILL after its default 10 s) during training."""
    image(service)
    stopped, output, code = stop_during_training(engine, service, folders)
    record = only_result(folders[0], subprocess.CompletedProcess([], code, "", output))
    assert record["status"] == "interrupted", (stopped, output[-2000:])
    assert record["error"]["message"] == "stopped by signal 15"  # at a step end, not the watchdog
    assert stopped < 10, "the run outlived docker stop's grace and was killed"


def test_a_result_its_folder_refuses_is_printed_whole_not_lost_with_the_container(
        engine, image, folders):
    """The entrypoint names no fallback folder: the container's home and /tmp go with
    `--rm`, and the result written there went with them."""
    image("jax-cpu")
    results = folders[0]
    stopped, output, code = stop_during_training(
        engine, "jax-cpu", folders, before_stop=lambda: os.chmod(results, 0o555))
    os.chmod(results, 0o755)
    assert os.listdir(results) == []
    assert "here it is:" in output, output[-3000:]
    printed = next(line for line in reversed(output.splitlines()) if line.startswith("{"))
    record = schema.validate(json.loads(printed))
    assert record["status"] == "interrupted" and record["error"]["phase"] == "measurement"
    assert record["environment"]["env_vars"]["BENCH_FALLBACK_DIR"] == ""
