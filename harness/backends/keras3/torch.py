"""Keras 3 on PyTorch: on several devices DistributedDataParallel, one process per
device, as Keras's guide does it (launchers.torch_ddp)."""
from harness.backends.keras3 import base
from harness.backends.launchers import torch_ddp
from harness.spec import UsageError


class Adapter(base.Adapter):
    """Keras 3 on PyTorch."""

    def _seed_framework(self, seed):
        self.framework.manual_seed(seed)

    def _data_parallel(self):
        if self.place.several and self.devices > self.processes:
            raise UsageError("under a launcher PyTorch trains on one device per process: "
                             "start one process per GPU (torchrun --nproc-per-node)")
        return torch_ddp.Group(self.framework, self.keras, self.devices, self.device_kind,
                               self.place if self.place.several else None)

    def _replicas(self, model):
        return {"replicas": self.devices}

    def compile(self, model, recipe):
        """On several devices the model to train is its DistributedDataParallel trainer."""
        if self.devices > 1:
            return self.launcher.trainer(model, recipe)
        return base.Adapter.compile(self, model, recipe)
