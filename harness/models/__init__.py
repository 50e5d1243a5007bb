"""The workloads' networks. A model module knows its architecture and its
training recipe, and nothing about timing or which Keras it runs on: it gets
the `keras` module from the runner and uses calls that Keras 2 and 3 share.
"""
import importlib
from collections import namedtuple

# How the seed trains the model: optimizer name, learning rate, loss.
Recipe = namedtuple("Recipe", "optimizer learning_rate loss")


def build(spec, keras, data):
    """(model, recipe) for `spec.model`, shaped for `data`."""
    module = importlib.import_module("harness.models." + spec.model)
    return module.build(keras, spec, data), module.RECIPE


def classifier_head(keras, x, num_classes, **dense_options):
    """The softmax output, kept in float32 under mixed precision for a stable loss."""
    x = keras.layers.Dense(num_classes, **dense_options)(x)
    return keras.layers.Activation("softmax", dtype="float32")(x)
