"""JAX's own tools (see frameworks): the CPU platform, profiler, memory, TF32."""
import contextlib
import os

PROFILER = "jax.profiler (TensorBoard trace)"


def before_import(spec):
    """--gpus 0: JAX's CPU platform only (read when JAX starts)."""
    if spec.gpus == 0:
        os.environ["JAX_PLATFORMS"] = "cpu"


def visible_gpus(jax):
    return sum(d.platform in ("gpu", "cuda", "rocm") for d in jax.local_devices())


def describe(jax, gpus):
    """Its jaxlib, its devices and, on GPUs, the CUDA its client runs."""
    import jaxlib
    return {"jaxlib_version": jaxlib.__version__,
            "devices": [str(d) for d in jax.devices()],
            "cuda": jax.devices()[0].client.platform_version if gpus else None}


def drain(jax):
    """Nothing: a step's outputs are ready only once all of it has run (one executable)."""


@contextlib.contextmanager
def trace(jax, directory):
    jax.profiler.start_trace(directory)
    try:
        yield
    finally:
        jax.profiler.stop_trace()


def peak_memory(jax):
    stats = jax.devices()[0].memory_stats() or {}
    if "peak_bytes_in_use" not in stats:
        return None
    return stats["peak_bytes_in_use"], "jax Device.memory_stats peak_bytes_in_use"


def set_tf32(jax, enabled):
    # The precision of float32 dots and convolutions that name none (Keras's name none).
    jax.config.update("jax_default_matmul_precision", "tensorfloat32" if enabled else "float32")
    return {"jax_default_matmul_precision": jax.config.jax_default_matmul_precision}
