"""Keras 3 on JAX: keras.distribution.DataParallel over this process's devices, or
over every device of a job of several processes (launchers.jax_job)."""
import os

from harness.backends.keras3 import base
from harness.backends.launchers import jax_job
from harness.backends.launchers.one_process import OneProcess


class Adapter(base.Adapter):
    """Keras 3 on JAX."""

    def __init__(self, spec, framework, place):
        if spec.gpus == 0 and spec.cpu_devices > 1:  # read when JAX starts: before its import
            os.environ["XLA_FLAGS"] = ("%s --xla_force_host_platform_device_count=%d"
                                       % (os.environ.get("XLA_FLAGS", ""), spec.cpu_devices)).strip()
        base.Adapter.__init__(self, spec, framework, place)

    def _prepare(self, spec):
        if self.place.several:  # joined before JAX looks for devices
            self.launcher = jax_job.Job(self.keras, self.framework, self.place, spec.seed)

    def _data_parallel(self):
        distribution = self.keras.distribution
        devices = distribution.list_devices(self.device_kind)[:self.devices]  # every process's
        self._check_count(devices)
        # Several processes each feed their own slice of the batch (jax_job.Job.local).
        distribution.set_distribution(distribution.DataParallel(
            devices=devices, auto_shard_dataset=not self.place.several))
        return self.launcher if self.place.several else \
            OneProcess("keras.distribution.DataParallel")

    def _replicas(self, model):
        placed = sorted(str(d) for d in model.trainable_variables[0].value.sharding.device_set)
        return {"replicas": len(placed), "first_variable_on": placed}
