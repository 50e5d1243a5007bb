"""Backend adapters: the only modules that import a framework.

The installed Keras decides the adapter: `keras3` (TensorFlow 2, JAX, PyTorch:
one module per framework) or `keras2` (TensorFlow 1.x, MXNet through
keras-mxnet, Theano, CNTK). The `native-*` backends need no Keras: adapter
`native` trains the same networks written on the framework itself. An adapter
is imported by name after the backend is chosen, and sets the environment that
must be in place before the framework loads. common.Adapter lists what the
runner may call of an adapter; `launchers` start and join a run's processes,
`frameworks` hold each framework's own tools.
"""
import importlib
import importlib.util

from harness import environment

# Keras API -> {backend: the framework module it drives}
FRAMEWORKS = {
    "keras3": {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"},
    "keras2": {"tensorflow": "tensorflow", "mxnet": "mxnet", "theano": "theano", "cntk": "cntk"},
}
NATIVE = {"native-tensorflow": "tensorflow", "native-jax": "jax", "native-torch": "torch"}
# Adapter -> the module that drives a framework with it
MODULES = {"keras3": "harness.backends.keras3.{framework}",
           "keras2": "harness.backends.keras2.{framework}", "native": "harness.backends.native"}


def keras_api():
    """'keras2' or 'keras3', read from the installed Keras's package metadata (no import).

    The `keras` module comes from the `keras` distribution or from `keras-mxnet`
    (whose versions, 2.1.6 to 2.2.4.3, follow the Keras they fork). None when no
    Keras, or one of another major version, is installed.
    """
    found = environment.provider("keras")
    if found is None:
        return None
    api = "keras" + found[1].split(".")[0]
    return api if api in FRAMEWORKS else None


def installed(backend):
    """Whether this environment can run `backend` (checked without importing it)."""
    framework = NATIVE.get(backend) or FRAMEWORKS.get(keras_api(), {}).get(backend)
    return framework is not None and importlib.util.find_spec(framework) is not None


def load(spec, place):
    """The adapter for `spec.backend`, with its framework imported and configured, for
    this process's `place` in the run (harness.cluster.describe)."""
    if spec.backend in NATIVE:
        api, framework = "native", NATIVE[spec.backend]
    else:
        api = keras_api()
        framework = FRAMEWORKS[api][spec.backend]
    module = importlib.import_module(MODULES[api].format(framework=framework))
    return module.Adapter(spec, framework, place)
