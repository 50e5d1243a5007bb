"""Keras 3 on JAX over several processes, on one machine or many: keras.distribution.

Every process is started by a launcher (see harness.cluster and
docs/multi-node.md) and joins the others through `keras.distribution.initialize`
(jax.distributed: the coordinator is rank 0's address). DataParallel then spans
every process's devices; each process feeds its own slice of every global
batch, which Keras assembles into one global array
(jax.make_array_from_process_local_data). On CPUs the processes exchange
gradients through JAX's gloo collectives.
"""
import json
import socket

import numpy as np

from harness.backends.launchers.one_process import Ranks

# The key prefixes under which a failed rank leaves its traceback in jax.distributed's
# key-value store, for rank 0's result, and every rank counts its heartbeats.
_FAILURES = "keras-bench/failures/"
_BEATS = "keras-bench/heartbeats/"
# A gathered text's bytes: JAX gathers arrays, so texts travel as fixed-size byte rows.
_TEXT_BYTES = 1024


class Job(Ranks):
    """This process's part of a multi-process JAX job (see harness.cluster.Place)."""

    parallel = "keras.distribution.DataParallel"

    def __init__(self, keras, jax, place, seed):
        # The CPU client's collectives across processes (GPUs have their own, NCCL).
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        # JAX's preemption service would take SIGTERM for itself; harness.stopping needs it.
        jax.config.update("jax_enable_preemption_service", False)
        # Every process draws the same initial weights from the run's seed (else
        # initialize() agrees on a random one over the processes).
        keras.utils.set_random_seed(seed)
        keras.distribution.initialize(place.coordinator, place.num_processes, place.process_id)
        from jax.experimental import multihost_utils
        self._jax = jax
        self._hosts = multihost_utils
        self.rank, self.world = place.process_id, place.num_processes
        self.samples = 0  # the rows this process has handed to Keras
        self.members = self.gather({"host": socket.gethostname(), "node": place.node})

    def local(self, arrays, batch_size):
        """This process's rows of each global batch of every array, and the batch it
        feeds: Keras makes the global batch of every process's slice."""
        share = batch_size // self.world
        return tuple(self._rows(x, batch_size, share) for x in arrays), share

    def _rows(self, x, batch_size, share):
        steps = len(x) // batch_size
        batches = x[:steps * batch_size].reshape((steps, batch_size) + x.shape[1:])
        mine = batches[:, self.rank * share:(self.rank + 1) * share]
        return mine.reshape((steps * share,) + x.shape[1:])

    def fed(self, rows):
        self.samples += rows

    def unsupported(self, spec):
        if spec.method == "generator" or spec.inference:
            return ("several JAX processes train here on arrays only: each feeds its slice of "
                    "every batch; use --method fit or train_on_batch, training")
        return None

    def agree(self, value):
        """Rank 0's `value` (a flag or a whole number), in every process."""
        return type(value)(self._hosts.broadcast_one_to_all(np.array(value)))

    def gather(self, value):
        """Every rank's `value` (JSON, under 1 KiB), in rank order."""
        data = json.dumps(value).encode("utf-8")
        if len(data) > _TEXT_BYTES:
            raise ValueError("too long to gather: %r" % value)
        row = np.zeros(_TEXT_BYTES, dtype=np.uint8)
        row[:len(data)] = np.frombuffer(data, dtype=np.uint8)
        rows = np.asarray(self._hosts.process_allgather(row))
        return [json.loads(bytes(r).rstrip(b"\0").decode("utf-8")) for r in rows]

    # jax.distributed's key-value store has no public Python API yet; Orbax and
    # JAX's own multihost_utils use this client too.
    def _client(self):
        from jax._src import distributed
        return distributed.global_state.client

    def publish_failure(self, text):
        self._client().key_value_set(_FAILURES + str(self.rank), text)

    def peer_failures(self):
        return [value for _, value in sorted(self._client().key_value_dir_get(_FAILURES))]

    def beat(self):
        self._client().key_value_increment(_BEATS + str(self.rank), 1)

    def heartbeats(self):
        counts = dict(self._client().key_value_dir_get(_BEATS))
        return [int(counts.get(_BEATS + str(rank), 0)) for rank in range(self.world)]
