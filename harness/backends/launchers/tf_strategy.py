"""TensorFlow's own data-parallel strategies: one process over its devices
(MirroredStrategy), or one of the workers TF_CONFIG names (MultiWorkerMirroredStrategy)."""
import os

from harness.backends.launchers.one_process import OneProcess


class Strategy(OneProcess):
    """Models are built and compiled in `strategy`'s scope."""

    def __init__(self, strategy, parallel, rank=0):
        OneProcess.__init__(self, parallel)
        self.strategy = strategy
        self.rank = rank

    def scope(self):
        return self.strategy.scope()


def mirrored(tf, names, gpus):
    """MirroredStrategy over the logical devices `names`. On GPUs it all-reduces with
    NCCL; across CPU devices it has no NCCL and reduces through one device instead."""
    reduce = None if gpus else tf.distribute.ReductionToOneDevice()
    return Strategy(tf.distribute.MirroredStrategy(devices=names, cross_device_ops=reduce),
                    "tf.distribute.MirroredStrategy")


class MultiWorker(Strategy):
    """This process as one of TF_CONFIG's workers, which the strategy reads itself
    (TensorFlow's workers have no failure or heartbeat channel here)."""

    def __init__(self, tf, place):
        Strategy.__init__(self, tf.distribute.MultiWorkerMirroredStrategy(),
                          "tf.distribute.MultiWorkerMirroredStrategy", place.process_id)

    def unsupported(self, spec):
        if "TF_CONFIG" not in os.environ:
            return "MultiWorkerMirroredStrategy reads its workers from TF_CONFIG, which is not set"
        return None
