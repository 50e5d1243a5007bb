"""Each framework's own profiler and memory counters, for every adapter that drives it.

Keras 3, Keras 2 and the native adapters share these: the framework module is
passed in, so nothing is imported here before a backend is chosen.
"""
import contextlib
import os

# What each framework's profiler is called in the result.
PROFILERS = {
    "tensorflow": "tensorflow.profiler (TensorBoard trace)",
    "jax": "jax.profiler (TensorBoard trace)",
    "torch": "torch.profiler (Chrome trace)",
    "mxnet": "mxnet.profiler (Chrome trace)",
}


@contextlib.contextmanager
def trace(name, framework, directory):
    """Write `framework`'s own profiler trace of the enclosed work into `directory`.

    Yields the profiler's name; a framework without one (Theano, CNTK) raises
    NotImplementedError before any work starts.
    """
    if name not in PROFILERS:
        raise NotImplementedError("no profiler is wired for %s" % name)
    if not os.path.isdir(directory):
        os.makedirs(directory)
    if name == "tensorflow":
        framework.profiler.experimental.start(directory)
        try:
            yield PROFILERS[name]
        finally:
            framework.profiler.experimental.stop()
    elif name == "jax":
        framework.profiler.start_trace(directory)
        try:
            yield PROFILERS[name]
        finally:
            framework.profiler.stop_trace()
    elif name == "torch":
        activities = [framework.profiler.ProfilerActivity.CPU]
        if framework.cuda.is_available():
            activities.append(framework.profiler.ProfilerActivity.CUDA)
        with framework.profiler.profile(activities=activities) as profiler:
            yield PROFILERS[name]
        profiler.export_chrome_trace(os.path.join(directory, "trace.json"))
    else:  # mxnet
        framework.profiler.set_config(profile_all=True, aggregate_stats=True,
                                      filename=os.path.join(directory, "trace.json"))
        framework.profiler.set_state("run")
        try:
            yield PROFILERS[name]
        finally:
            framework.nd.waitall()
            framework.profiler.set_state("stop")
            framework.profiler.dump()


def peak_memory(name, framework, gpus):
    """The framework's own peak of device memory in use on the first GPU, or None.

    This is what the model's tensors took at most, unlike the memory NVML
    reports, which includes what TensorFlow's and JAX's allocators reserve up
    front. None on the CPU and for frameworks that keep no such counter.
    """
    if not gpus:
        return None
    if name == "torch":
        peak = framework.cuda.max_memory_allocated(0)
        source = "torch.cuda.max_memory_allocated"
    elif name == "tensorflow":
        peak = framework.config.experimental.get_memory_info("GPU:0")["peak"]
        source = "tf.config.experimental.get_memory_info peak"
    elif name == "jax":
        stats = framework.devices()[0].memory_stats() or {}
        if "peak_bytes_in_use" not in stats:
            return None
        peak = stats["peak_bytes_in_use"]
        source = "jax Device.memory_stats peak_bytes_in_use"
    else:
        return None
    return {"peak_mb": peak / 2.0 ** 20, "source": source}


def tensorflow_onednn(tf):
    """Whether this TensorFlow process runs its CPU kernels through oneDNN (True/False).

    TensorFlow turns oneDNN on by default only on CPUs with AVX-512 VNNI or BF16,
    AVX-VNNI or AMX (TF_ENABLE_ONEDNN_OPTS=1 or 0 forces it); the answer is
    TensorFlow's own, the check Intel's scripts use. None where this build has no
    such query.
    """
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:
        return None
    return bool(_pywrap_util_port.IsMklEnabled())


def tensorflow_cpu_layout_problem(tf, gpus, data_format):
    """Why TensorFlow cannot run convolutions in `data_format` here, or None.

    Without oneDNN, TensorFlow's CPU convolution and pooling kernels take NHWC
    only: an NCHW (channels_first) step fails inside the graph
    (Conv2DBackpropFilter, MaxPool). Known before training, so the run is a
    skipped result, not an error.
    """
    if gpus or data_format != "channels_first" or tensorflow_onednn(tf) is not False:
        return None
    return ("TensorFlow %s's CPU convolutions and pooling in channels_first (NCHW) need "
            "oneDNN, which is off in this process (TensorFlow turns it on by default only on "
            "CPUs with AVX-512 VNNI/BF16, AVX-VNNI or AMX; TF_ENABLE_ONEDNN_OPTS=1 forces it on)"
            % tf.__version__)
