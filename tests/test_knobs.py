"""The speed knobs, set alike on every backend and recorded: --jit-compile goes to Keras's
compile and the result says what each backend resolved it to; --tf32 sets each framework's
own switch; the threads the framework runs on are recorded."""
import pytest

from conftest import INSTALLED_BACKENDS, SHARED_RUNS
from helpers import TINY, tiny_run

# What Keras 3 makes of jit_compile="auto" on a CPU: XLA on JAX; TensorFlow turns XLA off
# on CPU-only machines; PyTorch runs eagerly.
KERAS_AUTO_ON_CPU = {"jax": "on", "tensorflow": "off", "torch": "off"}
# Each framework's TF32 switch, read back after the harness set it off.
TF32_OFF = {"jax": {"jax_default_matmul_precision": "float32"},
            "tensorflow": {"tf.config.experimental.tensor_float_32_execution_enabled": False},
            "torch": {"torch.backends.cuda.matmul.fp32_precision": "ieee",
                      "torch.backends.cudnn.conv.fp32_precision": "ieee",
                      "torch.backends.cudnn.rnn.fp32_precision": "ieee"}}


@SHARED_RUNS
def test_the_defaults_are_keras_auto_and_tf32_off_and_both_are_recorded(shared_run, backend):
    record = shared_run("mlp", backend, *TINY)
    config, env = record["config"], record["environment"]
    assert (config["jit_compile"], config["tf32"]) == ("auto", "off")
    assert config["jit_compile_resolved"] == KERAS_AUTO_ON_CPU[backend]
    assert env["tf32"] == TF32_OFF[backend]
    threads = env["threads"]
    assert threads["env"]["OMP_NUM_THREADS"] == "1"  # as the suite's conftest set it
    if backend == "torch":
        assert threads["intra_op"] >= 1 and threads["inter_op"] >= 1
    elif backend == "tensorflow":
        assert threads["intra_op"] >= 0 and threads["inter_op"] >= 0  # 0: the runtime picks


# PyTorch's "off" is its "auto", checked with the defaults.
@pytest.mark.parametrize("backend, jit", [(backend, jit) for backend in INSTALLED_BACKENDS
                                          for jit in ("on", "off")
                                          if (backend, jit) != ("torch", "off")])
def test_jit_compile_reaches_keras_compile(tmp_path, backend, jit):
    """On PyTorch "on" is torch.compile (inductor), which compiles for tens of seconds on
    two cores: the one PyTorch case is the tiniest run that proves it."""
    record = tiny_run(tmp_path, "mlp", backend, "--jit-compile", jit,
                      *(["--epochs", 1, "--steps-per-epoch", 2] if backend == "torch" else []))
    assert record["config"]["jit_compile_resolved"] == jit
    assert record["metrics"]["loss"] > 0


@pytest.mark.skipif("jax" not in INSTALLED_BACKENDS, reason="needs JAX")
def test_tf32_on_sets_the_framework_switch(tmp_path):
    record = tiny_run(tmp_path, "mlp", "jax", "--tf32", "on")
    assert record["config"]["tf32"] == "on"
    assert record["environment"]["tf32"] == {"jax_default_matmul_precision": "tensorfloat32"}
