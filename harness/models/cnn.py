"""The "simple CNN" of Keras's examples/cifar10_cnn.py, as the seeds' CIFAR-10 table ran it."""
from harness.models import Recipe, classifier_head

# The example's RMSprop(lr=1e-4, decay=1e-6); Keras 3 optimizers have no `decay`,
# and six decimal places of schedule change no step's cost.
RECIPE = Recipe("rmsprop", 0.0001, "categorical_crossentropy")


def build(keras, spec, data):
    layers = keras.layers
    inputs = layers.Input(shape=data.input_shape)
    x = inputs
    for filters in (32, 64):
        x = layers.Conv2D(filters, (3, 3), padding="same", activation="relu")(x)
        x = layers.Conv2D(filters, (3, 3), activation="relu")(x)
        x = layers.Dropout(0.25)(layers.MaxPooling2D(pool_size=(2, 2))(x))
    x = layers.Dense(512, activation="relu")(layers.Flatten()(x))
    x = layers.Dropout(0.5)(x)
    return keras.models.Model(inputs, classifier_head(keras, x, data.num_classes), name="cnn")
