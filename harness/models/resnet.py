"""ResNet v1 and v2 for CIFAR-10 (He et al. 2015 and 2016), as Keras's
examples/cifar10_resnet.py builds them and the seed's benchmark_resnet.py ran them.

Depth is 6n+2 for v1 and 9n+2 for v2; 20, 56 and 110 fit both.
"""
from harness.models import Recipe, classifier_head

RECIPE = Recipe("adam", 0.001, "categorical_crossentropy")


def build(keras, spec, data):
    builder = _resnet_v1 if spec.resnet_version == 1 else _resnet_v2
    inputs = keras.layers.Input(shape=data.input_shape)
    features = builder(_Layers(keras), inputs, spec.resnet_layers)
    x = keras.layers.Flatten()(keras.layers.AveragePooling2D(pool_size=8)(features))
    outputs = classifier_head(keras, x, data.num_classes, kernel_initializer="he_normal")
    return keras.models.Model(inputs, outputs, name="resnet%dv%d" % (spec.resnet_layers,
                                                                     spec.resnet_version))


class _Layers:
    """The example's conv-BN-ReLU unit, with the channel axis of the data format."""

    def __init__(self, keras):
        self.keras = keras
        self.channel_axis = 1 if keras.backend.image_data_format() == "channels_first" else -1

    def unit(self, x, filters=16, kernel_size=3, strides=1, activation="relu",
             batch_normalization=True, conv_first=True):
        layers = self.keras.layers
        conv = layers.Conv2D(filters, kernel_size=kernel_size, strides=strides, padding="same",
                             kernel_initializer="he_normal",
                             kernel_regularizer=self.keras.regularizers.l2(1e-4))
        if conv_first:
            x = conv(x)
        if batch_normalization:
            x = layers.BatchNormalization(axis=self.channel_axis)(x)
        if activation is not None:
            x = layers.Activation(activation)(x)
        return x if conv_first else conv(x)

    def add(self, a, b):
        return self.keras.layers.add([a, b])


def _resnet_v1(L, inputs, depth):
    blocks = (depth - 2) // 6
    filters = 16
    x = L.unit(inputs)
    for stack in range(3):
        for block in range(blocks):
            downsample = stack > 0 and block == 0
            strides = 2 if downsample else 1
            y = L.unit(x, filters, strides=strides)
            y = L.unit(y, filters, activation=None)
            if downsample:  # a 1x1 projection so the shortcut matches the new shape
                x = L.unit(x, filters, kernel_size=1, strides=strides, activation=None,
                           batch_normalization=False)
            x = L.keras.layers.Activation("relu")(L.add(x, y))
        filters *= 2
    return x


def _resnet_v2(L, inputs, depth):
    blocks = (depth - 2) // 9
    filters_in = 16
    x = L.unit(inputs, filters_in, conv_first=True)
    for stage in range(3):
        for block in range(blocks):
            activation, batch_normalization, strides = "relu", True, 1
            if stage == 0:
                filters_out = filters_in * 4
                if block == 0:  # the first unit follows the stem's BN-ReLU directly
                    activation, batch_normalization = None, False
            else:
                filters_out = filters_in * 2
                if block == 0:
                    strides = 2
            # Bottleneck: 1x1, 3x3, 1x1, each pre-activated.
            y = L.unit(x, filters_in, kernel_size=1, strides=strides, activation=activation,
                       batch_normalization=batch_normalization, conv_first=False)
            y = L.unit(y, filters_in, conv_first=False)
            y = L.unit(y, filters_out, kernel_size=1, conv_first=False)
            if block == 0:
                x = L.unit(x, filters_out, kernel_size=1, strides=strides, activation=None,
                           batch_normalization=False)
            x = L.add(x, y)
        filters_in = filters_out
    x = L.keras.layers.BatchNormalization(axis=L.channel_axis)(x)
    return L.keras.layers.Activation("relu")(x)
