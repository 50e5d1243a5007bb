"""Keras 2 on CNTK: one device."""
from harness.backends.keras2 import base


class Adapter(base.Adapter):
    """Keras 2 on CNTK."""

    def _seed_framework(self, seed):
        self.framework.cntk_py.set_fixed_random_seed(seed)

    def visible_gpus(self):
        cntk = self.framework
        return sum(d.type() == cntk.device.DeviceKind.GPU for d in cntk.device.all_devices())

    def _describe_framework(self, package):
        return {"devices": [str(d) for d in self.framework.device.all_devices()]}
