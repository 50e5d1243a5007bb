"""Keras 2's keras.json, read as it is imported: one of this run's own."""
import contextlib
import json
import os
import shutil
import tempfile


@contextlib.contextmanager
def own_keras_config(backend):
    """Import Keras 2 with a config folder of this run's own, whose keras.json names
    `backend`: Keras shares ~/.keras/keras.json (or $KERAS_HOME's) between versions, and
    one written by keras-mxnet ("backend": "mxnet") made Keras 2.1.5 fail with a bare
    AssertionError before it read KERAS_BACKEND. The user's image_data_format and epsilon
    are kept. Keras 2 reads keras.json only when imported; HOME (Keras 2.1) and KERAS_HOME
    (keras-mxnet) are the user's again after it."""
    settings = {"floatx": "float32", "epsilon": 1e-07, "image_data_format": "channels_last"}
    settings.update(_user_keras_settings())
    settings["backend"] = backend
    home = tempfile.mkdtemp(prefix="keras-bench-keras2-")
    keras_dir = os.path.join(home, ".keras")
    os.mkdir(keras_dir)
    with open(os.path.join(keras_dir, "keras.json"), "w") as f:
        json.dump(settings, f)
    saved = {name: os.environ.get(name) for name in ("HOME", "KERAS_HOME")}
    os.environ.update(HOME=home, KERAS_HOME=keras_dir)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        shutil.rmtree(home, ignore_errors=True)


def _user_keras_settings():
    """The kept settings of the keras.json Keras would read, where they are valid."""
    folder = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(folder, "keras.json")) as f:
            found = json.load(f)
    except (OSError, ValueError):
        return {}
    if not isinstance(found, dict):
        return {}
    kept = {}
    if found.get("image_data_format") in ("channels_first", "channels_last"):
        kept["image_data_format"] = found["image_data_format"]
    if isinstance(found.get("epsilon"), float):
        kept["epsilon"] = found["epsilon"]
    return kept
