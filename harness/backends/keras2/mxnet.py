"""Keras 2 on MXNet through keras-mxnet: several GPUs as a list of contexts."""
import re

from harness.backends.keras2 import base


class Adapter(base.Adapter):
    """Keras 2 on MXNet."""

    PARALLEL = "keras-mxnet context list"

    def _seed_framework(self, seed):
        self.framework.random.seed(seed)

    def _default_data_format(self):
        """channels_first, the seeds' advice: MXNet's convolutions run channels_first, and
        keras-mxnet converts every channels_last tensor (its own default is channels_last,
        like every Keras). --data-format overrides it."""
        return "channels_first"

    def visible_gpus(self):
        mx = self.framework
        if hasattr(mx.context, "num_gpus"):
            return mx.context.num_gpus()
        return len(mx.test_utils.list_gpus())  # mxnet before 1.3 (the seed's 1.1.0)

    def _describe_framework(self, package):
        return {"cuda": cuda_of_package(package),
                "devices": ["cpu(0)"] + ["gpu(%d)" % i for i in range(self.visible_gpus())]}

    def sync(self, outputs):
        """MXNet's engine is asynchronous: keras-mxnet reads the outputs back but queues
        the update after them, so the engine is drained."""
        self.framework.nd.waitall()

    @staticmethod
    def compile_model(keras, gpus, model, recipe):
        """Several GPUs: keras-mxnet takes the list of contexts in compile() and splits
        each batch over them."""
        options = {"context": ["gpu(%d)" % i for i in range(gpus)]} if gpus > 1 else {}
        return base.Adapter.compile_model(keras, gpus, model, recipe, **options)


def cuda_of_package(package):
    """The CUDA version in an MXNet package's name: mxnet-cu90 -> '9.0', mxnet-cu101mkl -> '10.1'."""
    match = re.match(r"mxnet-cu(\d+)(\d)", package or "")
    return "%s.%s" % match.groups() if match else None
