"""Data for the workloads, as plain NumPy: the same bytes reach every backend.

`load(spec, data_format, steps_per_epoch)` returns a Data object, whatever the
source; the runner asks it for whole arrays (`--method fit`) or batch by batch
(`train_on_batch`, `generator`). Real data sets live in their own modules and
are imported only when asked for.
"""
import hashlib
import importlib

import numpy as np

# Above this, `--method fit` would hold too much in memory: stream instead.
MAX_ARRAY_BYTES = 4 << 30

# The seeds' character LSTM (keras examples/lstm_text_generation.py).
TEXT_MAXLEN = 40
TEXT_STEP = 3


class DataError(RuntimeError):
    """A data set that is missing, corrupt or unusable; the message says what to do."""


class Data:
    """A data set in the model's input form: float32 inputs, one-hot float32 labels."""

    def __init__(self, name, input_shape, num_classes, num_samples, provenance=None):
        self.name = name
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.num_samples = num_samples
        self.provenance = provenance or {}  # files read and their checksums, for the result

    def batch(self, index, batch_size):
        """The `index`-th batch of `batch_size` samples, wrapping around at the end."""
        ids = (np.arange(batch_size) + index * batch_size) % self.num_samples
        return self.take(ids)

    def sample_bytes(self):
        """Bytes of one sample as the model reads it: float32 inputs and one-hot label."""
        return (int(np.prod(self.input_shape)) + self.num_classes) * 4

    def arrays(self, count):
        """The first `count` samples as two in-memory arrays (wrapping around at the end)."""
        size = count * self.sample_bytes()
        if size > MAX_ARRAY_BYTES:
            raise DataError("%d samples of %s need %.1f GiB in memory; use --method generator or "
                            "train_on_batch, or fewer --steps-per-epoch"
                            % (count, self.name, size / float(1 << 30)))
        return self.take(np.arange(count) % self.num_samples)

    def take(self, ids):
        raise NotImplementedError


class ArrayData(Data):
    """Samples already in memory: images (N, ...) as uint8 or float32, labels as ints."""

    def __init__(self, name, x, labels, num_classes, scale=1.0, provenance=None):
        Data.__init__(self, name, x.shape[1:], num_classes, len(x), provenance)
        self._x, self._labels, self._scale = x, labels, scale

    def take(self, ids):
        x = self._x[ids].astype("float32")
        if self._scale != 1.0:
            x *= self._scale
        return x, one_hot(self._labels[ids], self.num_classes)


class TextData(Data):
    """Character windows over a text: TEXT_MAXLEN one-hot characters predict the next one.

    The text is kept as character indices; one-hot windows are made per batch,
    so even WikiText-2 fits in memory.
    """

    def __init__(self, name, text, provenance=None, alphabet=None):
        chars = sorted(set(text)) if alphabet is None else list(alphabet)
        index = {c: i for i, c in enumerate(chars)}
        self._codes = np.array([index[c] for c in text], dtype="int32")
        starts = np.arange(0, len(text) - TEXT_MAXLEN, TEXT_STEP)
        if len(starts) == 0:
            raise DataError("%s holds %d characters, fewer than one window of %d"
                            % (name, len(text), TEXT_MAXLEN + 1))
        self._starts = starts
        Data.__init__(self, name, (TEXT_MAXLEN, len(chars)), len(chars), len(starts), provenance)

    def take(self, ids):
        starts = self._starts[ids]
        windows = self._codes[starts[:, None] + np.arange(TEXT_MAXLEN + 1)]
        x = one_hot(windows[:, :TEXT_MAXLEN], self.num_classes)
        return x, one_hot(windows[:, TEXT_MAXLEN], self.num_classes)


def fingerprint(data, batch_size):
    """A digest of the first batch: equal on every backend that was fed the same bytes."""
    x, y = data.batch(0, batch_size)
    return hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest()[:16]


def one_hot(labels, num_classes):
    return np.eye(num_classes, dtype="float32")[labels]


def to_format(images, data_format):
    """(N, H, W, C) images in the order the model expects."""
    return images.transpose(0, 3, 1, 2) if data_format == "channels_first" else images


# --- synthetic data: the real shapes, dtypes and class counts, drawn from the seed ---

# Characters of the Nietzsche text's alphabet size, so the synthetic LSTM has its shape.
SYNTHETIC_ALPHABET = "\n !\"'(),-.0123456789:;=?[]_abcdefghijklmnopqrstuvwxyz"


def synthetic(spec, data_format, count):
    """`count` random samples shaped like the workload's real data set."""
    rng = np.random.RandomState(spec.seed)
    model = spec.model
    if model == "lstm":
        codes = rng.randint(0, len(SYNTHETIC_ALPHABET), (count - 1) * TEXT_STEP + TEXT_MAXLEN + 1)
        text = "".join(SYNTHETIC_ALPHABET[c] for c in codes)
        return TextData("synthetic", text, alphabet=SYNTHETIC_ALPHABET)
    if model == "mlp":
        shape, classes = (784,), 10
    elif model in ("cnn", "resnet"):
        shape, classes = (32, 32, 3), 10
    else:  # resnet50, vgg16: ImageNet-sized
        shape, classes = (spec.image_size, spec.image_size, 3), 1000
    x = rng.randint(0, 256, (count,) + shape).astype("uint8")
    if len(shape) == 3:
        x = to_format(x, data_format)
    labels = rng.randint(0, classes, count)
    return ArrayData("synthetic", x, labels, classes, scale=1 / 255.0)


def load(spec, data_format, steps_per_epoch, batch_size=None):
    """The data set `spec.dataset` in the form `spec.model` reads (synthetic:
    `steps_per_epoch` global batches of `batch_size`, by default spec.batch_size)."""
    if spec.dataset == "synthetic":
        return synthetic(spec, data_format, steps_per_epoch * (batch_size or spec.batch_size))
    module = importlib.import_module("harness.datasets." + spec.dataset)
    return module.load(spec, data_format)
