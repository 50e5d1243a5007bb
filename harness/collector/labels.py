"""Names and orders as the seeds write them, and the text that labels a configuration.

Anything unknown keeps its own name and sorts after the known ones.
"""
from collections import OrderedDict

MODELS = ("mlp", "cnn", "resnet", "resnet50", "vgg16", "lstm")
RNN_MODELS = ("lstm",)
MODEL_LABELS = {"mlp": "MLP", "cnn": "Simple CNN", "resnet50": "ResNet50V1",
                "vgg16": "VGG16", "lstm": "LSTM"}
DATASETS = ("cifar10", "imagenet", "synthetic", "mnist", "nietzsche", "wikitext2")
DATASET_LABELS = {"cifar10": "CIFAR-10", "imagenet": "ImageNet", "synthetic": "Synthetic",
                  "mnist": "MNIST", "nietzsche": "Nietzsche", "wikitext2": "WikiText-2"}
DATASET_LINKS = {"cifar10": "https://www.cs.toronto.edu/~kriz/cifar.html",
                 "imagenet": "http://image-net.org"}
BACKEND_LABELS = {"tensorflow": "TensorFlow", "mxnet": "MXNet", "jax": "JAX", "torch": "PyTorch",
                  "native-tensorflow": "TensorFlow (native)", "native-jax": "JAX (native)",
                  "native-torch": "PyTorch (native)", "theano": "Theano", "cntk": "CNTK"}
# native-X is the network written on framework X itself, no Keras: Keras-on-X's reference.
NATIVE_PREFIX = "native-"
METHODS = ("fit", "train_on_batch", "generator")
METHOD_LABELS = {"generator": "fit_generator"}
DATA_FORMAT_LABELS = {"channels_last": "channel last", "channels_first": "channel first"}
# metrics.phases, in the order a run goes through them, with the phases table's headers.
PHASES = OrderedDict((("import_s", "Import"), ("data_s", "Data"), ("build_s", "Build"),
                      ("compile_s", "Compile"), ("first_epoch_s", "First Epoch"),
                      ("warmup_s", "Warm-up"), ("steady_s", "Steady"),
                      ("evaluate_s", "Evaluate"), ("total_s", "Total")))
ERROR_TEXT_LIMIT = 200


def kind_of(identity):
    """Which of the seeds' documents a configuration belongs in: "rnn" or "cnn"."""
    return "rnn" if identity.get("model") in RNN_MODELS else "cnn"


def model_label(identity):
    model = identity.get("model")
    if model == "resnet":
        return "ResNet%sv%s" % (identity.get("resnet_layers"), identity.get("resnet_version"))
    return MODEL_LABELS.get(model, model)


def dataset_label(dataset):
    return DATASET_LABELS.get(dataset, dataset)


def backend_label(backend):
    return BACKEND_LABELS.get(backend, backend)


def blas_label(blas):
    """How Theano called BLAS (environment.blas): 'linked: OpenBLAS 0.3.21
    (libopenblasp-r0.3.21.so)', or 'NumPy C API: OpenBLAS 0.3.20 (...)'."""
    library = blas.get("library")
    parts = []
    if blas.get("version"):
        parts.append("OpenBLAS %s" % blas["version"])
    if library:
        parts.append("(%s)" % library.rsplit("/", 1)[-1])
    elif blas.get("linked"):
        parts.append(str(blas.get("ldflags")))
    return "%s: %s" % ("linked" if blas.get("linked") else "NumPy C API", " ".join(parts) or "?")


def data_format_label(data_format):
    return DATA_FORMAT_LABELS.get(data_format, str(data_format))


def method_label(method):
    return "`%s`" % METHOD_LABELS.get(method, method)


NOT_STATED = "not stated"  # what a published table leaves out


def _stated(identity, name, what, label=str):
    """label(the field's value), or "WHAT not stated" where it is None."""
    value = identity.get(name)
    return "%s %s" % (what, NOT_STATED) if value is None else label(value)


def devices_label(identity):
    """'CPU', '4 CPU devices', '1 GPU', '4 GPUs'; a published row may state only its GPUs
    ('CPU', '4 GPUs') or nothing ('devices not stated')."""
    devices, gpus = identity.get("devices"), identity.get("gpus")
    if devices is None:
        if gpus is None:
            return "devices " + NOT_STATED
        return "CPU" if not gpus else "1 GPU" if gpus == 1 else "%s GPUs" % gpus
    if not gpus:
        return "CPU" if devices == 1 else "%s CPU devices" % devices
    return "1 GPU" if devices == 1 else "%s GPUs" % devices


def workload_label(identity):
    """What backends are compared on: model, data, mode, machine, devices, global batch and
    data format (and whether the profiler slowed it). What a published row does not state
    reads "not stated"."""
    parts = [_stated(identity, "model", "model", lambda _: model_label(identity)),
             _stated(identity, "dataset", "data set", dataset_label),
             _stated(identity, "inference", "mode", lambda infer: "infer" if infer else "train"),
             _stated(identity, "instance", "machine"), devices_label(identity),
             "batch " + _stated(identity, "global_batch_size", "size"),
             _stated(identity, "data_format", "data format", data_format_label)]
    if identity.get("method") not in (None, "fit"):
        parts.append(METHOD_LABELS.get(identity["method"], identity["method"]))
    if identity.get("precision") not in (None, "float32"):
        parts.append(identity["precision"])
    return ", ".join(parts) + (" (profiled)" if identity.get("profile") else "")


def error_text(run):
    """A failed run's error in one line of at most ERROR_TEXT_LIMIT characters."""
    message = str(run.error_message or "").strip().splitlines()
    text = "%s: %s" % (run.error_type, message[0] if message else "")
    return text if len(text) <= ERROR_TEXT_LIMIT else text[:ERROR_TEXT_LIMIT - 3] + "..."
