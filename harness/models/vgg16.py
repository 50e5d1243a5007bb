"""VGG16 from keras.applications, untrained, 1000 classes (the seeds' VGG16 benchmark)."""
from harness.models import Recipe

RECIPE = Recipe("sgd", 0.01, "categorical_crossentropy")


def build(keras, spec, data):
    return keras.applications.VGG16(weights=None, input_shape=data.input_shape,
                                    classes=data.num_classes)
