"""Keras 2 on TensorFlow 1.x: several GPUs through keras.utils.multi_gpu_model."""
from harness.backends.keras2 import base


class Adapter(base.Adapter):
    """Keras 2 on TensorFlow 1.x."""

    PARALLEL = "keras.utils.multi_gpu_model"

    def _seed_framework(self, seed):
        self.framework.set_random_seed(seed)

    def visible_gpus(self):
        return sum(d.device_type == "GPU" for d in _devices())

    def _profile_problem(self):
        return "TensorFlow 1.x's profiler (tf.profiler with RunMetadata) is not wired"

    def _describe_framework(self, package):
        cuda, cudnn = _cuda()
        return {"cuda": cuda, "cudnn": cudnn, "devices": [d.name for d in _devices()]}

    @staticmethod
    def compile_model(keras, gpus, model, recipe):
        """Several GPUs: the replica-per-GPU model multi_gpu_model builds around this one."""
        if gpus > 1:
            model = keras.utils.multi_gpu_model(model, gpus=gpus)
        return base.Adapter.compile_model(keras, gpus, model, recipe)


def _devices():
    from tensorflow.python.client import device_lib  # TensorFlow 1.x's list of devices
    return device_lib.list_local_devices()


def _cuda():
    """(CUDA, cuDNN) TensorFlow 1.x was built with, where its build_info says (1.13 on)."""
    try:
        from tensorflow.python.platform import build_info
    except ImportError:
        return None, None
    return (getattr(build_info, "cuda_version_number", None),
            getattr(build_info, "cudnn_version_number", None))
