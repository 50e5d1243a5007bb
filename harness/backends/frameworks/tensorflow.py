"""TensorFlow's own tools (see frameworks): profiler, memory, TF32, threads, oneDNN."""
import contextlib

PROFILER = "tensorflow.profiler (TensorBoard trace)"


@contextlib.contextmanager
def trace(tf, directory):
    tf.profiler.experimental.start(directory)
    try:
        yield
    finally:
        tf.profiler.experimental.stop()


def visible_gpus(tf):
    return len(tf.config.list_physical_devices("GPU"))


def describe(tf, gpus):
    """Its build's CUDA and cuDNN, its devices and whether oneDNN runs its CPU kernels."""
    build = tf.sysconfig.get_build_info()
    return {"cuda": build.get("cuda_version"), "cudnn": build.get("cudnn_version"),
            "devices": [d.name for d in tf.config.list_logical_devices()],
            "onednn": onednn(tf)}


def drain(tf):
    """Wait for the GPUs' queued work (the optimizer update runs after the loss)."""
    tf.test.experimental.sync_devices()


def peak_memory(tf):
    return (tf.config.experimental.get_memory_info("GPU:0")["peak"],
            "tf.config.experimental.get_memory_info peak")


def set_tf32(tf, enabled):
    tf.config.experimental.enable_tensor_float_32_execution(enabled)
    return {"tf.config.experimental.tensor_float_32_execution_enabled":
            tf.config.experimental.tensor_float_32_execution_enabled()}


def threads(tf):
    """(intra-op, inter-op) threads; (None, None) before TensorFlow 1.14's tf.config.threading."""
    if not (hasattr(tf, "config") and hasattr(tf.config, "threading")):
        return None, None
    return (tf.config.threading.get_intra_op_parallelism_threads(),
            tf.config.threading.get_inter_op_parallelism_threads())


def onednn(tf):
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


def cpu_layout_problem(tf, gpus, data_format):
    """Why TensorFlow cannot run convolutions in `data_format` here, or None.

    Without oneDNN, TensorFlow's CPU convolution and pooling kernels take NHWC
    only: an NCHW (channels_first) step fails inside the graph
    (Conv2DBackpropFilter, MaxPool). Known before training, so the run is a
    skipped result, not an error.
    """
    if gpus or data_format != "channels_first" or onednn(tf) is not False:
        return None
    return ("TensorFlow %s's CPU convolutions and pooling in channels_first (NCHW) need "
            "oneDNN, which is off in this process (TensorFlow turns it on by default only on "
            "CPUs with AVX-512 VNNI/BF16, AVX-VNNI or AMX; TF_ENABLE_ONEDNN_OPTS=1 forces it on)"
            % tf.__version__)
