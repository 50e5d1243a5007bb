"""CIFAR-10, python version: `cifar-10-python.tar.gz`, unpacked once beside itself as Keras does."""
import os
import pickle

import numpy as np

from harness.datasets import ArrayData, to_format
from harness.datasets import files

FILENAME = "cifar-10-python.tar.gz"
URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
# The digest Keras's cifar10.load_data checks (file_hash in keras/datasets/cifar10.py);
# the site itself publishes md5 c58f30108f718f92721af3b95e74349a for the same archive.
SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
FOLDER = "cifar-10-batches-py"
TRAIN_BATCHES = ["data_batch_%d" % i for i in range(1, 6)]
NUM_CLASSES = 10
PIXELS = 3 * 32 * 32


def load(spec, data_format):
    """The 50,000 training images, (N, 32, 32, 3) in `data_format`'s order, scaled to [0, 1]."""
    directory = files.data_dir(spec)
    archive = files.fetch(FILENAME, directory, URL, SHA256)
    unpacked = files.safe_extract(archive, directory)
    paths = [os.path.join(unpacked, FOLDER, name) for name in TRAIN_BATCHES]
    missing = [name for name, path in zip(TRAIN_BATCHES, paths) if not os.path.isfile(path)]
    if missing:
        raise files.corrupt(archive, "it holds no %s/%s" % (FOLDER, ", ".join(missing)))
    batches = [read_batch(path) for path in paths]
    planes = np.concatenate([data for data, _ in batches])
    labels = np.concatenate([batch_labels for _, batch_labels in batches])
    # Each row is three 32x32 planes (red, green, blue): make it height, width, channel.
    images = planes.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return ArrayData("cifar10", to_format(images, data_format), labels, NUM_CLASSES,
                     scale=1 / 255.0, provenance=files.provenance(archive, SHA256))


class _BatchUnpickler(pickle.Unpickler):
    """Builds only what a CIFAR-10 batch holds (dicts, lists, bytes, NumPy arrays).

    A user's own copy of the archive is allowed, so its pickles must not be able
    to call arbitrary functions while they load.
    """

    ALLOWED = {("numpy.core.multiarray", "_reconstruct"),  # the published batches (NumPy 1)
               ("numpy._core.multiarray", "_reconstruct"),  # batches pickled again by NumPy 2
               ("numpy", "ndarray"), ("numpy", "dtype"),
               ("_codecs", "encode")}  # bytes in Python 3's protocol 2 pickles

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError("%s.%s is not part of a CIFAR-10 batch" % (module, name))
        return pickle.Unpickler.find_class(self, module, name)


def read_batch(path):
    """A batch's (N, 3072) uint8 pixel rows and its N labels, checked."""
    with files.parsing(path):
        with open(path, "rb") as stream:
            # The batches were pickled by Python 2: their strings load as bytes.
            batch = _BatchUnpickler(stream, encoding="bytes").load()
        data, labels = batch[b"data"], np.asarray(batch[b"labels"])
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 \
            or data.shape[1] != PIXELS:
        raise files.corrupt(path, "its data is not an (N, %d) uint8 array" % PIXELS)
    if labels.shape != (len(data),) or labels.dtype.kind not in "iu" or len(labels) == 0:
        raise files.corrupt(path, "it has %s labels for %d images" % (labels.shape, len(data)))
    if labels.min() < 0 or labels.max() >= NUM_CLASSES:
        raise files.corrupt(path, "its labels are not all in 0-%d" % (NUM_CLASSES - 1))
    return data, labels
