"""Keras 2 on Theano: one device, its BLAS described (theano_blas)."""
from harness.backends import theano_blas
from harness.backends.keras2 import base


class Adapter(base.Adapter):
    """Keras 2 on Theano."""

    def visible_gpus(self):
        return int(self.framework.config.device.startswith(("cuda", "gpu")))

    def _describe_framework(self, package):
        return {"devices": [self.framework.config.device],
                "blas": theano_blas.describe(self.framework.config.blas.ldflags)}
