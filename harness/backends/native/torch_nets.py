"""The workloads as PyTorch nn.Modules, initialised and trained as Keras does.

Eager unless --jit-compile on, which compiles the network with torch.compile
(its forward and, through AOTAutograd, its backward pass).
"""
import shutil

import torch
import torch.nn.functional as F
from torch import nn

from harness.backends.native import (BN_EPSILON, BN_MOMENTUM, VGG16_BLOCKS, VGG16_DENSE,
                                     cnn_flat_features, resnet50_blocks, vgg16_flat_features)

DATA_FORMATS = ("channels_first",)  # what PyTorch's convolutions take
COMPILER = "torch.compile (inductor)"
DESCRIPTION = {}  # beyond the framework's own (frameworks.torch.describe)


def resolve_jit_compile(requested, gpus):
    """"auto" is Keras's rule for PyTorch: eager."""
    return "on" if requested == "on" else "off"


def unsupported(gpus, jit_compile, data_format):
    # Inductor writes C++ for the CPU and builds it with the system's compiler.
    if jit_compile == "on" and not gpus and not (shutil.which("g++") or shutil.which("c++")):
        return "torch.compile on the CPU builds C++ and no C++ compiler (g++, c++) is on PATH"
    return None


def to_host(value):
    return value.detach().cpu().numpy()


# --- layers initialised as Keras's: glorot_uniform kernels, zero biases ---

def _dense(fan_in, units):
    layer = nn.Linear(fan_in, units)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def _conv(channels, filters, padding="same", size=3, stride=1):
    layer = nn.Conv2d(channels, filters, size, stride=stride, padding=padding)
    nn.init.xavier_uniform_(layer.weight)  # fans over the 3x3 window, as Keras counts them
    nn.init.zeros_(layer.bias)
    return layer


def _mlp(input_shape, num_classes):
    return nn.Sequential(_dense(input_shape[0], 512), nn.ReLU(), nn.Dropout(0.2),
                         _dense(512, 512), nn.ReLU(), nn.Dropout(0.2),
                         _dense(512, num_classes))


def _cnn(input_shape, num_classes):
    layers, channels = [], input_shape[0]
    for filters in (32, 64):
        layers += [_conv(channels, filters, "same"), nn.ReLU(), _conv(filters, filters, "valid"),
                   nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25)]
        channels = filters
    return nn.Sequential(*(layers + [
        nn.Flatten(), _dense(cnn_flat_features(input_shape, DATA_FORMATS[0]), 512), nn.ReLU(),
        nn.Dropout(0.5), _dense(512, num_classes)]))


def _vgg16(input_shape, num_classes):
    layers, channels = [], input_shape[0]
    for filters, count in VGG16_BLOCKS:
        for _ in range(count):
            layers += [_conv(channels, filters), nn.ReLU()]
            channels = filters
        layers.append(nn.MaxPool2d(2))
    layers.append(nn.Flatten())
    fan_in = vgg16_flat_features(input_shape, DATA_FORMATS[0])
    for units in VGG16_DENSE:
        layers += [_dense(fan_in, units), nn.ReLU()]
        fan_in = units
    return nn.Sequential(*(layers + [_dense(fan_in, num_classes)]))


def _unit(channels, filters, size=1, stride=1, relu=True):
    """Conv, Keras's BatchNormalization (PyTorch counts momentum the other way round), ReLU."""
    layers = [_conv(channels, filters, "same" if size == 3 else "valid", size, stride),
              nn.BatchNorm2d(filters, eps=BN_EPSILON, momentum=1 - BN_MOMENTUM)]
    return nn.Sequential(*(layers + [nn.ReLU()] if relu else layers))


class _Bottleneck(nn.Module):
    """keras.applications' ResNet50 block: the stride in the first 1x1 convolution."""

    def __init__(self, channels, filters, stride, projection):
        nn.Module.__init__(self)
        self.residual = nn.Sequential(_unit(channels, filters, stride=stride),
                                      _unit(filters, filters, 3),
                                      _unit(filters, 4 * filters, relu=False))
        self.shortcut = (_unit(channels, 4 * filters, stride=stride, relu=False) if projection
                         else nn.Identity())

    def forward(self, x):
        return F.relu(self.shortcut(x) + self.residual(x))


def _resnet50(input_shape, num_classes):
    layers, channels = [nn.ZeroPad2d(3), _unit(input_shape[0], 64, 7, 2), nn.ZeroPad2d(1),
                        nn.MaxPool2d(3, 2)], 64
    for filters, stride, projection in resnet50_blocks():
        layers.append(_Bottleneck(channels, filters, stride, projection))
        channels = 4 * filters
    return nn.Sequential(*(layers + [nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                                     _dense(channels, num_classes)]))


class _CharLSTM(nn.Module):
    """LSTM(128) over the characters, then the classifier on its last output.

    Keras's LSTM has one bias per gate, PyTorch's two (input and hidden): the
    second is held at zero and not trained, so the network is Keras's.
    """

    def __init__(self, input_shape, num_classes, units=128):
        nn.Module.__init__(self)
        self.lstm = nn.LSTM(input_shape[1], units, batch_first=True)
        nn.init.xavier_uniform_(self.lstm.weight_ih_l0)
        nn.init.orthogonal_(self.lstm.weight_hh_l0)
        with torch.no_grad():
            self.lstm.bias_ih_l0.zero_()
            self.lstm.bias_ih_l0[units:2 * units] = 1.0  # unit_forget_bias; gates i, f, g, o
            self.lstm.bias_hh_l0.zero_()
        self.lstm.bias_hh_l0.requires_grad_(False)
        self.output_layer = _dense(units, num_classes)

    def forward(self, x):
        _, (hidden, _) = self.lstm(x)
        return self.output_layer(hidden[-1])


BUILDERS = {"mlp": _mlp, "cnn": _cnn, "lstm": _CharLSTM, "vgg16": _vgg16,
            "resnet50": _resnet50}


class RMSprop(torch.optim.Optimizer):
    """Keras's RMSprop (rho 0.9, epsilon 1e-7, no momentum): p -= lr * g / sqrt(v + epsilon).

    torch.optim.RMSprop adds epsilon after the square root, which takes
    different steps while v is small; Keras's torch backend updates this way.
    """

    def __init__(self, params, lr, rho=0.9, epsilon=1e-7):
        torch.optim.Optimizer.__init__(self, params, dict(lr=lr, rho=rho, epsilon=epsilon))

    @torch.no_grad()
    def step(self):
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            grads = [p.grad for p in params]
            velocities = [self._velocity(p) for p in params]
            torch._foreach_mul_(velocities, group["rho"])
            torch._foreach_addcmul_(velocities, grads, grads, value=1 - group["rho"])
            denominators = torch._foreach_add(velocities, group["epsilon"])
            torch._foreach_sqrt_(denominators)
            torch._foreach_addcdiv_(params, grads, denominators, value=-group["lr"])

    def _velocity(self, param):
        state = self.state[param]
        if "velocity" not in state:
            state["velocity"] = torch.zeros_like(param)
        return state["velocity"]


def _cross_entropy(logits, y):
    """Keras's categorical cross-entropy of the softmax, from the logits; y is one-hot."""
    return -(y * F.log_softmax(logits, dim=-1)).sum(dim=-1).mean()


def _accuracy(logits, y):
    return (logits.argmax(dim=-1) == y.argmax(dim=-1)).float().mean()


class Network:
    """One workload's network, its optimizer and its steps, on the CPU or the first GPU."""

    def __init__(self, workload, input_shape, num_classes, gpus, seed, data_format, jit_compile):
        torch.manual_seed(seed)
        self.device = torch.device("cuda" if gpus else "cpu")
        self.module = BUILDERS[workload](input_shape, num_classes).to(self.device)
        self.forward = torch.compile(self.module) if jit_compile else self.module
        self.optimizer = None

    def count_params(self):
        """Trained parameters and moving statistics, as Keras's count_params counts them."""
        moving = [b for name, b in self.module.named_buffers()
                  if name.endswith(("running_mean", "running_var"))]
        return sum(p.numel() for p in self._trained() + moving)

    def compile(self, optimizer, learning_rate):
        # Keras's SGD has no momentum by default, as torch's.
        self.optimizer = (RMSprop(self._trained(), lr=learning_rate) if optimizer == "rmsprop"
                          else torch.optim.SGD(self._trained(), lr=learning_rate))

    def train_step(self, x, y):
        self.module.train()
        x, y = self._tensor(x), self._tensor(y)
        logits = self.forward(x)
        loss = _cross_entropy(logits, y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return {"loss": loss.detach(), "accuracy": _accuracy(logits.detach(), y)}

    @torch.no_grad()
    def predict_step(self, x):
        self.module.eval()
        return F.softmax(self.forward(self._tensor(x)), dim=-1)

    @torch.no_grad()
    def evaluate_step(self, x, y):
        self.module.eval()
        logits, y = self.forward(self._tensor(x)), self._tensor(y)
        return {"loss": _cross_entropy(logits, y), "accuracy": _accuracy(logits, y)}

    def _trained(self):
        return [p for p in self.module.parameters() if p.requires_grad]

    def _tensor(self, array):
        return torch.as_tensor(array, device=self.device)
