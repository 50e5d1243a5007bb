"""MNIST as Keras ships it: `mnist.npz`, read by the MLP as flat 784-pixel rows."""
import zipfile

import numpy as np

from harness.datasets import ArrayData
from harness.datasets import files

FILENAME = "mnist.npz"
URL = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"
# The digest Keras's own mnist.load_data checks (file_hash in keras/datasets/mnist.py).
SHA256 = "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1"
NUM_CLASSES = 10


def load(spec, data_format):
    """The 60,000 training images as (N, 784) rows scaled to [0, 1], with 10 classes."""
    path = files.fetch(FILENAME, files.data_dir(spec), URL, SHA256)
    images, labels = read(path)
    rows = images.reshape(len(images), -1)
    return ArrayData("mnist", rows, labels, NUM_CLASSES, scale=1 / 255.0,
                     provenance=files.provenance(path, SHA256))


def read(path):
    """x_train and y_train from the npz, checked to be 28x28 uint8 images and labels 0-9."""
    # Read as the zip of .npy members it is, not with np.load: that would take other
    # content as an .npy array or a pickle, and leaks the file when the zip is bad.
    with files.parsing(path), zipfile.ZipFile(path) as archive:
        missing = {"x_train.npy", "y_train.npy"} - set(archive.namelist())
        if missing:
            raise files.corrupt(path, "no array " + ", ".join(sorted(missing)))
        images = _read_array(archive, "x_train.npy")
        labels = _read_array(archive, "y_train.npy")
    if images.dtype != np.uint8 or images.ndim != 3 or images.shape[1:] != (28, 28):
        raise files.corrupt(path, "x_train is %s %s, not (N, 28, 28) uint8"
                            % (images.dtype, images.shape))
    if labels.shape != (len(images),) or labels.dtype.kind not in "iu" or len(labels) == 0:
        raise files.corrupt(path, "y_train is %s %s, not %d integer labels"
                            % (labels.dtype, labels.shape, len(images)))
    if labels.min() < 0 or labels.max() >= NUM_CLASSES:
        raise files.corrupt(path, "y_train holds labels outside 0-%d" % (NUM_CLASSES - 1))
    return images, labels


def _read_array(archive, name):
    with archive.open(name) as member:
        # No pickles: a published npz holds plain arrays, and a pickle could run code.
        return np.lib.format.read_array(member, allow_pickle=False)
