"""WikiText-2, raw, read character by character: a larger text for the character LSTM."""
import os

from harness.datasets import TextData
from harness.datasets import files

FILENAME = "wikitext-2-raw-v1.zip"
URL = "https://s3.amazonaws.com/research.metamind.io/wikitext/wikitext-2-raw-v1.zip"
# Published in HuggingFace datasets' datasets/wikitext/dataset_infos.json
# (config wikitext-2-raw-v1, download_checksums for this URL, 4,721,645 bytes).
SHA256 = "ef7edb566e3e2b2d31b29c1fdb0c89a4cc683597484c3dc2517919c615435a11"
TRAIN_MEMBER = os.path.join("wikitext-2-raw", "wiki.train.raw")


def load(spec, data_format):
    """The training split's text, as is (the raw version keeps case and punctuation)."""
    directory = files.data_dir(spec)
    archive = files.fetch(FILENAME, directory, URL, SHA256)
    path = os.path.join(files.safe_extract(archive, directory), TRAIN_MEMBER)
    if not os.path.isfile(path):
        raise files.corrupt(archive, "it holds no %s" % TRAIN_MEMBER)
    return TextData("wikitext2", files.read_text(path),
                    provenance=files.provenance(archive, SHA256))
