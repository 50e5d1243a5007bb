"""Keras 3 on TensorFlow: MirroredStrategy over this process's devices, or
MultiWorkerMirroredStrategy over the workers TF_CONFIG names (harness.cluster)."""
from harness.backends.common import Unsupported
from harness.backends.keras3 import base
from harness.backends.launchers import tf_strategy
from harness.spec import CONV_WORKLOADS


class Adapter(base.Adapter):
    """Keras 3 on TensorFlow."""

    def _prepare(self, spec):
        if spec.cpu_devices > 1:  # the CPU as several logical devices, before the runtime starts
            cpu = self.framework.config.list_physical_devices("CPU")[0]
            self.framework.config.set_logical_device_configuration(
                cpu, [self.framework.config.LogicalDeviceConfiguration()
                      for _ in range(spec.cpu_devices)])

    def _seed_framework(self, seed):
        self.framework.random.set_seed(seed)

    def _data_parallel(self):
        tf = self.framework
        if self.place.several:  # its workers come from TF_CONFIG, which it reads itself
            return tf_strategy.MultiWorker(tf, self.place)
        kind = self.device_kind.upper()
        names = [d.name for d in tf.config.list_logical_devices(kind)][:self.devices]
        self._check_count(names)
        return tf_strategy.mirrored(tf, names, self.gpus)

    def unsupported(self, spec):
        reason = base.Adapter.unsupported(self, spec)
        if reason is None and spec.model in CONV_WORKLOADS:
            return self.tools.cpu_layout_problem(self.framework, self.gpus, self.data_format)
        return reason

    def _replicas(self, model):
        variable = model.trainable_variables[0].value
        return {"replicas": self.launcher.strategy.num_replicas_in_sync,
                "first_variable_on": sorted(v.device for v in variable.values)}

    def _fit_arrays(self, model, x, y, batch_size, epochs, callback):
        try:
            return base.Adapter._fit_arrays(self, model, x, y, batch_size, epochs, callback)
        except ValueError as error:
            if self.place.several and "PerReplica" in str(error):
                raise Unsupported(
                    "Keras %s's fit fails under TensorFlow's MultiWorkerMirroredStrategy "
                    "(keras-team/keras#20585, tensorflow/tensorflow#72388): %s"
                    % (self.keras.__version__, str(error).splitlines()[0]))
            raise
