"""What the adapters share: the calls the runner makes (Adapter), choosing the
devices, the timing callback and the batch sequence. Takes the `keras` module as
an argument and imports no framework itself.
"""
import os
import threading

from harness import stopping
from harness.backends.launchers.one_process import OneProcess
from harness.spec import UsageError


class Unsupported(Exception):
    """This backend cannot run this configuration, found out while running it; recorded
    as a skipped run, not a failure."""


class Adapter:
    """What the runner may call of an adapter (Keras 3's, Keras 2's, the native one).

    - facts: `api`, `name`, `gpus`, `devices`, `device_kind`, `processes`, `nodes`,
      `rank` (0 writes the result), `parallel` (the data-parallel mechanism or
      None), `data_format`; `unsupported(spec)` says why a run is skipped;
    - the run: `launch(measure, spec, record)` runs `measure` in every process,
      `scope()` is where models are built, `agree(value)` gives rank 0's value;
    - several processes: `publish_failure`, `peer_failures`, `beat`, `heartbeats`,
      `hosts` (no-ops for one);
    - training: `build`, `compile`, `jit_compiled`, `batch_sequence`, `fit`, `predict`,
      `train_on_batch`, `predict_on_batch`, `evaluate`, `timing_callback`, `sync`;
    - the account: `describe`, `replicas(model)`, `memory`, `trace(directory)`.

    How the run's processes start and work together is its `launcher`'s
    (harness.backends.launchers): one process on its own devices unless an adapter
    sets another.
    """

    launcher = OneProcess()
    processes = 1  # of the job, on all its nodes (harness.cluster)

    @property
    def rank(self):
        return self.launcher.rank

    @property
    def parallel(self):
        return self.launcher.parallel

    @property
    def nodes(self):
        return self.launcher.nodes

    def scope(self):
        """The context models are built and compiled in."""
        return self.launcher.scope()

    def launch(self, measure, spec, record):
        """Run `measure(adapter, spec, record)` in every process of the run."""
        return self.launcher.launch(self, measure, spec, record)

    def agree(self, value):
        """`value` (a flag or a whole number) as rank 0 sees it: every process must stop
        after the same epoch, and take the same steps in each."""
        return self.launcher.agree(value)

    def replicas(self, model):
        """What the framework says the model was replicated over, or None (one device)."""
        return None

    def publish_failure(self, text):
        self.launcher.publish_failure(text)

    def peer_failures(self):
        return self.launcher.peer_failures()

    def beat(self):
        self.launcher.beat()

    def heartbeats(self):
        return self.launcher.heartbeats()

    def hosts(self):
        return self.launcher.hosts()

    def jit_compiled(self, model):
        """What --jit-compile resolved to for `model`: "on", "off", or None where the
        adapter does not say."""
        return None


def hide_gpus_for_cpu_run(spec):
    """--gpus 0 means the CPU: hide the GPUs before any framework looks for them."""
    if spec.gpus == 0:
        os.environ["CUDA_VISIBLE_DEVICES"] = ""


def check_backend(chosen, wanted):
    """Fail if Keras did not load the backend that KERAS_BACKEND asked for."""
    if chosen != wanted:
        raise RuntimeError("Keras chose backend %r instead of %r; is KERAS_BACKEND fixed in "
                           "keras.json?" % (chosen, wanted))


def gpus_to_use(spec, visible):
    """The GPUs this run uses: --gpus, else one if any is visible; more than visible is a usage error."""
    gpus = (1 if visible else 0) if spec.gpus is None else spec.gpus
    if gpus > visible:
        raise UsageError("--gpus %d asked, but %s sees %d GPU(s)" % (gpus, spec.backend, visible))
    return gpus


def timing_callback(keras, recorder, step_samples, steps):
    """A Keras callback that reports epochs and steps to `recorder`.

    `step_samples(step)` is the number of samples in that step of an epoch of
    `steps` steps. Keras 3 calls `on_train_batch_end`, Keras 2 `on_batch_end`:
    both end a step. Training stops at the end of the epoch that completes the
    recorder's plan. A step ends when its logs are on the host as Python numbers
    (Keras turns them into those for a batch hook; Keras 2's are host numbers
    already), so the recorder has no outputs to wait on there. Keras 3 runs a
    batch hook in the main thread, which then waits for every step before it
    queues the next, unless the callback is `async_safe`: then a worker thread
    waits for the step's logs and reports it while the main thread queues the
    next step, as in a plain fit() (JAX's mlp ran 25% slower with a synchronous
    empty hook, docs/performance.md); a lock keeps the reports one at a time,
    and Keras hands every pending report over before the epoch's end. When the
    recorder times epochs only, training gets no batch-end hook at all; the
    epoch's end reports all its steps at once. A stop request is also checked at
    each step's start, in the main thread, which reads nothing from the device
    (Keras 3's on_train_batch_begin calls on_batch_begin, as Keras 2's loop does).
    """
    class EpochTiming(keras.callbacks.Callback):
        reporting = threading.Lock()  # one step's report at a time (see StepTiming)

        def on_batch_begin(self, batch, logs=None):
            stopping.check()

        def on_epoch_begin(self, epoch, logs=None):
            recorder.begin_epoch()

        def on_epoch_end(self, epoch, logs=None):
            if not recorder.per_step:  # Keras has made the epoch's logs host numbers
                recorder.end_step(sum(step_samples(i) for i in range(steps)), logs, steps)
            recorder.end_epoch()
            if recorder.done():  # fit() was given more epochs than the plan may need
                self.model.stop_training = True

        def done(self):
            """Whether the plan is complete (for loops that call these hooks themselves)."""
            return recorder.done()

        # One predict() call is one epoch of inference (always timed per step).
        def on_predict_begin(self, logs=None):
            recorder.begin_epoch()

        def on_predict_batch_end(self, batch, logs=None):
            with self.reporting:
                recorder.end_step(step_samples(batch), logs)

        def on_predict_end(self, logs=None):
            recorder.end_epoch()

        def time_whole_call(self, call):
            """Time `call()`, a loop with no batch hooks, as one epoch of one step.

            Its samples are counted from what it returned, one output per sample.
            """
            recorder.begin_epoch()
            outputs = call()
            recorder.end_step(len(outputs), outputs)
            recorder.end_epoch()
            return outputs

    class StepTiming(EpochTiming):
        async_safe = True  # Keras 3 may run the batch-end hooks in a worker thread

        def on_train_batch_end(self, batch, logs=None):
            with self.reporting:
                recorder.end_step(step_samples(batch))

        on_batch_end = on_train_batch_end

    return StepTiming() if recorder.per_step else EpochTiming()


def batch_sequence(base, data, batch_size, steps):
    """The data as `steps` batches, a subclass of `base` (Keras 3's PyDataset, Keras 2's Sequence)."""
    class Batches(base):
        def __len__(self):
            return steps

        def __getitem__(self, index):
            return data.batch(index, batch_size)

    return Batches()
