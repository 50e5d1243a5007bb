"""Where a run ran: host, hardware, image, code and package versions.

Reads only the operating system and package metadata, never imports a
framework: the backend adapter adds what only the framework knows (its own
CUDA and cuDNN builds, the devices it sees).
"""
import os
import platform
import re
import subprocess
import sys

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Variables that change what a backend does, recorded with every run.
_ENV_PREFIXES = ("KERAS_", "XLA_", "JAX_", "CUDA_", "NVIDIA_", "OMP_", "MKL_",
                 "KMP_", "OPENBLAS_", "THEANO_", "MXNET_", "TORCH", "PYTORCH_", "BENCH_",
                 "TF_CPP_", "TF_ENABLE_", "TF_XLA_", "TF_GPU_", "TF_FORCE_", "TF_NUM_")

# DMI product names that say nothing about the machine.
_GENERIC_PRODUCTS = ("", "standard pc", "virtual machine", "kvm", "bochs", "none",
                     "to be filled by o.e.m.", "system product name", "default string")


def normalize(dist_name):
    """PEP 503 form of a distribution name: 'tensorflow_cpu' -> 'tensorflow-cpu'."""
    return re.sub(r"[-_.]+", "-", dist_name).lower()


_DISTRIBUTIONS = []


def _distributions():
    """(name, version, top-level modules) of every installed distribution, read once: a
    package's file list is read where it names no top-level modules, and that takes a
    second over a large environment."""
    if not _DISTRIBUTIONS:
        _DISTRIBUTIONS.extend(_read_distributions())
    return _DISTRIBUTIONS


def _read_distributions():
    try:
        import importlib.metadata as metadata  # novermin (3.8+; the 3.6 images use pkg_resources)
    except ImportError:
        import pkg_resources
        for dist in pkg_resources.working_set:
            tops = dist.get_metadata("top_level.txt").split() if dist.has_metadata("top_level.txt") else []
            yield dist.project_name, dist.version, tops
        return
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if not name:
            continue
        tops = (dist.read_text("top_level.txt") or "").split()
        if not tops:
            tops = sorted({f.parts[0] for f in (dist.files or ()) if f.parts and f.suffix in ("", ".py")
                           and not f.parts[0].endswith((".dist-info", ".egg-info", ".data"))})
        yield name, dist.version, tops


def packages():
    """{distribution: version} of everything installed, to rebuild the environment."""
    return {normalize(name): version for name, version, _ in _distributions()}


def provider(module):
    """(distribution, version) of what provides `module`, e.g. keras -> ('keras-mxnet', '2.2.4.3').

    Several may provide it (mxnet, mxnet-mkl, mxnet-cu90 all ship `mxnet`); the
    one named after a variant beats the plain one, since it says more.
    None when nothing installed provides it.
    """
    found = sorted((normalize(name), version) for name, version, tops in _distributions()
                   if module in tops)
    if not found:
        return None
    variants = [f for f in found if f[0] != module]
    return variants[0] if variants else found[0]


def providing_package(module):
    """The installed distribution that provides `module`, e.g. tensorflow -> tensorflow-cpu."""
    found = provider(module)
    return found and found[0]


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def usable_cores():
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count()


def memory_bytes():
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def nvidia_gpus():
    """GPUs as NVIDIA's driver reports them, or [] where there is no driver."""
    query = "name,driver_version,memory.total"
    try:
        out = subprocess.check_output(
            ["nvidia-smi", "--query-gpu=" + query, "--format=csv,noheader,nounits"],
            stderr=subprocess.DEVNULL, timeout=20, universal_newlines=True)
    except (OSError, subprocess.SubprocessError):
        return []
    gpus = []
    for line in out.strip().splitlines():
        name, driver, mib = [part.strip() for part in line.split(",")]
        gpus.append({"name": name, "driver": driver, "memory_bytes": int(float(mib)) << 20})
    return gpus


def git_commit():
    """The harness's commit (and whether its tree had changes), or what the image recorded."""
    baked = os.environ.get("BENCH_GIT_COMMIT")
    if baked:
        return baked
    try:
        commit = subprocess.check_output(["git", "-C", REPO_ROOT, "rev-parse", "HEAD"],
                                         stderr=subprocess.DEVNULL, timeout=10,
                                         universal_newlines=True).strip()
        dirty = subprocess.check_output(["git", "-C", REPO_ROOT, "status", "--porcelain",
                                         "--untracked-files=no", "--", "harness"],
                                        stderr=subprocess.DEVNULL, timeout=10,
                                        universal_newlines=True).strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return commit + ("-dirty" if dirty else "")


def git_commit_unknown():
    """Why git_commit() found none: an image built without BENCH_GIT_COMMIT (its
    harness is a copy, with no .git beside it), or a checkout git cannot read."""
    if "BENCH_GIT_COMMIT" in os.environ and not os.path.exists(os.path.join(REPO_ROOT, ".git")):
        return ("image built without BENCH_GIT_COMMIT "
                "(build with BENCH_GIT_COMMIT=$(git describe --always --dirty --abbrev=40 "
                "--exclude='*'), README.md)")
    if not os.path.exists(os.path.join(REPO_ROOT, ".git")):
        return "the harness at %s is no git checkout" % REPO_ROOT
    return "git could not read the checkout at %s (is git installed?)" % REPO_ROOT


def instance_label(gpus_used, gpus):
    """A name for the machine, for the tables' "Instance Type" column.

    Cloud instances name themselves in DMI (an EC2 c5.18xlarge says
    "c5.18xlarge"); elsewhere the label is built from the hardware.
    """
    try:
        with open("/sys/class/dmi/id/product_name") as f:
            product = f.read().strip()
    except OSError:
        product = ""
    if product.lower() not in _GENERIC_PRODUCTS and "." in product:
        return product
    label = "%d-core %s" % (usable_cores(), re.sub(r"\((R|TM)\)|CPU|Processor|@.*", "", cpu_model()).strip())
    label = re.sub(r"\s+", " ", label)
    if gpus_used and gpus:
        label += " + %dx %s" % (gpus_used, gpus[0]["name"])
    return label


# The frameworks a run may load; a run should load its own only.
FRAMEWORK_MODULES = ("tensorflow", "jax", "torch", "mxnet", "theano", "cntk")


def at_end():
    """What only a run's end knows of its environment: the variables as the adapter left
    them, and the frameworks the process loaded."""
    return {"env_vars": env_vars(), "frameworks_loaded": frameworks_loaded()}


def frameworks_loaded():
    """The frameworks this process has imported so far: a JAX run that loaded TensorFlow
    too paid seconds of start-up for it, and carries its memory in its RSS."""
    return [name for name in FRAMEWORK_MODULES if name in sys.modules]


def env_vars():
    """The variables that change what a backend does, as they are now."""
    return {k: v for k, v in sorted(os.environ.items()) if k.startswith(_ENV_PREFIXES)}


def snapshot():
    """Everything about the host a result needs, without any framework."""
    gpus = nvidia_gpus()
    commit = git_commit()
    described = {
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "platform": platform.platform(),
        "cpu_model": cpu_model(),
        "cpu_cores": os.cpu_count(),
        "cpu_cores_usable": usable_cores(),
        "memory_bytes": memory_bytes(),
        "gpus": gpus,
        "image": os.environ.get("BENCH_IMAGE"),
        "in_container": os.path.exists("/.dockerenv") or os.path.exists("/run/.containerenv"),
        "git_commit": commit,
        "env_vars": env_vars(),
        "packages": packages(),
    }
    if commit is None:
        described["git_commit_unknown"] = git_commit_unknown()
    return described
