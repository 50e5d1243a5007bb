"""Small data set files in the published formats, for the loaders' tests and the
runs on real data."""

import io
import pickle
import tarfile
import zipfile

import numpy as np

from harness.spec import make_spec


def spec_for(model, dataset, tmp_path, **values):
    return make_spec(model=model, backend="jax", dataset=dataset, data_dir=str(tmp_path), **values)


def write_zip(path, members):
    with zipfile.ZipFile(str(path), "w") as archive:
        for name, data in members:
            archive.writestr(zipfile.ZipInfo(name), data)


def write_mnist(path, count=10):
    rng = np.random.RandomState(0)
    images = rng.randint(0, 256, (count, 28, 28)).astype("uint8")
    labels = (np.arange(count) * 3 % 10).astype("uint8")
    np.savez_compressed(str(path), x_train=images, y_train=labels,
                        x_test=images[:2], y_test=labels[:2])
    return images, labels


def cifar_batch(label, count, rng):
    return {b"batch_label": label.encode(), b"labels": [int(v) for v in rng.randint(0, 10, count)],
            b"data": rng.randint(0, 256, (count, 3072)).astype("uint8"),
            b"filenames": [b"image_%d.png" % i for i in range(count)]}


def numpy1_pickle(batch):
    """The batch pickled with the globals the published file names (NumPy 1's module path)."""
    data = pickle.dumps(batch, protocol=2)
    return data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray")


def write_cifar(path, per_batch=2, replace=None):
    """A cifar-10-python.tar.gz with the published member names.

    `replace` maps a member's name to other bytes, or to None to leave it out.
    """
    rng = np.random.RandomState(1)
    batches = [cifar_batch("training batch %d of 5" % i, per_batch, rng) for i in range(1, 6)]
    members = [("cifar-10-batches-py/data_batch_%d" % i, numpy1_pickle(batch))
               for i, batch in enumerate(batches, 1)]
    members += [("cifar-10-batches-py/test_batch", numpy1_pickle(cifar_batch("test", 3, rng))),
                ("cifar-10-batches-py/batches.meta", pickle.dumps({b"num_cases_per_batch": 2})),
                ("cifar-10-batches-py/readme.html", b"<html></html>")]
    members = [(name, (replace or {}).get(name, data)) for name, data in members]
    with tarfile.open(str(path), "w:gz") as archive:
        folder = tarfile.TarInfo("cifar-10-batches-py")
        folder.type = tarfile.DIRTYPE
        archive.addfile(folder)
        for name, data in members:
            if data is None:
                continue
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return (np.concatenate([b[b"data"] for b in batches]),
            np.concatenate([b[b"labels"] for b in batches]))


NIETZSCHE = (u"PREFACE\n\n\nSUPPOSING that Truth is a woman--what then? Is there not ground\n"
             u"for suspecting that all philosophers, in so far as they have been\n"
             u"dogmatists, have failed to understand women--that the terrible\n"
             u"seriousness and clumsy importunity with which they have usually paid\n"
             u"their addresses to Truth, have been unskilled and unseemly methods\n")


WIKI_TRAIN = (u" \n = Valkyria Chronicles III = \n \n Senj\u014d no Valkyria 3 : "
              u"Unrecorded Chronicles ( Japanese : \u6226\u5834\u306e\u30f4\u30a1\u30eb"
              u"\u30ad\u30e5\u30ea\u30a23 ) is a game .\n")


def write_wikitext(path, train=WIKI_TRAIN.encode("utf-8")):
    write_zip(path, [("wikitext-2-raw/", b""), ("wikitext-2-raw/wiki.test.raw", b" test \n"),
                     ("wikitext-2-raw/wiki.valid.raw", b" valid \n")]
              + ([("wikitext-2-raw/wiki.train.raw", train)] if train is not None else []))
