"""ImageNet-style folders of images, decoded batch by batch: the set is too big for memory.

ImageNet needs a licence, so nothing is downloaded: the user points the harness
at a copy laid out as <data dir>/imagenet/train/<class name>/<image files>.
"""
import os

import numpy as np

from harness.datasets import Data, DataError, one_hot, to_format
from harness.datasets import files

try:
    from PIL import Image
except ImportError:  # only this data set needs Pillow; say so when it is asked for
    Image = None

NUM_CLASSES = 1000
EXTENSIONS = (".jpeg", ".jpg", ".png")
# What Pillow raises on a bad image: OSError for most, SyntaxError from some
# decoders (PNG), ValueError for odd modes, DecompressionBombError for huge ones.
DECODE_ERRORS = (OSError, SyntaxError, ValueError) + (
    (Image.DecompressionBombError,) if Image is not None else ())


def load(spec, data_format):
    """Every image under the training folder, labelled by its class folder's sorted position."""
    if Image is None:
        raise DataError("reading ImageNet images needs Pillow: pip install pillow")
    folder = os.path.join(files.data_dir(spec), "imagenet", "train")
    paths, labels, num_folders = list_images(folder)
    return ImageFolderData("imagenet", paths, labels, spec.image_size, data_format,
                           {"folder": folder, "files": len(paths), "classes": num_folders})


def list_images(folder):
    """The image paths, sorted by class folder then file name, their labels, the class count."""
    layout = ("put ImageNet's training images in %s, one folder per class "
              "(train/n01440764/*.JPEG, ...), or point --data-dir (or $BENCH_DATA) at the "
              "folder that holds imagenet/train; ImageNet is not downloaded, as it needs a licence"
              % folder)
    if not os.path.isdir(folder):
        raise DataError("%s does not exist: %s" % (folder, layout))
    classes = sorted(name for name in os.listdir(folder)
                     if os.path.isdir(os.path.join(folder, name)))
    if len(classes) > NUM_CLASSES:
        raise DataError("%s has %d class folders; ResNet50 predicts at most %d classes"
                        % (folder, len(classes), NUM_CLASSES))
    paths, labels = [], []
    for label, name in enumerate(classes):
        class_folder = os.path.join(folder, name)
        images = sorted(entry for entry in os.listdir(class_folder)
                        if entry.lower().endswith(EXTENSIONS))
        paths.extend(os.path.join(class_folder, entry) for entry in images)
        labels.extend([label] * len(images))
    if not paths:
        raise DataError("%s holds no .JPEG, .jpg or .png images in class folders: %s"
                        % (folder, layout))
    return paths, np.array(labels), len(classes)


class ImageFolderData(Data):
    """Images decoded from their files only when a batch asks for them."""

    def __init__(self, name, paths, labels, image_size, data_format, provenance):
        if data_format == "channels_first":
            shape = (3, image_size, image_size)
        else:
            shape = (image_size, image_size, 3)
        Data.__init__(self, name, shape, NUM_CLASSES, len(paths), provenance)
        self._paths, self._labels = paths, labels
        self._image_size, self._data_format = image_size, data_format

    def take(self, ids):
        images = np.stack([self._decode(self._paths[i]) for i in ids]).astype("float32")
        images *= 1 / 255.0
        x = np.ascontiguousarray(to_format(images, self._data_format))
        return x, one_hot(self._labels[ids], self.num_classes)

    def _decode(self, path):
        try:
            with Image.open(path) as image:
                rgb = image.convert("RGB").resize((self._image_size, self._image_size))
                return np.asarray(rgb, dtype="uint8")
        except DECODE_ERRORS as error:
            raise files.corrupt(path, "%s: %s" % (type(error).__name__, error))
