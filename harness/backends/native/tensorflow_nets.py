"""The workloads on TensorFlow's own ops: tf.Variables, tf.nn layers and tf.function
steps, no Keras; initialised and trained as Keras does. Images in NHWC or NCHW;
XLA (tf.function's jit_compile) on or off."""
import numpy as np
import tensorflow as tf

from harness.backends.frameworks import tensorflow as tools
from harness.backends.native import (BN_EPSILON, BN_MOMENTUM, VGG16_BLOCKS, VGG16_DENSE,
                                     cnn_flat_features, resnet50_blocks, vgg16_flat_features)

DATA_FORMATS = ("channels_last", "channels_first")  # the first is the default
COMPILER = "XLA (tf.function(jit_compile=True))"
DESCRIPTION = {}  # beyond the framework's own (frameworks.tensorflow.describe)


def resolve_jit_compile(requested, gpus):
    """"auto" is Keras's rule for TensorFlow: XLA on a GPU, plain graphs on the CPU."""
    if requested == "auto":
        return "on" if gpus else "off"
    return requested


def unsupported(gpus, jit_compile, data_format):
    """Why TensorFlow cannot run here, or None; data_format is None for networks without images."""
    return data_format and tools.cpu_layout_problem(tf, gpus, data_format)


def to_host(value):
    return value.numpy()


# --- variables drawn as Keras draws them: glorot_uniform kernels, zero biases ---

def _glorot_uniform(shape):
    receptive_field = int(np.prod(shape[:-2]))  # a conv kernel's window; 1 for a dense one
    limit = np.sqrt(6.0 / (receptive_field * (shape[-2] + shape[-1])))
    return tf.Variable(tf.random.uniform(shape, -limit, limit))


def _orthogonal(rows, columns):
    """A rows x columns matrix (rows <= columns) of orthonormal rows, as Keras's Orthogonal."""
    q, r = tf.linalg.qr(tf.random.normal((columns, rows)))
    return tf.Variable(tf.transpose(q * tf.sign(tf.linalg.diag_part(r))))


def _dense(fan_in, units):
    return {"kernel": _glorot_uniform((fan_in, units)), "bias": tf.Variable(tf.zeros(units))}


def _conv(channels, filters, size=3):
    return {"kernel": _glorot_uniform((size, size, channels, filters)),
            "bias": tf.Variable(tf.zeros(filters))}


def _batch_norm(channels):
    """Keras's BatchNormalization: gamma and beta trained, the moving statistics not."""
    return {"gamma": tf.Variable(tf.ones(channels)), "beta": tf.Variable(tf.zeros(channels)),
            "moving_mean": tf.Variable(tf.zeros(channels), trainable=False),
            "moving_variance": tf.Variable(tf.ones(channels), trainable=False)}


def _channels(input_shape, data_format):
    return input_shape[0] if data_format == "channels_first" else input_shape[-1]


def _init_mlp(input_shape, num_classes, data_format):
    return {"hidden1": _dense(input_shape[0], 512), "hidden2": _dense(512, 512),
            "output": _dense(512, num_classes)}


def _init_cnn(input_shape, num_classes, data_format):
    return {"conv1": _conv(_channels(input_shape, data_format), 32), "conv2": _conv(32, 32),
            "conv3": _conv(32, 64), "conv4": _conv(64, 64),
            "hidden": _dense(cnn_flat_features(input_shape, data_format), 512),
            "output": _dense(512, num_classes)}


def _init_lstm(input_shape, num_classes, data_format, units=128):
    forget_gate_ones = np.zeros(4 * units, "float32")
    forget_gate_ones[units:2 * units] = 1.0  # unit_forget_bias
    return {"lstm": {"kernel": _glorot_uniform((input_shape[1], 4 * units)),
                     "recurrent_kernel": _orthogonal(units, 4 * units),
                     "bias": tf.Variable(forget_gate_ones)},
            "output": _dense(units, num_classes)}


def _init_vgg16(input_shape, num_classes, data_format):
    convs, channels = [], _channels(input_shape, data_format)
    for filters, count in VGG16_BLOCKS:
        block = []
        for _ in range(count):
            block.append(_conv(channels, filters))
            channels = filters
        convs.append(block)
    fan_in, dense = vgg16_flat_features(input_shape, data_format), []
    for units in VGG16_DENSE:
        dense.append(_dense(fan_in, units))
        fan_in = units
    return {"convs": convs, "dense": dense, "output": _dense(fan_in, num_classes)}


def _init_resnet50(input_shape, num_classes, data_format):
    def unit(channels, filters, size=1):
        return {"conv": _conv(channels, filters, size), "bn": _batch_norm(filters)}

    blocks, channels = [], 64
    for filters, _, projection in resnet50_blocks():
        block = {"units": [unit(channels, filters), unit(filters, filters, 3),
                           unit(filters, 4 * filters)]}
        if projection:
            block["shortcut"] = unit(channels, 4 * filters)
        blocks.append(block)
        channels = 4 * filters
    return {"stem": unit(_channels(input_shape, data_format), 64, 7), "blocks": blocks,
            "output": _dense(channels, num_classes)}


# --- the networks: logits from inputs; no dropout and moving statistics unless training ---

class _Ops:
    """tf.nn's image ops in one data format."""

    def __init__(self, data_format):
        self.format = "NCHW" if data_format == "channels_first" else "NHWC"
        self.spatial = [2, 3] if self.format == "NCHW" else [1, 2]

    def conv(self, layer, x, padding="SAME", strides=1, relu=True):
        x = tf.nn.bias_add(tf.nn.conv2d(x, layer["kernel"], strides, padding,
                                        data_format=self.format),
                           layer["bias"], data_format=self.format)
        return tf.nn.relu(x) if relu else x

    def max_pool(self, x, size, strides):
        return tf.nn.max_pool2d(x, size, strides, "VALID", data_format=self.format)

    def zero_pad(self, x, pad):
        paddings = [[0, 0]] * 4
        for axis in self.spatial:
            paddings[axis] = [pad, pad]
        return tf.pad(x, paddings)

    def batch_norm(self, layer, x, training):
        """Batch statistics while training (the moving ones updated as Keras does), else the
        moving ones."""
        shape = [1, -1, 1, 1] if self.format == "NCHW" else [1, 1, 1, -1]
        if training:
            mean, variance = tf.nn.moments(x, [0] + self.spatial)
            for moving, batch in ((layer["moving_mean"], mean),
                                  (layer["moving_variance"], variance)):
                moving.assign(moving * BN_MOMENTUM + batch * (1 - BN_MOMENTUM))
        else:
            mean, variance = layer["moving_mean"], layer["moving_variance"]
        return tf.nn.batch_normalization(
            x, tf.reshape(mean, shape), tf.reshape(variance, shape),
            tf.reshape(layer["beta"], shape), tf.reshape(layer["gamma"], shape), BN_EPSILON)

    def flatten(self, x):
        return tf.reshape(x, (tf.shape(x)[0], -1))


def _dropout(x, rate, training):
    return tf.nn.dropout(x, rate) if training else x


def _apply_dense(layer, x):
    return tf.matmul(x, layer["kernel"]) + layer["bias"]


def _mlp(params, x, training, ops):
    x = _dropout(tf.nn.relu(_apply_dense(params["hidden1"], x)), 0.2, training)
    x = _dropout(tf.nn.relu(_apply_dense(params["hidden2"], x)), 0.2, training)
    return _apply_dense(params["output"], x)


def _cnn(params, x, training, ops):
    for same, valid in (("conv1", "conv2"), ("conv3", "conv4")):
        x = ops.conv(params[valid], ops.conv(params[same], x), "VALID")
        x = _dropout(ops.max_pool(x, 2, 2), 0.25, training)
    x = tf.nn.relu(_apply_dense(params["hidden"], ops.flatten(x)))
    return _apply_dense(params["output"], _dropout(x, 0.5, training))


def _lstm(params, x, training, ops):
    lstm = params["lstm"]
    units = lstm["recurrent_kernel"].shape[0]
    hidden = cell = tf.zeros((tf.shape(x)[0], units))
    # Unrolled over the (fixed) sequence length inside the traced graph, each
    # character's input matmul in its step as Keras's cell does. Unstacked, not
    # sliced: the gradient of 40 slices would be 40 full-size tensors to add.
    for characters in tf.unstack(x, axis=1):
        gates = (tf.matmul(characters, lstm["kernel"])
                 + tf.matmul(hidden, lstm["recurrent_kernel"]) + lstm["bias"])
        i, f, g, o = tf.split(gates, 4, axis=-1)  # Keras's gate order
        cell = tf.sigmoid(f) * cell + tf.sigmoid(i) * tf.tanh(g)
        hidden = tf.sigmoid(o) * tf.tanh(cell)
    return _apply_dense(params["output"], hidden)


def _vgg16(params, x, training, ops):
    for block in params["convs"]:
        for layer in block:
            x = ops.conv(layer, x)
        x = ops.max_pool(x, 2, 2)
    x = ops.flatten(x)
    for layer in params["dense"]:
        x = tf.nn.relu(_apply_dense(layer, x))
    return _apply_dense(params["output"], x)


def _resnet50(params, x, training, ops):
    def unit(layer, x, strides=1, padding="VALID", relu=True):
        x = ops.batch_norm(layer["bn"], ops.conv(layer["conv"], x, padding, strides, False),
                           training)
        return tf.nn.relu(x) if relu else x

    x = unit(params["stem"], ops.zero_pad(x, 3), strides=2)
    x = ops.max_pool(ops.zero_pad(x, 1), 3, 2)
    for block, (_, strides, _) in zip(params["blocks"], resnet50_blocks()):
        first, middle, last = block["units"]
        shortcut = unit(block["shortcut"], x, strides, relu=False) if "shortcut" in block else x
        y = unit(last, unit(middle, unit(first, x, strides), padding="SAME"), relu=False)
        x = tf.nn.relu(shortcut + y)
    return _apply_dense(params["output"], tf.reduce_mean(x, ops.spatial))


NETWORKS = {"mlp": (_init_mlp, _mlp), "cnn": (_init_cnn, _cnn), "lstm": (_init_lstm, _lstm),
            "vgg16": (_init_vgg16, _vgg16), "resnet50": (_init_resnet50, _resnet50)}


def _cross_entropy(logits, y):
    """Keras's categorical cross-entropy of the softmax, from the logits; y is one-hot."""
    return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(y, logits))


def _accuracy(logits, y):
    return tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, -1), tf.argmax(y, -1)), tf.float32))


class Network:
    """One workload's variables, Keras's optimizer and tf.function steps, on the default device."""

    def __init__(self, workload, input_shape, num_classes, gpus, seed, data_format, jit_compile):
        tf.random.set_seed(seed)
        init, apply = NETWORKS[workload]
        ops = _Ops(data_format)
        self.params = init(input_shape, num_classes, data_format)
        self._apply = lambda x, training: apply(self.params, x, training, ops)
        self._jit_compile = jit_compile
        self.variables = [v for v in tf.nest.flatten(self.params) if v.trainable]
        self.predict_step = self._function(lambda x: tf.nn.softmax(self._apply(x, False)))
        self.evaluate_step = self._function(self._evaluate)
        self.train_step = None

    def _function(self, step):
        return tf.function(step, jit_compile=self._jit_compile)

    def count_params(self):
        """Every variable, the moving statistics too, as Keras's count_params counts them."""
        return sum(int(np.prod(v.shape)) for v in tf.nest.flatten(self.params))

    def compile(self, optimizer, learning_rate):
        update = _rmsprop(self.variables, learning_rate) if optimizer == "rmsprop" else \
            _sgd(learning_rate)

        def train(x, y):
            with tf.GradientTape() as tape:
                logits = self._apply(x, True)
                loss = _cross_entropy(logits, y)
            for variable, grad in zip(self.variables, tape.gradient(loss, self.variables)):
                update(variable, grad)
            return {"loss": loss, "accuracy": _accuracy(logits, y)}

        self.train_step = self._function(train)

    def _evaluate(self, x, y):
        logits = self._apply(x, False)
        return {"loss": _cross_entropy(logits, y), "accuracy": _accuracy(logits, y)}


def _sgd(learning_rate):
    """Keras's SGD, no momentum."""
    def update(variable, grad):
        variable.assign_sub(learning_rate * grad)
    return update


def _rmsprop(variables, learning_rate, rho=0.9, epsilon=1e-7):
    """Keras's RMSprop, no momentum: epsilon inside the square root."""
    velocities = {id(v): tf.Variable(tf.zeros_like(v)) for v in variables}

    def update(variable, grad):
        velocity = velocities[id(variable)]
        velocity.assign(rho * velocity + (1 - rho) * tf.square(grad))
        variable.assign_sub(learning_rate * grad / tf.sqrt(velocity + epsilon))
    return update
