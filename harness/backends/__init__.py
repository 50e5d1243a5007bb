"""Backend adapters: the only modules that import a framework.

An adapter is imported by name after the backend is chosen, and sets the
environment that must be in place before the framework loads.
"""
import importlib
import importlib.util

# backend -> (adapter module, the framework module it drives)
ADAPTERS = {
    "tensorflow": ("keras3", "tensorflow"),
    "jax": ("keras3", "jax"),
    "torch": ("keras3", "torch"),
}


def installed(backend):
    """Whether this environment can run `backend` (checked without importing it)."""
    _, framework = ADAPTERS[backend]
    return all(importlib.util.find_spec(m) is not None for m in (framework, "keras"))


def load(spec):
    """The adapter for `spec.backend`, with its framework imported and configured."""
    module, framework = ADAPTERS[spec.backend]
    return importlib.import_module("harness.backends." + module).Adapter(spec, framework)
