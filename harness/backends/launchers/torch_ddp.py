"""Keras 3 on PyTorch over several devices, the way Keras's guide "Multi-GPU
distributed training with PyTorch" does it: one process per device, joined in a
process group (NCCL on GPUs, gloo on CPU devices), each training the same Keras
model wrapped in torch's DistributedDataParallel with a plain torch loop and a
torch optimizer. Keras's own fit() has no PyTorch data-parallel mode.

On one machine (--gpus N, --cpu-devices N) rank 0 is the process the run
started in: it starts ranks 1.. with the spawn method. Under a launcher
(torchrun, Slurm's srun, a Kubernetes Indexed Job: harness.cluster) every rank
was started by it, on one node or many, and each trains on one device. Only
rank 0's record is written. Every rank takes its slice of each global batch,
so a step trains on the global batch once, over all devices.
"""
import datetime
import os
import socket
import traceback

from harness import cluster, stopping
from harness.backends.launchers.one_process import Ranks

# Set in the processes rank 0 starts: which rank a process is.
RANK_VARIABLE = "BENCH_DDP_RANK"
# Keras's RMSprop and Adam defaults, given to torch's (whose own differ).
_TORCH_OPTIMIZERS = {
    "rmsprop": ("RMSprop", {"alpha": 0.9, "eps": 1e-7}),
    "adam": ("Adam", {"eps": 1e-7}),
    "sgd": ("SGD", {}),
}
# A rank waiting on a collective longer than this is taken as a dead peer.
_TIMEOUT = datetime.timedelta(minutes=10)
# Keys in the job's c10d store: a failed rank's traceback, how many ranks failed, and a
# rank's heartbeats.
_FAILURE = "keras-bench/failure/%d"
_FAILED = "keras-bench/failed"
_BEATS = "keras-bench/heartbeats/%d"


class Group(Ranks):
    """This process's place among the run's `world` processes, one per device.

    `place` (harness.cluster.Place): a launcher started every rank; without it,
    rank 0 starts the others itself (`launch`).
    """

    def __init__(self, torch, keras, world, kind, place=None):
        self.torch = torch
        self.keras = keras
        self.world = world
        self.place = place
        self.rank = place.process_id if place else int(os.environ.get(RANK_VARIABLE, "0"))
        self.device = place.local_rank if place else self.rank  # the GPU it trains on
        self.backend = "nccl" if kind == "gpu" else "gloo"
        self.parallel = "torch DistributedDataParallel (%s)" % self.backend
        if kind == "gpu":
            torch.cuda.set_device(self.device)  # Keras places its variables on the current device
        elif not place:  # (a launcher sets the threads: torchrun, OMP_NUM_THREADS=1)
            # N processes share the cores: without this each would start one thread per core.
            torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
        self.samples = 0  # samples this rank has trained on or predicted
        self.members = [{"host": socket.gethostname(), "node": 0}] * world
        self._store = None
        if place:
            self.join(place.coordinator)

    def unsupported(self, spec):
        if spec.method == "generator":
            return ("Keras's PyTorch data-parallel recipe is a plain torch loop over arrays; "
                    "use --method fit or train_on_batch")
        if spec.jit_compile == "on":
            return ("Keras's PyTorch data-parallel recipe is a plain torch loop, outside "
                    "Keras's compile: --jit-compile on has nothing to compile")
        return None

    def launch(self, adapter, measure, spec, record):
        """Run `measure` in every rank: here only, under a launcher; else here as rank 0
        and in one new process per other rank."""
        if self.place:  # joined when it was made
            measure(adapter, spec, record)
            self.leave()
            return
        import torch.multiprocessing as mp
        port = _free_port()
        context = mp.get_context("spawn")  # forking a process that runs PyTorch threads is unsafe
        errors = context.SimpleQueue()  # a failing rank's traceback, for rank 0's result
        workers = [context.Process(target=_rank_main,
                                   args=(rank, port, measure, spec, record, errors), daemon=True)
                   for rank in range(1, self.world)]
        for worker in workers:
            worker.start()
        try:
            self.join("127.0.0.1:%d" % port)
            measure(adapter, spec, record)
            self.leave()
        finally:
            # Raised here, a worker's failure also explains rank 0's own (a peer gone mid-step).
            # After a stop request rank 0 left mid-epoch: the workers wait for it in a
            # collective and would never end on their own.
            for worker in workers:
                worker.join(0 if stopping.requested() else 60)
                if worker.is_alive():
                    worker.terminate()
                    worker.join()
            failed = ["rank %d: exit code %s" % (rank, w.exitcode)
                      for rank, w in enumerate(workers, 1) if w.exitcode != 0]
            if failed and not stopping.requested():  # else they were stopped, by rank 0
                reasons = [errors.get() for _ in range(len(failed)) if not errors.empty()]
                raise RuntimeError("data-parallel worker processes failed (%s)\n%s"
                                   % (", ".join(failed), "\n".join(reasons)))

    def join(self, coordinator):
        """Join the process group whose store rank 0 (or torchrun's agent) keeps at
        `coordinator`, "host:port"."""
        host, port = cluster.split_address(coordinator)
        os.environ["MASTER_ADDR"] = host
        os.environ["MASTER_PORT"] = str(port)
        self.torch.distributed.init_process_group(self.backend, rank=self.rank,
                                                  world_size=self.world, timeout=_TIMEOUT)
        if self.place:
            # A client of the same store, for the failure reports: rank 0 reads them from
            # another thread while its main thread may wait in a collective.
            self._store = self.torch.distributed.TCPStore(host, port, is_master=False,
                                                          timeout=_TIMEOUT)
            self.members = self.gather({"host": socket.gethostname(), "node": self.place.node})

    def leave(self):
        self.torch.distributed.destroy_process_group()

    def agree(self, value):
        """Rank 0's `value` (a flag or a whole number), in every rank."""
        tensor = self.torch.tensor([int(value)], device=self._device())
        self.torch.distributed.broadcast(tensor, src=0)
        return type(value)(tensor.item())

    def gather(self, value):
        values = [None] * self.world
        self.torch.distributed.all_gather_object(values, value)
        return values

    def publish_failure(self, text):
        self._store.set(_FAILURE % self.rank, text)
        self._store.add(_FAILED, 1)

    def peer_failures(self):
        if not self._store or not self._store.add(_FAILED, 0):  # add 0: a read, no wait
            return []
        return [self._store.get(_FAILURE % r).decode("utf-8") for r in range(self.world)
                if self._store.check([_FAILURE % r])]

    def beat(self):
        self._store.add(_BEATS % self.rank, 1)

    def heartbeats(self):
        if not self._store:
            return []
        return [self._store.add(_BEATS % rank, 0) for rank in range(self.world)]  # add 0: a read

    def trainer(self, model, recipe):
        return Trainer(self, model, recipe)

    def _device(self):
        return self.torch.device("cuda", self.device) if self.backend == "nccl" else \
            self.torch.device("cpu")


class Trainer:
    """The Keras model in DistributedDataParallel, driven by a torch loop.

    It answers the calls the adapter makes of a Keras model (fit, predict,
    evaluate, train_on_batch, predict_on_batch, count_params) with the global
    batch given and this rank's slice of it trained.
    """

    def __init__(self, group, model, recipe):
        torch = group.torch
        self.group = group
        self.model = model
        self.ddp = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[group.device] if group.backend == "nccl" else None)
        name, defaults = _TORCH_OPTIMIZERS[recipe.optimizer]
        self.optimizer = getattr(torch.optim, name)(model.parameters(), lr=recipe.learning_rate,
                                                    **defaults)
        self.loss = group.keras.losses.get(recipe.loss)

    def count_params(self):
        return self.model.count_params()

    def _slice(self, x, y=None):
        """This rank's rows of a global batch, as tensors on its device."""
        rows = len(x) // self.group.world
        start = self.group.rank * rows
        convert = self.group.keras.ops.convert_to_tensor
        x = convert(x[start:start + rows])
        return (x, None) if y is None else (x, convert(y[start:start + rows]))

    def _scores(self, y, outputs):
        loss = self.group.torch.mean(self.loss(y, outputs))
        correct = (outputs.argmax(-1) == y.argmax(-1)).float().mean()
        return loss, correct

    def train_on_batch(self, x, y, return_dict=True):
        x, y = self._slice(x, y)
        self.group.samples += len(x)
        self.optimizer.zero_grad()
        outputs = self.ddp(x, training=True)  # training=True: dropout on, as in fit()
        loss, accuracy = self._scores(y, outputs)
        loss.backward()  # DistributedDataParallel all-reduces the gradients here
        self.optimizer.step()
        # Host numbers, as Keras's train_on_batch and fit's per-step logs give them.
        return {"loss": float(loss), "accuracy": float(accuracy)}

    def predict_on_batch(self, x):
        x = self._slice(x)[0]
        self.group.samples += len(x)
        with self.group.torch.no_grad():
            outputs = self.ddp(x, training=False)
        # Inference exchanges nothing: wait for every rank so a step ends when all have.
        self.group.torch.distributed.barrier()
        return outputs

    def fit(self, x, y, batch_size, epochs, callbacks, **ignored):
        """Keras's fit over arrays, by hand: epochs of whole global batches, in order."""
        timing, = callbacks
        timing.set_model(self.model)
        self.model.stop_training = False  # what the timing callback sets when the plan is done
        history = {"loss": [], "accuracy": []}
        for epoch in range(epochs):
            timing.on_epoch_begin(epoch)
            logs = []
            for step in range(len(x) // batch_size):
                timing.on_train_batch_begin(step)
                rows = slice(step * batch_size, (step + 1) * batch_size)
                logs.append(self.train_on_batch(x[rows], y[rows]))
                timing.on_train_batch_end(step, logs[-1])
            timing.on_epoch_end(epoch)
            for name in history:  # the epoch's mean, as Keras reports it
                history[name].append(sum(step[name] for step in logs) / len(logs))
            if self.model.stop_training:
                break
        return _History(history)

    def predict(self, x, batch_size, callbacks, **ignored):
        timing, = callbacks
        timing.on_predict_begin()
        for step in range(len(x) // batch_size):
            outputs = self.predict_on_batch(x[step * batch_size:(step + 1) * batch_size])
            timing.on_predict_batch_end(step, {"outputs": outputs})
        timing.on_predict_end()

    def evaluate(self, x, y, batch_size, **ignored):
        """Mean loss and accuracy over all ranks' slices of every batch."""
        torch = self.group.torch
        totals = torch.zeros(2, device=self.group._device())
        steps = len(x) // batch_size
        with torch.no_grad():
            for step in range(steps):
                rows = slice(step * batch_size, (step + 1) * batch_size)
                xs, ys = self._slice(x[rows], y[rows])
                totals += torch.stack(self._scores(ys, self.ddp(xs, training=False)))
        torch.distributed.all_reduce(totals)
        loss, accuracy = (totals / (steps * self.group.world)).tolist()
        return {"loss": loss, "accuracy": accuracy}


class _History:
    def __init__(self, history):
        self.history = history


def _rank_main(rank, port, measure, spec, record, errors):
    """A worker process: the same run as rank 0, on device `rank`; a failure's
    traceback goes to `errors` before the process exits with an error."""
    os.environ[RANK_VARIABLE] = str(rank)
    try:
        from harness import backends
        adapter = backends.load(spec, cluster.SINGLE)  # rank 0's place: one process
        adapter.launcher.join("127.0.0.1:%d" % port)
        measure(adapter, spec, record)
        adapter.launcher.leave()
    except BaseException:
        errors.put("rank %d: %s" % (rank, traceback.format_exc()))
        raise


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
