"""The MNIST MLP of Keras's examples and the seeds' talk: 784-512-512-10."""
from harness.models import Recipe, classifier_head

RECIPE = Recipe("rmsprop", 0.001, "categorical_crossentropy")


def build(keras, spec, data):
    layers = keras.layers
    inputs = layers.Input(shape=data.input_shape)
    x = layers.Dropout(0.2)(layers.Dense(512, activation="relu")(inputs))
    x = layers.Dropout(0.2)(layers.Dense(512, activation="relu")(x))
    return keras.models.Model(inputs, classifier_head(keras, x, data.num_classes), name="mlp")
