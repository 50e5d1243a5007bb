"""Each framework's own tools, for every adapter that drives it (Keras 3, Keras 2,
native): its profiler, its peak-memory counter, its TF32 switch, its thread counts
and what must be set before it is imported, one module per framework
(`frameworks.<name>`). The framework module is passed in: nothing here imports a
framework. A framework without a module here (Theano, CNTK) has none of them.
"""
import contextlib
import importlib
import os

# The frameworks with a module of tools here.
_WITH_TOOLS = ("tensorflow", "jax", "torch", "mxnet")

# Variables that set how many threads the frameworks' CPU kernels use.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS",
                    "MXNET_CPU_WORKER_NTHREADS")


def tools(name):
    """The module of framework `name`'s tools, or None."""
    return importlib.import_module(__name__ + "." + name) if name in _WITH_TOOLS else None


def _tool(name, what):
    return getattr(tools(name), what, None)


def before_import(name, spec):
    """Set what framework `name` reads from the environment as it loads (its devices)."""
    prepare = _tool(name, "before_import")
    if prepare:
        prepare(spec)


def profiler(name):
    """What framework `name`'s profiler is called in the result, or None (none wired)."""
    return _tool(name, "PROFILER")


@contextlib.contextmanager
def trace(name, framework, directory):
    """Write `framework`'s own profiler trace of the enclosed work into `directory`.

    Yields the profiler's name; a framework without one (Theano, CNTK) raises
    NotImplementedError before any work starts.
    """
    if profiler(name) is None:
        raise NotImplementedError("no profiler is wired for %s" % name)
    if not os.path.isdir(directory):
        os.makedirs(directory)
    with tools(name).trace(framework, directory):
        yield profiler(name)


def peak_memory(name, framework, gpus):
    """The framework's own peak of device memory in use on the first GPU, or None.

    This is what the model's tensors took at most, unlike the memory NVML
    reports, which includes what TensorFlow's and JAX's allocators reserve up
    front. None on the CPU and for frameworks that keep no such counter.
    """
    read = _tool(name, "peak_memory")
    found = read(framework) if gpus and read else None
    if found is None:
        return None
    peak, source = found
    return {"peak_mb": peak / 2.0 ** 20, "source": source}


def set_tf32(name, framework, enabled):
    """Let `framework` use TF32 for float32 matmuls and convolutions (NVIDIA Ampere and
    newer), or keep them in full float32; returns the settings as the framework reports
    them afterwards. Off by default everywhere (--tf32): TensorFlow and JAX use TF32 by
    default, PyTorch's cuDNN convolutions too, its matmuls not. On a CPU the settings
    change nothing, and are recorded all the same. None for a framework with no switch.
    """
    switch = _tool(name, "set_tf32")
    return switch(framework, enabled) if switch else None


def thread_settings(name, framework):
    """The threads `framework` runs CPU work on, as it reports them: intra-op (the threads
    one operation is split over) and inter-op (operations run side by side; None where
    the framework has no such query, 0 where it leaves the choice to the runtime), and the
    thread variables, each as set (None: unset)."""
    threads = _tool(name, "threads")
    intra, inter = threads(framework) if threads else (None, None)
    return {"intra_op": intra, "inter_op": inter,
            "env": {variable: os.environ.get(variable) for variable in THREAD_VARIABLES}}
