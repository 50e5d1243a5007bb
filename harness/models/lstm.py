"""The character LSTM of Keras's examples/lstm_text_generation.py (the seeds' RNN table)."""
from harness.models import Recipe, classifier_head

RECIPE = Recipe("rmsprop", 0.01, "categorical_crossentropy")


def build(keras, spec, data):
    inputs = keras.layers.Input(shape=data.input_shape)  # (40 characters, alphabet), one-hot
    x = keras.layers.LSTM(128)(inputs)
    return keras.models.Model(inputs, classifier_head(keras, x, data.num_classes), name="lstm")
