"""The mlp, cnn and lstm workloads on TensorFlow's own ops: tf.Variables, tf.nn
layers and a tf.function step, no Keras; initialised and trained as Keras does."""
import numpy as np
import tensorflow as tf

from harness.backends.native import cnn_flat_features

DATA_FORMAT = "channels_last"  # TensorFlow's CPU convolutions take NHWC only


def visible_gpus():
    return len(tf.config.list_physical_devices("GPU"))


def describe(gpus):
    build = tf.sysconfig.get_build_info()
    return {
        "cuda": build.get("cuda_version"),
        "cudnn": build.get("cudnn_version"),
        "devices": [d.name for d in tf.config.list_logical_devices()],
    }


def to_host(value):
    return value.numpy()


def wait(values, gpus):
    """Bring `values` to the host, then let the GPU finish what was queued after them."""
    for value in values:
        to_host(value)
    if gpus:
        tf.test.experimental.sync_devices()


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


def _conv(channels, filters):
    return {"kernel": _glorot_uniform((3, 3, channels, filters)),
            "bias": tf.Variable(tf.zeros(filters))}


def _init_mlp(input_shape, num_classes):
    return {"hidden1": _dense(input_shape[0], 512), "hidden2": _dense(512, 512),
            "output": _dense(512, num_classes)}


def _init_cnn(input_shape, num_classes):
    return {"conv1": _conv(input_shape[-1], 32), "conv2": _conv(32, 32),
            "conv3": _conv(32, 64), "conv4": _conv(64, 64),
            "hidden": _dense(cnn_flat_features(input_shape, DATA_FORMAT), 512),
            "output": _dense(512, num_classes)}


def _init_lstm(input_shape, num_classes, units=128):
    forget_gate_ones = np.zeros(4 * units, "float32")
    forget_gate_ones[units:2 * units] = 1.0  # unit_forget_bias
    return {"lstm": {"kernel": _glorot_uniform((input_shape[1], 4 * units)),
                     "recurrent_kernel": _orthogonal(units, 4 * units),
                     "bias": tf.Variable(forget_gate_ones)},
            "output": _dense(units, num_classes)}


# --- the networks: logits from inputs; no dropout unless training ---

def _dropout(x, rate, training):
    return tf.nn.dropout(x, rate) if training else x


def _apply_dense(layer, x):
    return tf.matmul(x, layer["kernel"]) + layer["bias"]


def _apply_conv(layer, x, padding):
    return tf.nn.relu(tf.nn.conv2d(x, layer["kernel"], 1, padding) + layer["bias"])


def _mlp(params, x, training):
    x = _dropout(tf.nn.relu(_apply_dense(params["hidden1"], x)), 0.2, training)
    x = _dropout(tf.nn.relu(_apply_dense(params["hidden2"], x)), 0.2, training)
    return _apply_dense(params["output"], x)


def _cnn(params, x, training):
    for same, valid in (("conv1", "conv2"), ("conv3", "conv4")):
        x = _apply_conv(params[valid], _apply_conv(params[same], x, "SAME"), "VALID")
        x = _dropout(tf.nn.max_pool2d(x, 2, 2, "VALID"), 0.25, training)
    x = tf.nn.relu(_apply_dense(params["hidden"], tf.reshape(x, (tf.shape(x)[0], -1))))
    return _apply_dense(params["output"], _dropout(x, 0.5, training))


def _lstm(params, x, training):
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


NETWORKS = {"mlp": (_init_mlp, _mlp), "cnn": (_init_cnn, _cnn), "lstm": (_init_lstm, _lstm)}


def _cross_entropy(logits, y):
    """Keras's categorical cross-entropy of the softmax, from the logits; y is one-hot."""
    return tf.reduce_mean(tf.nn.softmax_cross_entropy_with_logits(y, logits))


def _accuracy(logits, y):
    return tf.reduce_mean(tf.cast(tf.equal(tf.argmax(logits, -1), tf.argmax(y, -1)), tf.float32))


class Network:
    """One workload's variables, Keras's RMSprop and tf.function steps, on the default device."""

    def __init__(self, workload, input_shape, num_classes, gpus, seed):
        tf.random.set_seed(seed)
        init, self._apply = NETWORKS[workload]
        self.params = init(input_shape, num_classes)
        self.variables = tf.nest.flatten(self.params)
        self.predict_step = tf.function(
            lambda x: tf.nn.softmax(self._apply(self.params, x, False)))
        self.evaluate_step = tf.function(self._evaluate)
        self.train_step = None

    def count_params(self):
        return sum(int(np.prod(v.shape)) for v in self.variables)

    def compile(self, learning_rate):
        velocities = [tf.Variable(tf.zeros_like(v)) for v in self.variables]
        rho, epsilon = 0.9, 1e-7

        def train(x, y):
            with tf.GradientTape() as tape:
                logits = self._apply(self.params, x, True)
                loss = _cross_entropy(logits, y)
            grads = tape.gradient(loss, self.variables)
            for variable, velocity, grad in zip(self.variables, velocities, grads):
                # Keras's RMSprop, no momentum: epsilon inside the square root.
                velocity.assign(rho * velocity + (1 - rho) * tf.square(grad))
                variable.assign_sub(learning_rate * grad / tf.sqrt(velocity + epsilon))
            return {"loss": loss, "accuracy": _accuracy(logits, y)}

        self.train_step = tf.function(train)

    def _evaluate(self, x, y):
        logits = self._apply(self.params, x, False)
        return {"loss": _cross_entropy(logits, y), "accuracy": _accuracy(logits, y)}
