"""The mlp, cnn and lstm workloads as PyTorch nn.Modules, initialised and trained as Keras does.

torch.compile is used only when BENCH_TORCH_COMPILE=1 (it is recorded in the
result as `torch_compile`): eager PyTorch is the plain baseline.
"""
import os

import torch
import torch.nn.functional as F
from torch import nn

from harness.backends.native import cnn_flat_features

DATA_FORMAT = "channels_first"  # what PyTorch's convolutions take
COMPILE = os.environ.get("BENCH_TORCH_COMPILE") == "1"


def visible_gpus():
    return torch.cuda.device_count()


def describe(gpus):
    return {
        "cuda": torch.version.cuda,
        "cudnn": torch.backends.cudnn.version() if torch.backends.cudnn.is_available() else None,
        "devices": ["cuda:%d %s" % (i, torch.cuda.get_device_name(i))
                    for i in range(torch.cuda.device_count())] or ["cpu"],
        "threads": torch.get_num_threads(),
        "torch_compile": COMPILE,
    }


def to_host(value):
    return value.detach().cpu().numpy()


def wait(values, gpus):
    """Bring `values` to the host, then let the GPU finish what was queued after them."""
    for value in values:
        to_host(value)
    if gpus:
        torch.cuda.synchronize()


# --- layers initialised as Keras's: glorot_uniform kernels, zero biases ---

def _dense(fan_in, units):
    layer = nn.Linear(fan_in, units)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


def _conv(channels, filters, padding):
    layer = nn.Conv2d(channels, filters, 3, padding=padding)
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
        nn.Flatten(), _dense(cnn_flat_features(input_shape, DATA_FORMAT), 512), nn.ReLU(),
        nn.Dropout(0.5), _dense(512, num_classes)]))


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


BUILDERS = {"mlp": _mlp, "cnn": _cnn, "lstm": _CharLSTM}


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

    def __init__(self, workload, input_shape, num_classes, gpus, seed):
        torch.manual_seed(seed)
        self.device = torch.device("cuda" if gpus else "cpu")
        self.module = BUILDERS[workload](input_shape, num_classes).to(self.device)
        self.forward = torch.compile(self.module) if COMPILE else self.module
        self.optimizer = None

    def count_params(self):
        return sum(p.numel() for p in self._trained())

    def compile(self, learning_rate):
        self.optimizer = RMSprop(self._trained(), lr=learning_rate)

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
