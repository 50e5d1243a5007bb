"""The workloads written directly on TensorFlow, JAX or PyTorch, no Keras: how
far Keras-on-X is from X itself.

Each framework's networks live in their own module (`<framework>_nets`),
imported only once the environment is set; they offer the same small
interface (a Network with train, predict and evaluate steps, `to_host`,
`DESCRIPTION`); the framework's devices and drain are its tools'
(harness.backends.frameworks). The loop that drives the recorder is written
once, here.
The networks, their initializers, the loss and the optimizer are the Keras
models' of harness.models, so the losses of a native and a Keras run of one
workload are comparable.
"""
import importlib
import os

import numpy as np

from harness.backends import frameworks
from harness.backends.common import Adapter as BaseAdapter, gpus_to_use, hide_gpus_for_cpu_run
from harness.environment import providing_package
from harness.spec import CONV_WORKLOADS

WORKLOADS = ("mlp", "cnn", "lstm", "vgg16", "resnet50")
METHODS = ("fit", "train_on_batch")
# The recipes the native networks implement (harness.models' RECIPE entries):
# Keras's RMSprop or plain SGD, on the categorical cross-entropy.
OPTIMIZERS, LOSS = ("rmsprop", "sgd"), "categorical_crossentropy"

# keras.applications.VGG16: blocks of (filters, 3x3 convolutions), each block
# ending in a 2x2 max pooling; then two dense layers before the classifier.
VGG16_BLOCKS = ((64, 2), (128, 2), (256, 3), (512, 3), (512, 3))
VGG16_DENSE = (4096, 4096)
# keras.applications.ResNet50 (v1): stacks of (filters, bottleneck blocks, first
# block's stride); the stride sits in the block's first 1x1 convolution, and
# every convolution has a bias. Its BatchNormalization's epsilon and momentum.
RESNET50_STACKS = ((64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2))
BN_EPSILON, BN_MOMENTUM = 1.001e-5, 0.99


class Adapter(BaseAdapter):
    """Drives one framework's native networks for the runner, as keras3.Adapter drives Keras.

    One process on one device: the scope, launch and agreement of a single process.
    """

    api = "native"
    keras = None
    devices = 1

    def __init__(self, spec, framework, place):
        self.name = spec.backend
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up chatter
        # TensorFlow imports Keras as it loads: Keras must not try the backend that
        # ~/.keras/keras.json names (keras-mxnet writes "mxnet" there).
        os.environ["KERAS_BACKEND"] = framework
        hide_gpus_for_cpu_run(spec)
        frameworks.before_import(framework, spec)
        self.nets = importlib.import_module("harness.backends.native.%s_nets" % framework)
        self.framework = importlib.import_module(framework)
        self.tools = frameworks.tools(framework)
        self.tf32 = frameworks.set_tf32(framework, self.framework, spec.tf32 == "on")
        self.seed = spec.seed  # each Network seeds its framework before drawing its weights
        self.gpus = gpus_to_use(spec, self.visible_gpus())
        self.device_kind = "gpu" if self.gpus else "cpu"
        self.data_format = spec.data_format or self.nets.DATA_FORMATS[0]
        self.jit_compile = self.nets.resolve_jit_compile(spec.jit_compile, self.gpus)

    # --- what runs where ---

    def visible_gpus(self):
        return self.tools.visible_gpus(self.framework)

    def unsupported(self, spec):
        """Why the native networks cannot run `spec`, or None. Recorded as a skipped run."""
        if spec.model not in WORKLOADS:
            return "%s is written natively for %s only, not %s" % (
                self.name, ", ".join(WORKLOADS), spec.model)
        if self.gpus > 1 or spec.cpu_devices > 1:
            return "%s trains on one device only" % self.name
        if spec.precision != "float32":
            return "%s trains in float32 only, not %s" % (self.name, spec.precision)
        if spec.method not in METHODS:
            return "%s runs --method %s only, not %s" % (
                self.name, " or ".join(METHODS), spec.method)
        if spec.model in CONV_WORKLOADS and self.data_format not in self.nets.DATA_FORMATS:
            return "%s computes images in %s only, not %s" % (
                self.name, " or ".join(self.nets.DATA_FORMATS), self.data_format)
        return self.nets.unsupported(self.gpus, spec.jit_compile, self.data_format
                                     if spec.model in CONV_WORKLOADS else None)

    def jit_compiled(self, model):
        """What --jit-compile resolved to: each framework's own rule for "auto"."""
        return self.jit_compile

    def describe(self):
        """The framework's part of the result's environment."""
        info = {
            "backend": self.name,
            "backend_version": self.framework.__version__,
            "backend_package": providing_package(self.framework.__name__),
            # What --jit-compile on means for this framework; None when the run is not compiled.
            "compiler": self.nets.COMPILER if self.jit_compile == "on" else None,
        }
        info.update(self.tools.describe(self.framework, self.gpus))
        info.update(self.nets.DESCRIPTION)
        info["tf32"] = self.tf32
        info["threads"] = frameworks.thread_settings(self.framework.__name__, self.framework)
        return info

    # --- measuring ---

    def sync(self, outputs):
        """Block until the device has finished all work queued so far: the outputs brought
        to the host, then the GPU's work queued after them."""
        values = [] if outputs is None else list(outputs.values()) if isinstance(outputs, dict) \
            else [outputs]
        for value in values:
            self.nets.to_host(value)
        if self.gpus:
            self.tools.drain(self.framework)

    def timing_callback(self, recorder, step_samples, steps):
        """The hooks the native loops call; they end every step, and the recorder
        decides whether a step's end waits for the device (per-step timing) or not."""
        return _Timing(recorder, step_samples)

    def memory(self):
        return frameworks.peak_memory(self.framework.__name__, self.framework, self.gpus)

    def trace(self, directory):
        return frameworks.trace(self.framework.__name__, self.framework, directory)

    # --- training and inference ---

    def build(self, spec, data):
        """The native network for `spec.model`, shaped for `data`, and the Keras model's recipe."""
        recipe = importlib.import_module("harness.models." + spec.model).RECIPE
        network = self.nets.Network(spec.model, data.input_shape, data.num_classes, self.gpus,
                                    self.seed, self.data_format, self.jit_compile == "on")
        return network, recipe

    def compile(self, model, recipe):
        if recipe.optimizer not in OPTIMIZERS or recipe.loss != LOSS:
            raise ValueError("the native networks train with %s on %s, the recipe asks for %s on %s"
                             % (" or ".join(OPTIMIZERS), LOSS, recipe.optimizer, recipe.loss))
        model.compile(recipe.optimizer, recipe.learning_rate)
        return model

    def fit(self, model, inputs, batch_size, epochs, steps, callback):
        """Train up to `epochs` epochs, until the plan is done; returns the last epoch's
        mean loss and accuracy."""
        for _ in range(epochs):
            outputs = _epoch(model.train_step, _batches(inputs, batch_size, steps), callback)
            if callback.done():
                break
        return self._mean(outputs)

    def predict(self, model, inputs, batch_size, steps, callback):
        _epoch(lambda x, y: model.predict_step(x), _batches(inputs, batch_size, steps), callback)

    def train_on_batch(self, model, x, y):
        return model.train_step(x, y)

    def predict_on_batch(self, model, x):
        return model.predict_step(x)

    def evaluate(self, model, inputs, batch_size, steps):
        batches = _batches(inputs, batch_size, steps)
        return self._mean([model.evaluate_step(x, y) for x, y in batches])

    def _mean(self, outputs):
        """Per-batch losses and accuracies averaged, as Keras reports an epoch (whole batches)."""
        return {key: float(np.mean([self.nets.to_host(o[key]) for o in outputs]))
                for key in ("loss", "accuracy")}


class _Timing:
    """Reports a native loop's epochs and steps to the recorder, as the Keras callback does."""

    def __init__(self, recorder, step_samples):
        self._recorder = recorder
        self._step_samples = step_samples

    def begin_epoch(self):
        self._recorder.begin_epoch()

    def end_step(self, step, outputs):
        self._recorder.end_step(self._step_samples(step), outputs)

    def end_epoch(self):
        self._recorder.end_epoch()

    def done(self):
        return self._recorder.done()


def _batches(inputs, batch_size, steps):
    """Batch i holds samples i*batch_size to (i+1)*batch_size: unshuffled, as Keras is fed."""
    x, y = inputs
    for i in range(steps):
        yield x[i * batch_size:(i + 1) * batch_size], y[i * batch_size:(i + 1) * batch_size]


def _epoch(step, batches, callback):
    """One epoch of `step(x, y)` over `batches`, each step reported; returns the steps' outputs."""
    callback.begin_epoch()
    outputs = []
    for i, (x, y) in enumerate(batches):
        outputs.append(step(x, y))
        callback.end_step(i, outputs[-1])
    callback.end_epoch()
    return outputs


def cnn_flat_features(input_shape, data_format):
    """Values per sample that reach the cnn's dense layer: two blocks of a same-padded
    and a valid 3x3 convolution, then a 2x2 pooling; 64 channels at the end."""
    height, width = spatial_size(input_shape, data_format)
    for _ in range(2):
        height, width = (height - 2) // 2, (width - 2) // 2
    return 64 * height * width


def spatial_size(input_shape, data_format):
    """(height, width) of an image input_shape in `data_format`."""
    return tuple(input_shape[1:]) if data_format == "channels_first" else tuple(input_shape[:2])


def vgg16_flat_features(input_shape, data_format):
    """Values per sample that reach VGG16's first dense layer: five 2x2 poolings, 512 channels."""
    height, width = spatial_size(input_shape, data_format)
    for _ in VGG16_BLOCKS:
        height, width = height // 2, width // 2
    return 512 * height * width


def resnet50_blocks():
    """(filters, stride, projection shortcut) of each of ResNet50's 16 bottleneck blocks."""
    for filters, blocks, stride in RESNET50_STACKS:
        for block in range(blocks):
            yield filters, stride if block == 0 else 1, block == 0
