"""The images and compose.yaml, checked from the files, for every image.

tests/test_containers.py builds and runs the CPU images on a real engine;
what no engine here can build (the Python 3.6 and CUDA images: their bases and
NVIDIA's repositories are out of reach) is checked only here: the Dockerfiles
(hadolint, and how they take their base image, wheelhouse and CA secret),
compose.yaml (docker-compose 1.29's own validation, then what each service
must have), every image's pinned requirements (resolved by pip for the image's
Python and platform, then checked to be a closed, consistent set, and one
framework per Keras 3 CPU image, pinned as in the native .venv), and the
images' own logic: the entrypoint runs here with the environment a Dockerfile
sets. The tools come from .venv-tools (requirements/tools.txt; `make test`
builds it).
"""
import glob
import importlib.util
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import REPO, only_result
from image_builds import BUILD_COMMIT, TOOLS, build_commit, pins

ENTRYPOINT = os.path.join(REPO, "docker", "entrypoint.py")
DOCKERFILES = sorted(glob.glob(os.path.join(REPO, "images", "*", "Dockerfile")))
KERAS3_CPU = ["jax-cpu", "tensorflow-cpu", "torch-cpu"]
# The packages that make each Keras 3 CPU image's framework; no image holds another's.
FRAMEWORK_PACKAGES = {"jax-cpu": {"jax", "jaxlib"}, "tensorflow-cpu": {"tensorflow-cpu"},
                      "torch-cpu": {"torch"}}
# The glibc of each Debian release the images start from: the newest manylinux
# tag its Python can install.
GLIBC = {"bullseye": 31, "bookworm": 36}
# Packages whose build in an image comes from the index the service passes
# (PIP_EXTRA_INDEX_URL) rather than PyPI: PyPI checks them by version only, as
# PyPI's build of the same version has other dependencies (torch: CUDA ones).
OTHER_INDEX_BUILDS = {"torch"}
# What in a requirements file means the image drives a GPU.
# CUDA builds and NVIDIA's CUDA libraries; nvidia-ml-py (NVML's Python binding,
# for telemetry) is pure Python and in every image.
GPU_PACKAGES = re.compile(r"^(tensorflow-gpu|mxnet-cu\d+|nvidia-(?!ml-py)|cuda-toolkit|jax-cuda)", re.M)


def tool(name):
    path = os.path.join(TOOLS, name)
    if not os.path.exists(path):
        pytest.fail("%s is missing: run `make .venv-tools/.installed`" % path)
    return path


def run(cmd, **kwargs):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, **kwargs)


def compose_config():
    """compose.yaml as docker-compose resolves it (defaults for every variable)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BENCH_", "COMPOSE_"))}
    proc = run([tool("docker-compose"), "-f", os.path.join(REPO, "compose.yaml"), "config"],
               cwd=REPO, env=env)
    assert proc.returncode == 0, proc.stderr
    to_json = "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)"
    dumped = run([tool("python"), "-c", to_json], input=proc.stdout)
    assert dumped.returncode == 0, dumped.stderr
    return json.loads(dumped.stdout)["services"]


SERVICES = compose_config() if os.path.exists(os.path.join(TOOLS, "docker-compose")) else {}


def test_an_image_built_from_a_changed_tree_is_labelled_dirty(tmp_path):
    """`git rev-parse HEAD` named a clean commit for an image of uncommitted code."""
    with open(os.path.join(REPO, "README.md")) as f:
        labels = re.findall(r"BENCH_GIT_COMMIT=\$\((.*?)\)\s", f.read())
    assert labels and set(labels) == {BUILD_COMMIT}
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "--quiet", REPO, str(clone)], check=True)
    head = subprocess.check_output(["git", "-C", str(clone), "rev-parse", "HEAD"],
                                   universal_newlines=True).strip()
    assert build_commit(clone) == head
    with open(str(clone / "harness" / "cli.py"), "a") as f:
        f.write("# changed\n")
    assert build_commit(clone) == head + "-dirty"


def dockerfile_lines(path):
    """The Dockerfile's instructions, continuation lines joined, comments dropped."""
    with open(path) as f:
        text = re.sub(r"\\\n", " ", f.read())
    return [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def dockerfile_env(path, args):
    """The ENV a Dockerfile sets in its final stage, its ARGs filled from `args` or their defaults."""
    lines = dockerfile_lines(path)
    last_from = max(i for i, line in enumerate(lines) if line.upper().startswith("FROM "))
    values, env = {}, {}
    for line in lines[last_from:]:
        keyword, _, rest = line.partition(" ")
        if keyword.upper() == "ARG":
            name, _, default = rest.partition("=")
            values[name] = args.get(name, default)
        elif keyword.upper() == "ENV":
            for name, value in re.findall(r'(\w+)=("[^"]*"|\S*)', rest):
                value = re.sub(r"\$\{(\w+)\}", lambda m: values.get(m.group(1), env.get(m.group(1), "")),
                               value.strip('"'))
                env[name] = values[name] = value
    return env


def arg_default(path, name):
    """The default a Dockerfile gives its build argument `name`, or None."""
    for line in dockerfile_lines(path):
        match = re.match(r"ARG %s=(\S+)$" % name, line)
        if match:
            return match.group(1)
    return None


def python_target(path, args):
    """(Python version, glibc minor) of the official Python image an image builds on:
    the service's BASE_IMAGE, else the Dockerfile's default."""
    base = args.get("BASE_IMAGE") or arg_default(path, "BASE_IMAGE")
    match = re.match(r"python:(\d+\.\d+)\.\d+-slim-(\w+)$", base or "")
    assert match, "%s builds on %s, not an official Python image" % (path, base)
    return match.group(1), GLIBC[match.group(2)]


def marker_env(python_version):
    return {"python_version": python_version, "python_full_version": python_version + ".0",
            "sys_platform": "linux", "platform_system": "Linux", "platform_machine": "x86_64",
            "os_name": "posix", "implementation_name": "cpython",
            "platform_python_implementation": "CPython", "implementation_version": python_version,
            "platform_release": "", "platform_version": ""}


def closure_problems(report, pinned, python_version, unchecked):
    """What the pinned set lacks or contradicts, by the pinned packages' own metadata
    (all but the `unchecked` packages')."""
    dists = {canonicalize_name(item["metadata"]["name"]): item["metadata"] for item in report["install"]}
    extras = {name: set(req.extras) for name, req in pinned.items()}
    problems, queue = [], list(dists)
    while queue:
        name = queue.pop()
        if name in unchecked:
            continue
        for line in dists[name].get("requires_dist") or ():
            dep = Requirement(line)
            if dep.marker and not any(dep.marker.evaluate(dict(marker_env(python_version), extra=e))
                                      for e in extras.get(name, set()) | {""}):
                continue
            dep_name = canonicalize_name(dep.name)
            if dep_name not in dists:
                problems.append("%s needs %s, which is not pinned" % (name, dep))
                continue
            if not dep.specifier.contains(dists[dep_name]["version"], prereleases=True):
                problems.append("%s needs %s, pinned %s" % (name, dep, dists[dep_name]["version"]))
            if not set(dep.extras) <= extras.setdefault(dep_name, set()):
                extras[dep_name] |= set(dep.extras)
                queue.append(dep_name)
    return problems


def images():
    """(requirements file, Dockerfile, its build args) per image."""
    seen = {}
    for service in SERVICES.values():
        build = service["build"]
        args = build.get("args", {})
        seen[args["REQUIREMENTS"]] = (os.path.join(build["context"], build["dockerfile"]), args)
    return [pytest.param(req, dockerfile, args, id=req)
            for req, (dockerfile, args) in sorted(seen.items())]


# --- the Dockerfiles ---

@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: os.path.relpath(p, REPO))
def test_dockerfile_passes_hadolint(dockerfile):
    proc = run([tool("hadolint"), dockerfile])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    with open(dockerfile) as f:
        for line in f:
            if "hadolint ignore=" in line:
                assert re.search(r"ignore=[\w,]+ # \S", line), "an ignored rule needs its reason: " + line


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: os.path.relpath(p, REPO))
def test_dockerfile_takes_its_base_wheelhouse_and_ca_from_the_build(dockerfile):
    """Buildable anywhere: the base image is a build argument (default: the official
    image), and pip installs from the index, a mounted wheelhouse or through the
    pip-ca secret, which is a mount and never an ARG, ENV or COPY that a layer keeps."""
    lines = dockerfile_lines(dockerfile)
    froms = [line.split()[1] for line in lines if line.upper().startswith("FROM ")]
    assert froms[-1] == "${BASE_IMAGE}"
    assert re.match(r"python:\d+\.\d+\.\d+-slim-\w+$", arg_default(dockerfile, "BASE_IMAGE"))
    assert all(f.startswith("${") or f == "scratch" for f in froms), "a base image fixed in the file"
    assert os.path.isdir(os.path.join(REPO, arg_default(dockerfile, "WHEELHOUSE")))
    installs = [line for line in lines if "pip install" in line]
    assert installs and all("--mount=type=bind,from=wheelhouse,target=/wheels" in line
                            and "--mount=type=secret,id=pip-ca" in line
                            and "--find-links /wheels" in line for line in installs)
    for line in lines:
        keyword = line.split()[0].upper()
        assert not (keyword in ("ARG", "ENV", "COPY", "ADD") and re.search(r"PIP_CERT|\.crt|\.pem", line)), line


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: os.path.relpath(p, REPO))
def test_dockerfile_has_no_stage_its_image_does_not_use(dockerfile):
    """BuildKit builds only the stages the last one needs, the legacy builder all of
    them: so every stage is one the image uses, and the native libraries of one
    backend (Theano's g++, CNTK's OpenMPI) are a choice in one step, not stages."""
    lines = dockerfile_lines(dockerfile)
    stages = [line.split()[3] for line in lines
              if line.upper().startswith("FROM ") and len(line.split()) == 4]
    text = "\n".join(lines)
    for stage in stages:
        assert re.search(r"[-,]from=%s\b|^FROM %s\b" % (stage, stage), text, re.M), "stage %s unused" % stage


def test_keras3_cpu_images_hold_one_framework_pinned_as_in_the_native_venv():
    native = pins(os.path.join(REPO, "requirements", "keras3-cpu.txt"))
    for name in KERAS3_CPU:
        image = pins(os.path.join(REPO, "images", "keras3", name + ".txt"))
        assert {n: str(r.specifier) for n, r in image.items() if n in native} == \
            {n: str(native[n].specifier) for n in image if n in native}, name
        others = set().union(*FRAMEWORK_PACKAGES.values()) - FRAMEWORK_PACKAGES[name]
        assert FRAMEWORK_PACKAGES[name] <= set(image) and not others & set(image), name
        assert SERVICES[name]["build"]["args"]["REQUIREMENTS"] == "images/keras3/%s.txt" % name


def test_mxnet_mkl_py311_holds_the_native_mxnet110_pins_with_mkl():
    """The seed's MXNet image holds .venv-mxnet110's pins, with MXNet's MKL build for
    mxnet, and keras-mxnet's h5py, which only the image's pip check asks for."""
    native = pins(os.path.join(REPO, "requirements", "keras2-mxnet110.txt"))
    requirements = SERVICES["mxnet-mkl-py311"]["build"]["args"]["REQUIREMENTS"]
    image = pins(os.path.join(REPO, requirements))
    assert {name: str(req.specifier) for name, req in image.items() if name != "h5py"} == \
        {("mxnet-mkl" if name == "mxnet" else name): str(req.specifier) for name, req in native.items()}
    assert "h5py" in image


# --- compose.yaml ---

def test_compose_has_the_seeds_and_todays_services():
    tool("docker-compose")
    assert {"tf-cpu", "mxnet-mkl", "theano-cpu", "cntk-cpu", "tf-cu90", "mxnet-cu90",
            "tensorflow-cpu", "jax-cpu", "torch-cpu",
            "tensorflow-cuda", "jax-cuda", "torch-cuda"} <= set(SERVICES)


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_service_builds_an_image_folder_and_mounts_results_and_data(name):
    service = SERVICES[name]
    build = service["build"]
    assert build["context"] == REPO
    dockerfile = os.path.join(build["context"], build["dockerfile"])
    assert os.path.dirname(os.path.dirname(dockerfile)) == os.path.join(REPO, "images")
    assert os.path.isfile(dockerfile)
    args = build["args"]
    assert os.path.isfile(os.path.join(REPO, args["REQUIREMENTS"]))
    with open(os.path.join(REPO, ".dockerignore")) as f:
        in_context = {line[1:].strip().strip("/") for line in f if line.startswith("!")}
    filled = dict(args, WHEELHOUSE=arg_default(dockerfile, "WHEELHOUSE"))
    copied = [re.sub(r"\$\{(\w+)\}", lambda m: filled[m.group(1)], line.split()[1])
              for line in dockerfile_lines(dockerfile)
              if line.upper().startswith("COPY ") and "--from" not in line]
    assert all(os.path.exists(os.path.join(REPO, path)) for path in copied), copied
    assert {path.split("/")[0] for path in copied} <= in_context, ".dockerignore leaves them out"
    declared = {line.split()[1].split("=")[0] for line in dockerfile_lines(dockerfile)
                if line.upper().startswith("ARG ")}
    assert set(args) <= declared, "build args the Dockerfile does not declare"
    assert args["BENCH_IMAGE"] == service["image"], "results must name the image they ran in"
    env = dockerfile_env(dockerfile, args)
    assert env["BENCH_IMAGE"] == service["image"] and "BENCH_GIT_COMMIT" in env
    volumes = {target: (source, mode) for source, target, mode in
               (v.split(":") for v in service["volumes"])}  # as docker-compose 1.29 prints them
    assert volumes["/work/results"] == (os.path.join(REPO, "results"), "rw")
    assert volumes["/data"] == (os.path.join(REPO, "data"), "ro")
    assert service["environment"]["BENCH_DATA"] == "/data"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_gpu_services_and_only_they_reserve_gpus(name):
    service = SERVICES[name]
    with open(os.path.join(REPO, service["build"]["args"]["REQUIREMENTS"])) as f:
        drives_gpu = bool(GPU_PACKAGES.search(f.read()))
    devices = service.get("deploy", {}).get("resources", {}).get("reservations", {}).get("devices", [])
    reserved = any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", []) for d in devices)
    assert reserved == drives_gpu


# --- the requirements ---

@pytest.mark.parametrize("requirements,dockerfile,args", images())
def test_requirements_resolve_for_the_image(requirements, dockerfile, args, tmp_path):
    """Every pin exists on PyPI for the image's Python and platform, and the pins are closed.

    The few pure-Python sources among the pins (html5lib, termcolor, gast, Theano)
    give their metadata through this machine's Python; the wheels are taken as built.
    """
    python_version, glibc = python_target(dockerfile, args)
    platforms = ["manylinux_2_%d_x86_64" % m for m in range(5, glibc + 1)]
    platforms += ["manylinux1_x86_64", "manylinux2010_x86_64", "manylinux2014_x86_64", "linux_x86_64"]
    report = tmp_path / "report.json"
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--no-deps",
           "--quiet", "--python-version", python_version, "--target", str(tmp_path / "t"),
           "--report", str(report), "-r", os.path.join(REPO, requirements)]
    for platform in platforms:
        cmd += ["--platform", platform]
    # PyPI alone: not this machine's wheel folders or constraints.
    env = dict(os.environ, PIP_CONFIG_FILE=os.devnull, PIP_FIND_LINKS="", PIP_CONSTRAINT="")
    proc = run(cmd, env=env, timeout=480)
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(str(report)) as f:
        resolved = json.load(f)
    pinned = pins(os.path.join(REPO, requirements))
    assert {canonicalize_name(i["metadata"]["name"]) for i in resolved["install"]} == set(pinned)
    other = OTHER_INDEX_BUILDS if args.get("PIP_EXTRA_INDEX_URL") else set()
    excepted = set(args.get("PIP_CHECK_EXCEPT", "").split())
    assert closure_problems(resolved, pinned, python_version, other | excepted) == []
    # An exception the pins need, and no more: each excepted package's metadata is overruled.
    overruled = closure_problems(resolved, pinned, python_version, other)
    assert {problem.split()[0] for problem in overruled} == excepted, overruled


def test_the_native_venv_holds_its_pins():
    """.venv, which the tests run on, holds requirements/keras3-cpu.txt's pins, which the
    Keras 3 CPU images share (test_keras3_cpu_images_hold_one_framework_...)."""
    from importlib import metadata
    for name, req in pins(os.path.join(REPO, "requirements", "keras3-cpu.txt")).items():
        assert req.specifier.contains(metadata.version(name), prereleases=True), name


# --- the images' logic, run here ---

def image_env(service_name):
    """This machine's environment as the service's Dockerfile and compose.yaml leave it."""
    service = SERVICES[service_name]
    build = service["build"]
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("KERAS_", "BENCH_", "CUDA_", "JAX_", "TF_"))}
    env.update(dockerfile_env(os.path.join(build["context"], build["dockerfile"]), build["args"]))
    env.update(service.get("environment", {}))
    env["BENCH_OFFLINE"] = "1"
    return env


@pytest.fixture
def workdir():
    """A working folder like the image's /work, with a results/ folder in it."""
    work = tempfile.mkdtemp(prefix="bench-work-")
    os.mkdir(os.path.join(work, "results"))
    yield work
    shutil.rmtree(work)


@pytest.mark.parametrize("name", ["tensorflow-cpu", "jax-cpu", "torch-cpu"])
def test_entrypoint_runs_the_keras3_cpu_image(name, workdir):
    env = image_env(name)
    env["BENCH_GIT_COMMIT"] = "0123abc"  # as a build would pass it
    proc = run([sys.executable, ENTRYPOINT, "mlp", "--epochs", "1", "--steps-per-epoch", "2",
                "--batch-size", "4", "--min-seconds", "0"], cwd=workdir, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    record = only_result(os.path.join(workdir, "results"), proc)
    assert record["status"] == "ok"
    assert record["config"]["backend"] == env["KERAS_BACKEND"]
    assert record["environment"]["image"] == SERVICES[name]["image"]
    assert record["environment"]["git_commit"] == "0123abc"


def test_entrypoint_hands_the_run_to_the_owner_of_the_results_folder(workdir, monkeypatch):
    """Started as root (as in a container), the harness runs as the owner of results/,
    so what it writes on the host belongs to that user. The switch is recorded,
    not made: this machine's interpreter lies in root's private home."""
    spec = importlib.util.spec_from_file_location("entrypoint", ENTRYPOINT)
    entrypoint = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entrypoint)
    if os.getuid() != 0:
        pytest.skip("giving results/ another owner takes root, as in a container")
    owner = 4321, 4322
    os.chown(os.path.join(workdir, "results"), *owner)
    calls = []

    class Exec(Exception):
        pass

    def execve(path, args, env):
        raise Exec(path, args, env)

    monkeypatch.chdir(workdir)
    for name in ("chown", "setgroups", "setgid", "setuid"):
        monkeypatch.setattr(os, name, lambda *a, _name=name: calls.append((_name,) + a))
    monkeypatch.setattr(os, "execve", execve)
    monkeypatch.setenv("KERAS_BACKEND", "jax")
    with pytest.raises(Exec) as ran:
        entrypoint.main(["mlp", "--data-format", "channels_first"])
    path, args, env = ran.value.args
    assert args[1:] == ["-m", "harness", "mlp", "--data-format", "channels_first"]
    assert calls[-3:] == [("setgroups", []), ("setgid", owner[1]), ("setuid", owner[0])]
    assert ("chown", env["HOME"]) + owner in calls
    with open(os.path.join(env["KERAS_HOME"], "keras.json")) as f:
        assert json.load(f) == {"backend": "jax", "image_data_format": "channels_first",
                                "floatx": "float32", "epsilon": 1e-07}
    shutil.rmtree(env["HOME"])


def test_help_passes_through_to_the_harness(workdir):
    proc = run([sys.executable, ENTRYPOINT, "--help"], cwd=workdir, env=image_env("tf-cu90"))
    assert proc.returncode == 0 and "python -m harness" in proc.stdout


@pytest.fixture
def fake_nvidia_smi(tmp_path):
    """An nvidia-smi that reports a GPU FAKE_NAME of compute capability FAKE_CAP; without a
    capability it answers as an older driver, which knows no compute_cap."""
    script = tmp_path / "nvidia-smi"
    script.write_text('#!/bin/sh\n'
                      'case "$*" in *compute_cap*)\n'
                      '  [ -n "$FAKE_CAP" ] || { echo \'Field "compute_cap" is not a valid field to query.\'; exit 2; }\n'
                      '  echo "$FAKE_NAME, $FAKE_CAP";;\n'
                      '*) echo "$FAKE_NAME";; esac\n')
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(tmp_path)


@pytest.mark.parametrize("gpu,refused", [
    (("NVIDIA H100 80GB HBM3", "9.0"), True),
    (("NVIDIA A100-SXM4-40GB", ""), True),      # old driver: judged by the name
    (("Tesla T4", "7.5"), True),
    (("Tesla V100-SXM2-16GB", "7.0"), False),
    (("Tesla V100-SXM2-16GB", ""), False),
    (("Tesla K80", "3.7"), False),
])
def test_cu90_images_refuse_gpus_newer_than_volta_at_once(gpu, refused, fake_nvidia_smi, workdir):
    env = image_env("tf-cu90")
    env.update(PATH=fake_nvidia_smi + os.pathsep + env["PATH"], FAKE_NAME=gpu[0], FAKE_CAP=gpu[1])
    # --batch-size 0: past the GPU check, the harness's own usage error ends the run.
    proc = run([sys.executable, ENTRYPOINT, "mlp", "--batch-size", "0"], cwd=workdir, env=env,
               timeout=60)
    assert proc.returncode == 2
    assert ("tensorflow-cuda" in proc.stderr) == refused, proc.stderr
    assert ("batch-size" in proc.stderr) != refused, proc.stderr


def test_cu90_images_run_on_the_cpu_of_a_newer_gpu_machine(fake_nvidia_smi, workdir):
    env = image_env("mxnet-cu90")
    env.update(PATH=fake_nvidia_smi + os.pathsep + env["PATH"], FAKE_NAME="NVIDIA H100", FAKE_CAP="9.0")
    proc = run([sys.executable, ENTRYPOINT, "mlp", "--gpus", "0", "--batch-size", "0"],
               cwd=workdir, env=env, timeout=60)
    assert proc.returncode == 2 and "tensorflow-cuda" not in proc.stderr, proc.stderr


def test_image_code_holds_the_python36_floor():
    vermin = os.path.join(os.path.dirname(sys.executable), "vermin")
    proc = run([vermin, "--no-tips", "--violations", "-t=3.6-", "docker", "harness"], cwd=REPO)
    assert proc.returncode == 0, proc.stdout + proc.stderr
