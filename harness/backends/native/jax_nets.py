"""The mlp, cnn and lstm workloads as JAX functions of a parameter tree, trained
with optax's RMSprop in one jitted step, initialised as Keras does."""
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax import lax

from harness.backends.native import cnn_flat_features

DATA_FORMAT = "channels_last"  # Keras's default, and XLA's preferred layout on CPU and GPU
_glorot_uniform = jax.nn.initializers.glorot_uniform()  # fans over a conv window, as Keras's
_orthogonal = jax.nn.initializers.orthogonal()


def visible_gpus():
    return sum(d.platform in ("gpu", "cuda", "rocm") for d in jax.devices())


def describe(gpus):
    import jaxlib
    return {
        "jaxlib_version": jaxlib.__version__,
        "optax_version": optax.__version__,
        "devices": [str(d) for d in jax.devices()],
        "cuda": jax.devices()[0].client.platform_version if gpus else None,
        "cudnn": None,
    }


def to_host(value):
    return np.asarray(value)


def wait(values, gpus):
    """Bring `values` to the host: a jitted step's outputs are ready only once all of it has run."""
    for value in values:
        to_host(value)


# --- parameters, drawn as Keras draws them: glorot_uniform kernels, zero biases ---

def _dense(key, fan_in, units):
    return {"kernel": _glorot_uniform(key, (fan_in, units)), "bias": jnp.zeros(units)}


def _conv(key, channels, filters):
    return {"kernel": _glorot_uniform(key, (3, 3, channels, filters)), "bias": jnp.zeros(filters)}


def _init_mlp(key, input_shape, num_classes):
    keys = jax.random.split(key, 3)
    return {"hidden1": _dense(keys[0], input_shape[0], 512), "hidden2": _dense(keys[1], 512, 512),
            "output": _dense(keys[2], 512, num_classes)}


def _init_cnn(key, input_shape, num_classes):
    keys = jax.random.split(key, 6)
    return {"conv1": _conv(keys[0], input_shape[-1], 32), "conv2": _conv(keys[1], 32, 32),
            "conv3": _conv(keys[2], 32, 64), "conv4": _conv(keys[3], 64, 64),
            "hidden": _dense(keys[4], cnn_flat_features(input_shape, DATA_FORMAT), 512),
            "output": _dense(keys[5], 512, num_classes)}


def _init_lstm(key, input_shape, num_classes, units=128):
    keys = jax.random.split(key, 3)
    forget_gate_ones = jnp.zeros(4 * units).at[units:2 * units].set(1.0)  # unit_forget_bias
    return {"lstm": {"kernel": _glorot_uniform(keys[0], (input_shape[1], 4 * units)),
                     "recurrent_kernel": _orthogonal(keys[1], (units, 4 * units)),
                     "bias": forget_gate_ones},
            "output": _dense(keys[2], units, num_classes)}


# --- the networks: logits from inputs; `key` is None for inference (no dropout) ---

def _dropout(x, rate, key, site):
    if key is None:
        return x
    keep = jax.random.bernoulli(jax.random.fold_in(key, site), 1.0 - rate, x.shape)
    return jnp.where(keep, x / (1.0 - rate), 0.0)


def _apply_dense(layer, x):
    return x @ layer["kernel"] + layer["bias"]


def _apply_conv(layer, x, padding):
    y = lax.conv_general_dilated(x, layer["kernel"], (1, 1), padding,
                                 dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return jax.nn.relu(y + layer["bias"])


def _max_pool(x):
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


def _mlp(params, x, key):
    x = _dropout(jax.nn.relu(_apply_dense(params["hidden1"], x)), 0.2, key, 0)
    x = _dropout(jax.nn.relu(_apply_dense(params["hidden2"], x)), 0.2, key, 1)
    return _apply_dense(params["output"], x)


def _cnn(params, x, key):
    for site, (same, valid) in enumerate((("conv1", "conv2"), ("conv3", "conv4"))):
        x = _apply_conv(params[valid], _apply_conv(params[same], x, "SAME"), "VALID")
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


NETWORKS = {"mlp": (_init_mlp, _mlp), "cnn": (_init_cnn, _cnn), "lstm": (_init_lstm, _lstm)}


def _cross_entropy(logits, y):
    """Keras's categorical cross-entropy of the softmax, from the logits; y is one-hot."""
    return -jnp.mean(jnp.sum(y * jax.nn.log_softmax(logits), axis=-1))


def _accuracy(logits, y):
    return jnp.mean(jnp.argmax(logits, -1) == jnp.argmax(y, -1))


def _metrics(logits, y):
    return {"loss": _cross_entropy(logits, y), "accuracy": _accuracy(logits, y)}


class Network:
    """One workload's parameters, optimizer state and jitted steps, on JAX's default device."""

    def __init__(self, workload, input_shape, num_classes, gpus, seed):
        init, self._apply = NETWORKS[workload]
        init_key, self._dropout_key = jax.random.split(jax.random.PRNGKey(seed))
        self.params = init(init_key, input_shape, num_classes)
        self._predict = jax.jit(lambda params, x: jax.nn.softmax(self._apply(params, x, None)))
        self._evaluate = jax.jit(lambda params, x, y: _metrics(self._apply(params, x, None), y))
        self.opt_state = self._train = None

    def count_params(self):
        return sum(int(leaf.size) for leaf in jax.tree_util.tree_leaves(self.params))

    def compile(self, learning_rate):
        # Keras's RMSprop: optax also puts epsilon inside the square root.
        optimizer = optax.rmsprop(learning_rate, decay=0.9, eps=1e-7, eps_in_sqrt=True)
        apply = self._apply

        def train(params, opt_state, key, x, y):
            key, dropout_key = jax.random.split(key)

            def loss(p):
                logits = apply(p, x, dropout_key)
                return _cross_entropy(logits, y), logits

            (value, logits), grads = jax.value_and_grad(loss, has_aux=True)(params)
            updates, opt_state = optimizer.update(grads, opt_state, params)
            outputs = {"loss": value, "accuracy": _accuracy(logits, y)}
            return optax.apply_updates(params, updates), opt_state, key, outputs

        self.opt_state = optimizer.init(self.params)
        # The old parameters and state are not needed after a step: update them in place.
        self._train = jax.jit(train, donate_argnums=(0, 1, 2))

    def train_step(self, x, y):
        self.params, self.opt_state, self._dropout_key, outputs = self._train(
            self.params, self.opt_state, self._dropout_key, x, y)
        return outputs

    def predict_step(self, x):
        return self._predict(self.params, x)

    def evaluate_step(self, x, y):
        return self._evaluate(self.params, x, y)
