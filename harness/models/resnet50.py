"""ResNet50 v1 from keras.applications, untrained, 1000 classes (the seeds' ImageNet and
synthetic tables)."""
from harness.models import Recipe

RECIPE = Recipe("sgd", 0.01, "categorical_crossentropy")


def build(keras, spec, data):
    return keras.applications.ResNet50(weights=None, input_shape=data.input_shape,
                                       classes=data.num_classes)
