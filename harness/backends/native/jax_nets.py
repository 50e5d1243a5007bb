"""The workloads as JAX functions of a parameter tree, trained with optax's
RMSprop or SGD in one jitted step, initialised as Keras does. Always compiled:
jax.jit is how JAX runs a step."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from harness.backends.native import (BN_EPSILON, BN_MOMENTUM, VGG16_BLOCKS, VGG16_DENSE,
                                     cnn_flat_features, resnet50_blocks, vgg16_flat_features)

DATA_FORMATS = ("channels_last",)  # Keras's default, and XLA's preferred layout on CPU and GPU
COMPILER = "XLA (jax.jit)"
# Beyond the framework's own (frameworks.jax.describe).
DESCRIPTION = {"optax_version": optax.__version__, "cudnn": None}
_glorot_uniform = jax.nn.initializers.glorot_uniform()  # fans over a conv window, as Keras's
_orthogonal = jax.nn.initializers.orthogonal()


def resolve_jit_compile(requested, gpus):
    """Every native JAX step is jitted: "auto" is "on"; "off" stays, and is unsupported."""
    return "off" if requested == "off" else "on"


def unsupported(gpus, jit_compile, data_format):
    if jit_compile == "off":
        return ("native JAX is always compiled (its steps are jax.jit functions); "
                "--jit-compile off has no native JAX form")
    return None


def to_host(value):
    return np.asarray(value)


# --- parameters, drawn as Keras draws them: glorot_uniform kernels, zero biases ---

def _dense(key, fan_in, units):
    return {"kernel": _glorot_uniform(key, (fan_in, units)), "bias": jnp.zeros(units)}


def _conv(key, channels, filters, size=3):
    return {"kernel": _glorot_uniform(key, (size, size, channels, filters)),
            "bias": jnp.zeros(filters)}


def _batch_norm(channels):
    """Keras's BatchNormalization: (trained gamma and beta, moving statistics)."""
    return ({"gamma": jnp.ones(channels), "beta": jnp.zeros(channels)},
            {"moving_mean": jnp.zeros(channels), "moving_variance": jnp.ones(channels)})


def _init_mlp(key, input_shape, num_classes):
    keys = jax.random.split(key, 3)
    return {"hidden1": _dense(keys[0], input_shape[0], 512), "hidden2": _dense(keys[1], 512, 512),
            "output": _dense(keys[2], 512, num_classes)}, {}


def _init_cnn(key, input_shape, num_classes):
    keys = jax.random.split(key, 6)
    return {"conv1": _conv(keys[0], input_shape[-1], 32), "conv2": _conv(keys[1], 32, 32),
            "conv3": _conv(keys[2], 32, 64), "conv4": _conv(keys[3], 64, 64),
            "hidden": _dense(keys[4], cnn_flat_features(input_shape, DATA_FORMATS[0]), 512),
            "output": _dense(keys[5], 512, num_classes)}, {}


def _init_lstm(key, input_shape, num_classes, units=128):
    keys = jax.random.split(key, 3)
    forget_gate_ones = jnp.zeros(4 * units).at[units:2 * units].set(1.0)  # unit_forget_bias
    return {"lstm": {"kernel": _glorot_uniform(keys[0], (input_shape[1], 4 * units)),
                     "recurrent_kernel": _orthogonal(keys[1], (units, 4 * units)),
                     "bias": forget_gate_ones},
            "output": _dense(keys[2], units, num_classes)}, {}


def _init_vgg16(key, input_shape, num_classes):
    keys = iter(jax.random.split(key, 16))
    convs, channels = [], input_shape[-1]
    for filters, count in VGG16_BLOCKS:
        block = []
        for _ in range(count):
            block.append(_conv(next(keys), channels, filters))
            channels = filters
        convs.append(block)
    fan_in, dense = vgg16_flat_features(input_shape, DATA_FORMATS[0]), []
    for units in VGG16_DENSE:
        dense.append(_dense(next(keys), fan_in, units))
        fan_in = units
    return {"convs": convs, "dense": dense, "output": _dense(next(keys), fan_in, num_classes)}, {}


def _init_resnet50(key, input_shape, num_classes):
    """Parameters and moving statistics, one tree each, in the same nesting."""
    keys = iter(jax.random.split(key, 54))

    def unit(channels, filters, size=1):
        bn, stats = _batch_norm(filters)
        return {"conv": _conv(next(keys), channels, filters, size), "bn": bn}, {"bn": stats}

    def block(channels, filters, projection):
        units = [unit(channels, filters), unit(filters, filters, 3), unit(filters, 4 * filters)]
        if projection:
            units.append(unit(channels, 4 * filters))
        return [p for p, _ in units], [s for _, s in units]

    stem, stem_stats = unit(input_shape[-1], 64, 7)
    blocks, channels = [], 64
    for filters, _, projection in resnet50_blocks():
        blocks.append(block(channels, filters, projection))
        channels = 4 * filters
    params = {"stem": stem, "blocks": [p for p, _ in blocks],
              "output": _dense(next(keys), channels, num_classes)}
    return params, {"stem": stem_stats, "blocks": [s for _, s in blocks]}


# --- the networks: logits from inputs; `key` is None for inference (no dropout) ---

def _dropout(x, rate, key, site):
    if key is None:
        return x
    keep = jax.random.bernoulli(jax.random.fold_in(key, site), 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0.0)


def _apply_dense(layer, x):
    return x @ layer["kernel"] + layer["bias"]


def _apply_conv(layer, x, padding="SAME", strides=1, relu=True):
    y = lax.conv_general_dilated(x, layer["kernel"], (strides, strides), padding,
                                 dimension_numbers=("NHWC", "HWIO", "NHWC")) + layer["bias"]
    return jax.nn.relu(y) if relu else y


def _max_pool(x, size=2, strides=2):
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, size, size, 1), (1, strides, strides, 1),
                             "VALID")


def _zero_pad(x, pad):
    return jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0)))


def _apply_batch_norm(layer, stats, x, training):
    """Batch statistics while training (returned updated as Keras updates the moving ones),
    else the moving ones."""
    if training:
        mean, variance = jnp.mean(x, axis=(0, 1, 2)), jnp.var(x, axis=(0, 1, 2))
        stats = {"moving_mean": stats["moving_mean"] * BN_MOMENTUM + mean * (1 - BN_MOMENTUM),
                 "moving_variance": (stats["moving_variance"] * BN_MOMENTUM
                                     + variance * (1 - BN_MOMENTUM))}
    else:
        mean, variance = stats["moving_mean"], stats["moving_variance"]
    scale = layer["gamma"] * lax.rsqrt(variance + BN_EPSILON)
    return (x - mean) * scale + layer["beta"], stats


def _mlp(params, x, key):
    x = _dropout(jax.nn.relu(_apply_dense(params["hidden1"], x)), 0.2, key, 0)
    x = _dropout(jax.nn.relu(_apply_dense(params["hidden2"], x)), 0.2, key, 1)
    return _apply_dense(params["output"], x)


def _cnn(params, x, key):
    for site, (same, valid) in enumerate((("conv1", "conv2"), ("conv3", "conv4"))):
        x = _apply_conv(params[valid], _apply_conv(params[same], x), "VALID")
        x = _dropout(_max_pool(x), 0.25, key, site)
    x = jax.nn.relu(_apply_dense(params["hidden"], x.reshape(x.shape[0], -1)))
    return _apply_dense(params["output"], _dropout(x, 0.5, key, 2))


def _lstm(params, x, key):
    lstm = params["lstm"]
    units = lstm["recurrent_kernel"].shape[0]

    # Each character's input matmul inside the scan, as Keras's cell does: one
    # matmul over all characters before it made XLA's CPU step twice as slow.
    def step(state, characters):
        hidden, cell = state
        gates = (characters @ lstm["kernel"] + hidden @ lstm["recurrent_kernel"]
                 + lstm["bias"])
        i, f, g, o = jnp.split(gates, 4, axis=-1)  # Keras's gate order
        cell = jax.nn.sigmoid(f) * cell + jax.nn.sigmoid(i) * jnp.tanh(g)
        hidden = jax.nn.sigmoid(o) * jnp.tanh(cell)
        return (hidden, cell), None

    zeros = jnp.zeros((x.shape[0], units), x.dtype)
    (hidden, _), _ = lax.scan(step, (zeros, zeros), jnp.swapaxes(x, 0, 1))  # time first
    return _apply_dense(params["output"], hidden)


def _vgg16(params, x, key):
    for block in params["convs"]:
        for layer in block:
            x = _apply_conv(layer, x)
        x = _max_pool(x)
    x = x.reshape(x.shape[0], -1)
    for layer in params["dense"]:
        x = jax.nn.relu(_apply_dense(layer, x))
    return _apply_dense(params["output"], x)


def _resnet50(params, state, x, key):
    """Logits and the moving statistics after this batch (training: `key` is not None)."""
    training = key is not None

    def unit(layer, stats, x, strides=1, padding="VALID", relu=True):
        x = _apply_conv(layer["conv"], x, padding, strides, relu=False)
        x, stats = _apply_batch_norm(layer["bn"], stats["bn"], x, training)
        return (jax.nn.relu(x) if relu else x), {"bn": stats}

    x, stem = unit(params["stem"], state["stem"], _zero_pad(x, 3), strides=2)
    x = _max_pool(_zero_pad(x, 1), 3, 2)
    blocks = []
    for layers, stats, (_, strides, _) in zip(params["blocks"], state["blocks"],
                                              resnet50_blocks()):
        y, first = unit(layers[0], stats[0], x, strides)
        y, middle = unit(layers[1], stats[1], y, padding="SAME")
        y, last = unit(layers[2], stats[2], y, relu=False)
        new = [first, middle, last]
        if len(layers) == 4:  # the projection shortcut
            x, projection = unit(layers[3], stats[3], x, strides, relu=False)
            new.append(projection)
        x = jax.nn.relu(x + y)
        blocks.append(new)
    logits = _apply_dense(params["output"], jnp.mean(x, axis=(1, 2)))
    return logits, {"stem": stem, "blocks": blocks}


def _stateless(network):
    """A network without moving statistics in the form of those with: (logits, state)."""
    return lambda params, state, x, key: (network(params, x, key), state)


NETWORKS = {"mlp": (_init_mlp, _stateless(_mlp)), "cnn": (_init_cnn, _stateless(_cnn)),
            "lstm": (_init_lstm, _stateless(_lstm)), "vgg16": (_init_vgg16, _stateless(_vgg16)),
            "resnet50": (_init_resnet50, _resnet50)}


def _cross_entropy(logits, y):
    """Keras's categorical cross-entropy of the softmax, from the logits; y is one-hot."""
    return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(logits), axis=-1))


def _accuracy(logits, y):
    return jnp.mean(jnp.argmax(logits, -1) == jnp.argmax(y, -1))


def _metrics(logits, y):
    return {"loss": _cross_entropy(logits, y), "accuracy": _accuracy(logits, y)}


class Network:
    """One workload's parameters, moving statistics (ResNet50's), optimizer state and
    jitted steps, on JAX's default device."""

    def __init__(self, workload, input_shape, num_classes, gpus, seed, data_format, jit_compile):
        init, apply = NETWORKS[workload]
        self._apply = apply
        init_key, self._dropout_key = jax.random.split(jax.random.PRNGKey(seed))
        self.params, self.state = init(init_key, input_shape, num_classes)
        infer = lambda params, state, x: apply(params, state, x, None)[0]  # noqa: E731
        self._predict = jax.jit(lambda params, state, x: jax.nn.softmax(infer(params, state, x)))
        self._evaluate = jax.jit(lambda params, state, x, y: _metrics(infer(params, state, x), y))
        self.opt_state = self._train = None

    def count_params(self):
        """Parameters and moving statistics, as Keras's count_params counts them."""
        return sum(int(leaf.size) for leaf in jax.tree_util.tree_leaves((self.params, self.state)))

    def compile(self, optimizer, learning_rate):
        # Keras's RMSprop: optax also puts epsilon inside the square root. Keras's SGD
        # has no momentum by default.
        optimizer = (optax.rmsprop(learning_rate, decay=0.9, eps=1e-7, eps_in_sqrt=True)
                     if optimizer == "rmsprop" else optax.sgd(learning_rate))
        apply = self._apply

        def train(params, state, opt_state, key, x, y):
            key, dropout_key = jax.random.split(key)

            def loss(p):
                logits, new_state = apply(p, state, x, dropout_key)
                return _cross_entropy(logits, y), (logits, new_state)

            (value, (logits, state)), grads = jax.value_and_grad(loss, has_aux=True)(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            outputs = {"loss": value, "accuracy": _accuracy(logits, y)}
            return optax.apply_updates(params, updates), state, opt_state, key, outputs

        self.opt_state = optimizer.init(self.params)
        # The old parameters and states are not needed after a step: update them in place.
        self._train = jax.jit(train, donate_argnums=(0, 1, 2, 3))

    def train_step(self, x, y):
        self.params, self.state, self.opt_state, self._dropout_key, outputs = self._train(
            self.params, self.state, self.opt_state, self._dropout_key, x, y)
        return outputs

    def predict_step(self, x):
        return self._predict(self.params, self.state, x)

    def evaluate_step(self, x, y):
        return self._evaluate(self.params, self.state, x, y)
