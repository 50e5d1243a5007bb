"""The Nietzsche text of Keras's character-LSTM example (examples/lstm_text_generation.py)."""
from harness.datasets import TextData
from harness.datasets import files

FILENAME = "nietzsche.txt"
URL = "https://s3.amazonaws.com/text-datasets/nietzsche.txt"
# No published digest of this file was found (Keras's example downloads it
# unchecked), so a download is not verified; its sha256 is still recorded.
SHA256 = None


def load(spec, data_format):
    """The text lowercased, as the Keras example reads it, in 40-character windows."""
    path = files.fetch(FILENAME, files.data_dir(spec), URL, SHA256)
    text = files.read_text(path).lower()
    return TextData("nietzsche", text, provenance=files.provenance(path, SHA256))
