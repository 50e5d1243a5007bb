"""The native baselines (the workloads written on each framework, no Keras): real runs at
tiny sizes, and the same networks as the Keras models (parameters, loss, initial loss)."""
import json
import math
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, harness, only_result
from helpers import assert_stopped_at_a_step_end
from harness import backends, cluster
from harness.spec import NATIVE_BACKENDS

INSTALLED = [b for b in NATIVE_BACKENDS if backends.installed(b)]
MODELS = ("mlp", "cnn", "lstm", "vgg16", "resnet50")
IMAGE_NETWORKS = ("vgg16", "resnet50")
TINY_IMAGE = 32  # the smallest --image-size: VGG16 and ResNet50 in a few seconds a step
TINY = ["--epochs", 2, "--warmup", 1, "--steps-per-epoch", 3, "--batch-size", 4]
PROBE_BATCH = 16


def tiny_run(tmp_path, model, backend, *extra, env=None):
    out = tmp_path / "out"
    size = ["--image-size", TINY_IMAGE] if model in IMAGE_NETWORKS else []
    proc = harness(model, "--backend", backend, "--out", out, *(TINY + size + list(extra)),
                   env=env)
    return only_result(out, proc), proc


def assert_ran(record, proc, steps=3, batch=4, epochs=2):
    assert record["status"] == "ok", record["error"]
    assert proc.returncode == 0
    measured = record["metrics"]["measured"]
    assert measured["steps"] == steps * epochs
    assert measured["samples"] == steps * epochs * batch  # counted once, from the real batches
    assert all(len(e["step_seconds"]) == steps for e in record["samples"]["epochs"])


@pytest.mark.parametrize("model", MODELS)
@pytest.mark.parametrize("backend", INSTALLED)
def test_each_workload_trains_natively(tmp_path, backend, model):
    record, proc = tiny_run(tmp_path, model, backend)
    assert_ran(record, proc)
    metrics, env = record["metrics"], record["environment"]
    assert math.isfinite(metrics["loss"]) and metrics["loss"] > 0 and not metrics["diverged"]
    assert 0.0 <= metrics["accuracy"] <= 1.0
    assert (record["config"]["keras_api"], env["backend"]) == ("native", backend)
    assert env["backend_version"] and "keras_version" not in env
    # "auto" resolved as Keras resolves it on a CPU: eager PyTorch, plain TensorFlow graphs;
    # native JAX is always jitted.
    assert record["config"]["jit_compile_resolved"] == (
        "on" if backend == "native-jax" else "off")
    if backend == "native-jax":
        assert env["optax_version"]


@pytest.mark.parametrize("backend, model, data_format, jit_compile", [
    ("native-tensorflow", "cnn", "channels_first", "on"),
    ("native-tensorflow", "vgg16", "channels_last", "on"),
    ("native-torch", "mlp", "channels_first", "on"),
    ("native-jax", "cnn", "channels_last", "auto")])
def test_layouts_and_compilers(tmp_path, backend, model, data_format, jit_compile):
    """TensorFlow in both layouts, with XLA; torch.compile (a small network: inductor
    builds C++ for a minute on ResNet50); JAX's "auto" is its jit."""
    if backend not in INSTALLED:
        pytest.skip("%s is not installed" % backend)
    record, proc = tiny_run(tmp_path, model, backend, "--data-format", data_format,
                            "--jit-compile", jit_compile)
    if record["status"] == "skipped":  # TensorFlow without oneDNN: no NCHW on a CPU
        assert "oneDNN" in record["error"]["message"]
        return
    assert_ran(record, proc)
    assert (record["config"]["data_format"], record["config"]["jit_compile_resolved"]) == (
        data_format, "on")
    assert record["environment"]["compiler"].startswith(
        {"native-tensorflow": "XLA", "native-jax": "XLA", "native-torch": "torch.compile"}[backend])
    assert math.isfinite(record["metrics"]["loss"])


@pytest.mark.parametrize("backend, model, options, env, reason", [
    ("native-jax", "mlp", ["--jit-compile", "off"], None, "always compiled"),
    ("native-jax", "cnn", ["--data-format", "channels_first"], None, "channels_last only"),
    ("native-tensorflow", "cnn", ["--data-format", "channels_first"],
     {"TF_ENABLE_ONEDNN_OPTS": "0"}, "need oneDNN")])
def test_combinations_a_framework_cannot_run_are_skipped(tmp_path, backend, model, options, env,
                                                         reason):
    if backend not in INSTALLED:
        pytest.skip("%s is not installed" % backend)
    record, proc = tiny_run(tmp_path, model, backend, *options, env=env)
    assert proc.returncode == 0
    assert record["status"] == "skipped"
    assert reason in record["error"]["message"]


@pytest.mark.parametrize("backend, method, inference", [
    ("native-jax", "train_on_batch", False), ("native-torch", "fit", True),
    ("native-tensorflow", "train_on_batch", True)])
def test_per_batch_training_and_inference(tmp_path, backend, method, inference):
    if backend not in INSTALLED:
        pytest.skip("%s is not installed" % backend)
    record, proc = tiny_run(tmp_path, "mlp", backend, "--method", method,
                            *(["--inference"] if inference else []))
    assert_ran(record, proc)
    loss = record["metrics"]["loss"]
    assert loss is None if inference else math.isfinite(loss)


def test_workloads_not_written_natively_are_recorded_as_skipped(tmp_path):
    record, proc = tiny_run(tmp_path, "resnet", "native-torch")
    assert proc.returncode == 0
    assert record["status"] == "skipped"
    assert record["error"]["message"].endswith("not resnet")


# --- the same networks as Keras's: measured in one process per backend ---

def probe(backend):
    """Print, per workload, the parameter count, the first training step's loss, and the
    loss of the untrained network two ways: its evaluation and the cross-entropy of its
    predicted probabilities (computed here, in NumPy). One batch, the seed's data."""
    from harness import datasets
    from harness.spec import make_spec
    found = {}
    for model in MODELS:
        spec = make_spec(model=model, backend=backend, gpus=0, batch_size=PROBE_BATCH,
                         image_size=TINY_IMAGE if model in IMAGE_NETWORKS else None)
        adapter = backends.load(spec, cluster.SINGLE)
        data = datasets.load(spec, adapter.data_format, 1, PROBE_BATCH)
        x, y = data.arrays(PROBE_BATCH)
        network, recipe = adapter.build(spec, data)
        network = adapter.compile(network, recipe)
        probabilities = np.asarray(adapter.predict_on_batch(network, x), dtype="float64")
        evaluation = adapter.evaluate(network, (x, y), PROBE_BATCH, 1)
        found[model] = {
            "parameters": int(network.count_params()),
            "predicted_loss": float(-np.mean(np.sum(y * np.log(probabilities), axis=-1))),
            "evaluated_loss": evaluation["loss"],
            "first_step_loss": float(adapter.train_on_batch(network, x, y)["loss"]),
        }
    print(json.dumps(found))


def run_probe(backend):
    code = ("import sys; sys.path[:0] = ['tests']; import test_native; test_native.probe(%r)"
            % backend)
    proc = subprocess.run([sys.executable, "-c", code], cwd=REPO, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, universal_newlines=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


@pytest.fixture(scope="module")
def keras_probe():
    """The Keras models on the first installed Keras 3 backend."""
    keras_backend = next((b for b in ("torch", "jax", "tensorflow") if backends.installed(b)), None)
    if keras_backend is None:
        pytest.skip("no Keras 3 backend installed")
    return run_probe(keras_backend)


@pytest.mark.parametrize("backend", INSTALLED)
def test_native_networks_are_the_keras_models(backend, keras_probe):
    native = run_probe(backend)
    for model in MODELS:
        ours, keras = native[model], keras_probe[model]
        assert ours["parameters"] == keras["parameters"], model
        # The loss is the cross-entropy of the softmax the network predicts: a loss taken
        # of the probabilities as if they were logits, or summed over the batch, is not.
        assert ours["evaluated_loss"] == pytest.approx(ours["predicted_loss"], rel=1e-4), model
        # Keras's initializers make the untrained networks about as wrong as Keras's. ResNet50's
        # first step normalises with the statistics of 16 samples, 1x1 pixels at the end: its
        # loss varies by about 0.7 with the seed alone (8.3 to 9.5 over four seeds in Keras).
        tolerance = 1.5 if model == "resnet50" else 0.3
        assert ours["first_step_loss"] == pytest.approx(keras["first_step_loss"], abs=tolerance)
        assert ours["evaluated_loss"] == pytest.approx(keras["evaluated_loss"], abs=0.3), model


@pytest.mark.parametrize("backend", INSTALLED)
def test_sigterm_stops_a_native_run_at_a_step_end(tmp_path, backend):
    assert_stopped_at_a_step_end(tmp_path / "out", backend)
