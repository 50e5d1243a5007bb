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


def set_tf32(name, framework, enabled):
    """Let `framework` use TF32 for float32 matmuls and convolutions (NVIDIA Ampere and
    newer), or keep them in full float32; returns the settings as the framework reports
    them afterwards. Off by default everywhere (--tf32): TensorFlow and JAX use TF32 by
    default, PyTorch's cuDNN convolutions too, its matmuls not. On a CPU the settings
    change nothing, and are recorded all the same. None for a framework with no switch.
    """
    if name == "tensorflow":
        framework.config.experimental.enable_tensor_float_32_execution(enabled)
        return {"tf.config.experimental.tensor_float_32_execution_enabled":
                framework.config.experimental.tensor_float_32_execution_enabled()}
    if name == "jax":
        # The precision of float32 dots and convolutions that name none (Keras's name none).
        framework.config.update("jax_default_matmul_precision",
                                "tensorfloat32" if enabled else "float32")
        return {"jax_default_matmul_precision": framework.config.jax_default_matmul_precision}
    if name == "torch":
        backends = framework.backends
        if hasattr(backends.cuda.matmul, "fp32_precision"):
            # PyTorch 2.9 on; mixing this with the allow_tf32 flags is an error there.
            precision = "tf32" if enabled else "ieee"
            switches = (("torch.backends.cuda.matmul", backends.cuda.matmul),
                        ("torch.backends.cudnn.conv", backends.cudnn.conv),
                        ("torch.backends.cudnn.rnn", backends.cudnn.rnn))
            for _, switch in switches:
                switch.fp32_precision = precision
            return {path + ".fp32_precision": switch.fp32_precision for path, switch in switches}
        backends.cuda.matmul.allow_tf32 = enabled
        backends.cudnn.allow_tf32 = enabled
        return {"torch.backends.cuda.matmul.allow_tf32": backends.cuda.matmul.allow_tf32,
                "torch.backends.cudnn.allow_tf32": backends.cudnn.allow_tf32}
    return None


# Variables that set how many threads the frameworks' CPU kernels use.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                    "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS",
                    "MXNET_CPU_WORKER_NTHREADS")


def thread_settings(name, framework):
    """The threads `framework` runs CPU work on, as it reports them: intra-op (the threads
    one operation is split over) and inter-op (operations run side by side; None where
    the framework has no such query, 0 where it leaves the choice to the runtime), and the
    thread variables, each as set (None: unset)."""
    intra = inter = None
    if name == "torch":
        intra, inter = framework.get_num_threads(), framework.get_num_interop_threads()
    elif name == "tensorflow" and hasattr(framework, "config") \
            and hasattr(framework.config, "threading"):  # TensorFlow 1.14 on
        intra = framework.config.threading.get_intra_op_parallelism_threads()
        inter = framework.config.threading.get_inter_op_parallelism_threads()
    return {"intra_op": intra, "inter_op": inter,
            "env": {variable: os.environ.get(variable) for variable in THREAD_VARIABLES}}
