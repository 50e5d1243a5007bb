"""The seeds' Keras 2 backends: real runs in the Keras 2 environments that `make test`
builds (keras-mxnet on MXNet 1.9.1, Keras 2.1.5 on Theano, and the seed's own MXNet
1.1.0), and the Keras 2 logic that needs no framework (TensorFlow 1.x, CNTK, the shims)."""
import collections.abc
import glob
import importlib
import os
import re
import subprocess
import sys
import types
import warnings

import numpy as np
import pytest

from conftest import REPO, harness, only_result
from harness import backends
from harness.backends import legacy, theano_blas
from harness.backends.keras2 import mxnet as keras2_mxnet
from harness.models import Recipe
from helpers import TINY, assert_counts_add_up, assert_stopped_at_a_step_end

sys.path.insert(0, os.path.join(REPO, "docker"))
import engine as docker_engine  # noqa: E402

# One pytest worker runs this file: Theano's compile cache (~/.theano) is not safe for two
# processes compiling into it at once (a cold cache failed on `assert key not in self.keys`).
pytestmark = pytest.mark.xdist_group("keras2")

# environment -> (its folder, the backend it runs, the distribution that provides `keras`)
ENVS = {
    "mxnet": (".venv-mxnet", "mxnet", "keras-mxnet"),
    "theano": (".venv-theano", "theano", "keras"),
    "mxnet110": (".venv-mxnet110", "mxnet", "keras-mxnet"),
}


@pytest.fixture(scope="module", autouse=True)
def system_openblas():
    """Debian's OpenBLAS, which the Theano runs here link (theano_blas's first choice, and
    what the README tells a user to install): installed where missing, as root."""
    if not theano_blas.system_openblas():
        if os.getuid() != 0:
            pytest.fail("no system OpenBLAS: run `%s` as root" % theano_blas.INSTALL_HINT)
        docker_engine.apt_install(["libopenblas-dev"])
    return theano_blas.system_openblas()[0]


def python_of(env):
    python = os.path.join(REPO, ENVS[env][0], "bin", "python")
    if not os.path.exists(python):
        pytest.skip("no %s environment; `make test` builds it" % ENVS[env][0])
    return python


def run_in(env, tmp_path, model, *extra, status="ok", environ=None):
    """One tiny run of `model` on `env`'s backend; returns its validated result."""
    out = tmp_path / "out"
    proc = harness(model, "--backend", ENVS[env][1], "--out", out, *(TINY + list(extra)),
                   python=python_of(env), env=environ)
    record = only_result(out, proc)
    assert record["status"] == status, record["error"] or proc.stderr
    assert proc.returncode == 0, proc.stderr
    return record


def python_code(env, code, extra_path=None):
    """Run `code` with `env`'s python from the repository root; returns its stdout."""
    environ = dict(os.environ, KERAS_BACKEND=ENVS[env][1], PYTHONPATH=extra_path or "")
    proc = subprocess.run([python_of(env), "-c", code], cwd=REPO, env=environ,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


# --- every workload, every method, training and inference, on MXNet and Theano ---

# Each model trains with each method and predicts once. Inference rotates over
# the methods (the mlp takes all three): Theano compiles every new graph for a
# minute, so the whole cross product would cost CI minutes that test no more.
RUNS = [(model, method, False) for model in ("mlp", "cnn", "lstm", "resnet")
        for method in ("fit", "train_on_batch", "generator")] + [
    ("mlp", "fit", True), ("mlp", "generator", True), ("mlp", "train_on_batch", True),
    ("cnn", "fit", True), ("lstm", "generator", True), ("resnet", "train_on_batch", True)]
MODEL_OPTIONS = {"resnet": ["--version", 1, "--layers", 20]}


# The shims each environment needs here: NumPy 1.23 still has numpy.bool, so neither
# needs the NumPy aliases.
SHIMS_NEEDED = {
    "mxnet": ["collections-abc-aliases", "quiet-mxnet-deprecations"],
    "theano": ["collections-abc-aliases", "theano-blas-ldflags", "theano-python-scan"],
}


@pytest.mark.parametrize("env", ["mxnet", "theano"])
@pytest.mark.parametrize("model, method, inference", RUNS)
def test_each_workload_and_method_runs(tmp_path, env, model, method, inference):
    record = run_in(env, tmp_path, model, "--method", method, *(
        MODEL_OPTIONS.get(model, []) + (["--inference"] if inference else [])))
    config, metrics = record["config"], record["metrics"]
    if inference and method != "train_on_batch":
        # Keras 2's predict() has no batch hooks: each call is timed whole, one step of 3 batches.
        assert_counts_add_up(record, steps=1, batch=3 * 4)
    else:
        assert_counts_add_up(record)
    assert (config["model"], config["method"], config["inference"]) == (model, method, inference)
    if inference:
        assert metrics["loss"] is None
    else:
        assert metrics["loss"] > 0 and not metrics["diverged"]
        assert 0.0 <= metrics["accuracy"] <= 1.0  # Keras 2's "acc", under Keras 3's name
    if env == "mxnet" and model in ("cnn", "resnet"):
        assert config["data_format"] == "channels_first"  # the seeds' MXNet advice
    assert_describes_its_stack(record, env)
    assert record["environment"]["legacy_shims"] == SHIMS_NEEDED[env]


def assert_describes_its_stack(record, env):
    """The result names the backend, its version and package (the tables' columns), and Keras's."""
    environment = record["environment"]
    backend, keras_package = ENVS[env][1:]
    assert record["config"]["keras_api"] == environment["keras_api"] == "keras2"
    assert environment["backend"] == backend == environment["env_vars"]["KERAS_BACKEND"]
    assert environment["backend_package"] == backend  # the CPU packages: mxnet, theano
    assert environment["backend_version"] == environment["packages"][backend]
    assert environment["keras_package"] == keras_package
    # keras-mxnet 2.1.6.1 says 2.1.6: the fork's patch releases keep Keras's version.
    assert environment["packages"][keras_package].startswith(environment["keras_version"])
    assert environment["devices"] and environment["cuda"] is None
    if backend == "theano":  # linked to the system's OpenBLAS, not on NumPy's C API
        blas = environment["blas"]
        assert blas["linked"] and blas["library"].startswith("/usr/lib/"), blas
        assert blas["version"] and blas["note"] is None, blas


def test_mxnet_runs_channels_last_when_asked(tmp_path):
    record = run_in("mxnet", tmp_path, "cnn", "--data-format", "channels_last", "--inference")
    assert record["config"]["data_format"] == "channels_last"


@pytest.mark.parametrize("env", ["mxnet", "theano"])
def test_keras_2_fit_stops_when_the_minimums_are_met(tmp_path, env):
    """Keras 2's fit() is given open-ended epochs and stopped by the timing callback."""
    record = run_in(env, tmp_path, "mlp", "--min-steps", 10)
    assert record["metrics"]["measured"]["steps"] == 12  # four 3-step epochs
    assert len(record["samples"]["epochs"]) == 5  # the warm-up and those four, no more
    assert_counts_add_up(record, epochs=4)


@pytest.mark.parametrize("env", ["mxnet", "theano"])
def test_mixed_precision_is_skipped_with_its_reason(tmp_path, env):
    record = run_in(env, tmp_path, "mlp", "--precision", "mixed_float16", status="skipped")
    assert "Keras 3's mixed precision" in record["error"]["message"]
    assert record["metrics"] is None


def test_keras_applications_models_run_on_keras_mxnet(tmp_path):
    for model in ("resnet50", "vgg16"):  # keras_applications 1.0.8 takes 32x32 images
        record = run_in("mxnet", tmp_path / model, model, "--image-size", 32, "--batch-size", 2)
        assert record["config"]["parameters"] > 10 ** 7


def test_keras_2_1_applications_refuse_small_images_as_skipped(tmp_path):
    for env, model, smallest in (("theano", "resnet50", 197), ("theano", "vgg16", 48),
                                 ("mxnet110", "resnet50", 197)):
        record = run_in(env, tmp_path / env / model, model, "--image-size", 32, status="skipped")
        assert "at least %dx%d, not 32x32" % (smallest, smallest) in record["error"]["message"]


# --- the seed's own MXNet pin ---

@pytest.mark.parametrize("extra", [[], ["--method", "train_on_batch"], ["--inference"]])
def test_the_seeds_mxnet_1_1_runs_the_mlp(tmp_path, extra):
    record = run_in("mxnet110", tmp_path, "mlp", *extra)
    assert_describes_its_stack(record, "mxnet110")
    environment = record["environment"]
    assert (environment["backend_version"], environment["keras_version"]) == ("1.1.0", "2.1.6")


# --- the shims: applied where needed (see SHIMS_NEEDED), and only there ---

def test_theano_on_numpy_s_c_api_says_so_on_its_summary_line(tmp_path):
    """The user's empty blas.ldflags is kept: Theano goes through NumPy's C API, and the
    result and the summary line say so, with what to install."""
    proc = harness("mlp", "--inference", "--backend", "theano", "--out", tmp_path / "out",
                   *TINY, python=python_of("theano"), env={"THEANO_FLAGS": "blas.ldflags="})
    record = only_result(tmp_path / "out", proc)
    assert record["status"] == "ok", record["error"] or proc.stderr
    assert record["environment"]["legacy_shims"] == ["collections-abc-aliases", "theano-python-scan"]
    blas = record["environment"]["blas"]
    assert (blas["ldflags"], blas["linked"]) == ("", False)
    assert "numpy.libs" in blas["library"] and blas["version"], blas  # NumPy's own OpenBLAS
    summary = proc.stderr.strip().splitlines()[-1]
    assert summary.startswith("mlp theano: ") and blas["note"] in summary
    assert "NumPy's C-API BLAS" in blas["note"] and "apt-get install libopenblas-dev" in blas["note"]


def test_a_keras_json_of_another_keras_cannot_break_keras_2(tmp_path):
    """keras-mxnet writes "backend": "mxnet" into the shared ~/.keras/keras.json, which
    Keras 2.1.5 refused with a bare AssertionError before it read KERAS_BACKEND: Keras 2
    is imported with a config folder of the run's own, which keeps the user's data format
    and leaves the user's file as it was."""
    home = tmp_path / "home"
    (home / ".keras").mkdir(parents=True)
    written = ('{"backend": "mxnet", "image_data_format": "channels_first", '
               '"floatx": "float32", "epsilon": 1e-07}')
    (home / ".keras" / "keras.json").write_text(written)
    theano_cache = "base_compiledir=" + os.path.join(os.path.expanduser("~"), ".theano")
    record = run_in("theano", tmp_path, "mlp", environ={"HOME": str(home),
                                                        "THEANO_FLAGS": theano_cache})
    assert record["config"]["data_format"] == "channels_first"
    assert os.listdir(str(home / ".keras")) == ["keras.json"]
    assert (home / ".keras" / "keras.json").read_text() == written


def test_collections_aliases_only_where_missing():
    modern = types.ModuleType("collections")
    assert legacy.collections_abc_aliases(modern) is True
    assert modern.Iterable is collections.abc.Iterable
    assert legacy.collections_abc_aliases(modern) is False  # now complete


def test_numpy_aliases_only_where_missing():
    numpy_1_24 = types.SimpleNamespace(bool_=np.bool_)
    assert legacy.numpy_type_aliases(numpy_1_24) is True
    assert numpy_1_24.bool is bool and numpy_1_24.int is int
    assert legacy.numpy_type_aliases(numpy_1_24) is False


def test_theano_blas_flags_keep_what_the_user_set(tmp_path):
    theanorc = tmp_path / "theanorc"
    theanorc.write_text("[blas]\nldflags = -lopenblas\n")
    given = {"THEANO_FLAGS": "floatX=float32,blas.ldflags=-lblas", "THEANORC": str(tmp_path / "none")}
    assert legacy.theano_blas_ldflags(given) is False
    assert given["THEANO_FLAGS"] == "floatX=float32,blas.ldflags=-lblas"
    assert legacy.theano_blas_ldflags({"THEANORC": str(theanorc)}) is False


def test_theano_blas_flags_link_the_first_openblas_theano_can_call(tmp_path, system_openblas):
    site = os.path.dirname(os.path.dirname(np.__file__))
    # This NumPy's and SciPy's wheels bundle OpenBLAS with suffixed or prefixed names
    # (sgemm_64_, scipy_sgemm_): Theano's C code, which calls sgemm_, cannot use them.
    renamed = glob.glob(os.path.join(site, "numpy.libs", "*openblas*.so")) + \
        glob.glob(os.path.join(site, "scipy.libs", "*openblas*.so"))
    assert renamed and not any(theano_blas.callable_by_theano(p) for p in renamed)
    assert theano_blas.find_ldflags(renamed + [str(tmp_path / "none.so")]) == ""
    folder, name = os.path.split(system_openblas)
    assert theano_blas.find_ldflags(renamed + [system_openblas]) == theano_blas.ldflags_of(
        system_openblas) == "-L%s -l%s" % (folder, name[3:-3])  # libopenblas.so: -lopenblas
    assert theano_blas.ldflags_of("/opt/lib/libopenblas.so.0") == "-L/opt/lib -l:libopenblas.so.0"
    assert theano_blas.find_ldflags(["/a,b/libopenblas.so", "/a b/libopenblas.so"]) == ""
    # SciPy 1.11's wheel (.venv-theano's) bundles one with the plain names: the second choice.
    python_of("theano")
    plain = glob.glob(os.path.join(REPO, ".venv-theano", "lib", "python3*", "site-packages",
                                   "scipy.libs", "*openblas*.so"))
    assert len(plain) == 1 and theano_blas.find_ldflags(renamed + plain) == \
        theano_blas.ldflags_of(plain[0])
    # The shim, where Theano's NumPy has no BLAS flags to give: the system's OpenBLAS first.
    out = python_code("theano", "from harness.backends import legacy\n"
                      "given = {'THEANO_FLAGS': 'floatX=float32', 'THEANORC': '/none'}\n"
                      "print(legacy.theano_blas_ldflags(given), given['THEANO_FLAGS'])")
    assert out.strip() == "True floatX=float32,blas.ldflags=" + theano_blas.ldflags_of(
        system_openblas)


def test_theano_s_blas_is_described_from_its_flags():
    linked = theano_blas.describe("-L/usr/local/lib -lopenblas -lopenblas")  # Theano's own search
    assert linked["linked"] and os.path.realpath(linked["library"]) == linked["library"]
    assert re.match(r"\d+\.\d+", linked["version"]) and linked["config"].startswith("OpenBLAS ")
    assert theano_blas.describe("-lopenblas")["library"] == linked["library"]
    numpy_s = theano_blas.describe("")  # this process's NumPy's (scipy-openblas64's names)
    assert not numpy_s["linked"] and "numpy.libs" in numpy_s["library"] and numpy_s["version"]
    assert theano_blas.describe("-lno_such_blas")["library"] is None


def test_theano_python_scan_only_without_the_header(tmp_path):
    modules = {}
    (tmp_path / "longintrepr.h").write_text("")
    assert legacy.theano_python_scan(modules, include_dir=str(tmp_path)) is False
    assert modules == {}
    assert legacy.theano_python_scan(modules, include_dir=str(tmp_path / "cpython")) is True
    assert modules == {"theano.scan_module.scan_perform_ext": None}


def test_framework_deprecations_are_quieted_only_under_an_always_filter():
    with warnings.catch_warnings(record=True) as caught:
        warnings.resetwarnings()
        assert legacy.quiet_framework_deprecations("mxnet") is False
        warnings.simplefilter("always", DeprecationWarning)  # what keras-mxnet does
        assert legacy.quiet_framework_deprecations("mxnet") is True
        for module in ("mxnet.ndarray.utils", "mxnetish", "keras"):
            warnings.warn_explicit("old", DeprecationWarning, "f.py", 1, module=module)
    assert [w.filename for w in caught] == ["f.py", "f.py"]  # mxnetish and keras, not mxnet's


# --- several GPUs: the code path, up to where it needs a device ---

MULTI_GPU = """
from harness.backends import legacy
from harness.backends.keras2 import {path} as keras2
legacy.apply("{backend}", "before_import")
import keras
import numpy as np
from harness.models import Recipe
inputs = keras.layers.Input(shape=(4,))
model = keras.models.Model(inputs, keras.layers.Dense(2, activation="softmax")(inputs))
try:
    trained = keras2.Adapter.compile_model(keras, {gpus}, model, Recipe("sgd", 0.01, "mse"))
    print(trained is model, trained._context)
    trained.train_on_batch(np.zeros((6, 4)), np.zeros((6, 2)))
except Exception as e:
    print(type(e).__name__, str(e).splitlines()[-1])
"""


def test_mxnet_compiles_for_a_list_of_gpu_contexts():
    out = python_code("mxnet", MULTI_GPU.format(backend="mxnet", path="mxnet", gpus=2))
    same, contexts = out.splitlines()[0].split(" ", 1)
    assert (same, contexts) == ("True", "[gpu(0), gpu(1)]")
    assert "USE_CUDA=1" in out  # the first step needs the GPUs: this build has none


def test_tensorflow_1_wraps_the_model_with_multi_gpu_model():
    # keras-mxnet's multi_gpu_model, given the model, sets one context per GPU asked:
    # so the TensorFlow 1.x path calls it with the model and gpus=3.
    out = python_code("mxnet", MULTI_GPU.format(backend="mxnet", path="tensorflow", gpus=3))
    assert out.splitlines()[0] == "True [gpu(0), gpu(1), gpu(2)]"
    # Keras 2.1.5's own multi_gpu_model is reached too, and wants TensorFlow.
    out = python_code("theano", MULTI_GPU.format(backend="theano", path="tensorflow", gpus=2))
    assert out.strip() == "ValueError `multi_gpu_model` is only available with the TensorFlow backend."


def test_one_gpu_or_the_cpu_compiles_the_model_as_it_is():
    recorded = {}
    model = types.SimpleNamespace(compile=lambda **options: recorded.update(options))
    keras_2 = types.SimpleNamespace(optimizers=types.SimpleNamespace(get=lambda config: config))
    for backend in ("tensorflow", "mxnet", "theano", "cntk"):
        adapter = importlib.import_module("harness.backends.keras2." + backend).Adapter
        assert adapter.compile_model(keras_2, 1, model, Recipe("adam", 0.001, "mse")) is model
        assert recorded == {"optimizer": {"class_name": "adam", "config": {"lr": 0.001}},
                            "loss": "mse", "metrics": ["accuracy"]}  # Keras 2's `lr`, no context


def test_more_gpus_than_visible_is_a_usage_error_on_keras_2(tmp_path):
    proc = harness("mlp", "--backend", "theano", "--gpus", 2, "--out", tmp_path / "out",
                   python=python_of("theano"))
    assert proc.returncode == 2 and "--gpus 2 asked, but theano sees 0 GPU(s)" in proc.stderr
    assert not (tmp_path / "out").exists()


# --- which adapter and which backends, from package metadata alone ---

INSTALLED = ("from harness import backends, environment\n"
             "print(backends.keras_api(), [b for b in ('tensorflow', 'jax', 'torch', 'mxnet', "
             "'theano', 'cntk') if backends.installed(b)], environment.providing_package('{module}'))")


def test_keras_2_and_3_environments_offer_their_own_backends():
    assert backends.keras_api() == "keras3"
    assert not any(backends.installed(b) for b in ("mxnet", "theano", "cntk"))
    assert python_code("mxnet", INSTALLED.format(module="keras")).split() == \
        ["keras2", "['mxnet']", "keras-mxnet"]
    assert python_code("theano", INSTALLED.format(module="keras")).split() == \
        ["keras2", "['theano']", "keras"]


@pytest.mark.parametrize("module, distribution, offered", [
    ("tensorflow", "tensorflow_gpu-1.7.0", "['tensorflow','theano']"),
    ("cntk", "cntk_gpu-2.7", "['theano','cntk']")])
def test_a_keras_2_image_with_tensorflow_1_or_cntk_is_recognized(tmp_path, module, distribution,
                                                                 offered):
    """The images' stacks, seen from their metadata: a stand-in package with the real names."""
    (tmp_path / module).mkdir()
    (tmp_path / module / "__init__.py").write_text("")
    info = tmp_path / (distribution + ".dist-info")
    info.mkdir()
    name, version = distribution.split("-")
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: %s\nVersion: %s\n" % (name, version))
    (info / "top_level.txt").write_text(module + "\n")
    out = python_code("theano", INSTALLED.format(module=module), extra_path=str(tmp_path))
    assert out.replace(", ", ",").split() == ["keras2", offered, name.replace("_", "-")]


def test_a_keras_2_backend_is_a_usage_error_in_the_keras_3_environment(tmp_path):
    proc = harness("mlp", "--backend", "mxnet", "--out", tmp_path / "out")
    assert proc.returncode == 2
    assert "backend mxnet is not installed in this environment" in proc.stderr
    proc = harness("mlp", "--backend", "jax", "--out", tmp_path / "out", python=python_of("mxnet"))
    assert proc.returncode == 2 and "backend jax is not installed" in proc.stderr


def test_a_sweep_runs_the_keras_2_backend_it_is_asked_for(tmp_path):
    proc = harness("sweep", "--backends", "mxnet", "--models", "mlp,lstm", "--out", tmp_path,
                   *TINY, python=python_of("mxnet"))
    assert proc.returncode == 0, proc.stderr
    table = proc.stdout.split("\n\n")[0]  # the table, then its footnotes
    rows = [line.split()[:3] for line in table.splitlines()[2:]]
    assert rows == [["mlp", "mxnet", "ok"], ["lstm", "mxnet", "ok"]]


def test_cuda_is_read_from_the_mxnet_package_name():
    assert keras2_mxnet.cuda_of_package("mxnet-cu90") == "9.0"
    assert keras2_mxnet.cuda_of_package("mxnet-cu101mkl") == "10.1"
    assert keras2_mxnet.cuda_of_package("mxnet-mkl") is None



# --- phases, profiles and devices on Keras 2 ---

def test_keras2_builds_its_functions_in_the_compile_phase(tmp_path):
    """Keras 2 would build them before epoch 1, outside every epoch: they are the compile
    phase. Theano compiles its graphs for seconds, so that time must land there."""
    record = run_in("theano", tmp_path, "mlp")
    phases = record["metrics"]["phases"]
    assert phases["compile_s"] > 1.0 and phases["compile_s"] > 5 * phases["first_epoch_s"]
    assert phases["evaluate_s"] > 0 and record["metrics"]["evaluation"]["loss"] > 0
    # No step compiled by XLA or torch.compile, no TF32 switch; the threads are recorded.
    assert record["config"]["jit_compile_resolved"] == "off"
    assert record["environment"]["tf32"] is None
    assert "OMP_NUM_THREADS" in record["environment"]["threads"]["env"]


def test_mxnet_profile_writes_its_trace(tmp_path):
    record = run_in("mxnet", tmp_path, "mlp", "--profile")
    trace = tmp_path / "out" / record["profile"]["path"] / "trace.json"
    assert trace.stat().st_size > 0 and "mxnet" in record["profile"]["tool"]


@pytest.mark.parametrize("extra, reason", [
    (["--cpu-devices", "2"], "data-parallel on GPUs only"),
    (["--profile"], "no profiler is wired for theano"),
    (["--jit-compile", "on"], "compiles no training step with XLA or torch.compile"),
    (["--tf32", "on"], "no TF32 switch is wired for Keras 2's theano backend"),
])
def test_keras2_records_what_it_cannot_do_as_skipped(tmp_path, extra, reason):
    record = run_in("theano", tmp_path, "mlp", *extra, status="skipped")
    assert reason in record["error"]["message"]


@pytest.mark.parametrize("env", ["mxnet", "theano"])
@pytest.mark.parametrize("mode", [[], ["--timing", "epoch"]], ids=["step", "epoch"])
def test_sigterm_stops_keras_2_at_a_step_end(tmp_path, env, mode):
    assert_stopped_at_a_step_end(tmp_path / "out", ENVS[env][1], *mode, python=python_of(env))
