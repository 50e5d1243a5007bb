"""The data sets: synthetic data, the real-data loaders on tiny files in the published formats,
and the download, checksum and unpacking rules. Nothing here touches the network."""
import hashlib
import io
import os
import pickle
import tarfile
import urllib.request

import numpy as np
import pytest

from harness import datasets
from harness.datasets import DataError, TextData, TEXT_MAXLEN, TEXT_STEP
from harness.datasets import cifar10, files, imagenet, mnist
from harness.spec import MODEL_FIELDS, make_spec
from data_files import (NIETZSCHE, WIKI_TRAIN, numpy1_pickle, spec_for, write_cifar, write_mnist,
                        write_wikitext, write_zip)


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    """No test may download: fetch refuses unless a test lifts this, and then only file:// works."""
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    monkeypatch.delenv("BENCH_DATA", raising=False)
    monkeypatch.delenv("KERAS_HOME", raising=False)
    real_urlopen = urllib.request.urlopen

    def local_only(url, *args, **kwargs):
        assert url.startswith("file:"), "a test tried to reach " + url
        return real_urlopen(url, *args, **kwargs)

    monkeypatch.setattr(urllib.request, "urlopen", local_only)


def sha256_bytes(data):
    return hashlib.sha256(data).hexdigest()


def assert_one_hot(y, labels, num_classes):
    assert y.dtype == np.float32 and y.shape == (len(labels), num_classes)
    assert (y.sum(axis=1) == 1).all()
    assert (y.argmax(axis=1) == labels).all()


def truncate(path):
    with open(str(path), "rb") as stream:
        data = stream.read()
    with open(str(path), "wb") as stream:
        stream.write(data[:len(data) // 2])


# --- synthetic data ---

SYNTHETIC_SHAPES = [
    ("mlp", "channels_last", (784,), 10),
    ("cnn", "channels_last", (32, 32, 3), 10),
    ("cnn", "channels_first", (3, 32, 32), 10),
    ("resnet", "channels_first", (3, 32, 32), 10),
    ("resnet50", "channels_last", (32, 32, 3), 1000),
    ("vgg16", "channels_first", (3, 32, 32), 1000),
    ("lstm", "channels_last", (TEXT_MAXLEN, len(datasets.SYNTHETIC_ALPHABET)),
     len(datasets.SYNTHETIC_ALPHABET)),
]


@pytest.mark.parametrize("model, data_format, shape, num_classes", SYNTHETIC_SHAPES)
def test_synthetic_has_the_workloads_shapes(model, data_format, shape, num_classes):
    sized = {"image_size": 32} if model in MODEL_FIELDS["image_size"] else {}
    spec = make_spec(model=model, backend="jax", **sized)
    data = datasets.synthetic(spec, data_format, 6)
    x, y = data.arrays(6)
    assert data.input_shape == shape and data.num_classes == num_classes
    assert x.dtype == np.float32 and x.shape == (6,) + shape
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert_one_hot(y, y.argmax(axis=1), num_classes)


@pytest.mark.parametrize("model", ["mlp", "cnn", "lstm"])
def test_synthetic_same_seed_same_bytes(model):
    def draw(seed):
        spec = make_spec(model=model, backend="jax", seed=seed)
        x, y = datasets.synthetic(spec, "channels_last", 8).arrays(8)
        return x.tobytes() + y.tobytes()

    assert draw(7) == draw(7)
    assert draw(7) != draw(8)


def test_load_synthetic_draws_one_epoch_of_samples():
    spec = make_spec(model="mlp", backend="jax", batch_size=4)
    data = datasets.load(spec, "channels_last", steps_per_epoch=3)
    assert data.num_samples == 12 and data.name == "synthetic"


def test_arrays_and_batches_agree_and_batches_wrap_around():
    spec = make_spec(model="cnn", backend="jax")
    data = datasets.synthetic(spec, "channels_first", 12)
    x, y = data.arrays(12)
    batches = [data.batch(i, 4) for i in range(3)]
    assert np.array_equal(x, np.concatenate([bx for bx, _ in batches]))
    assert np.array_equal(y, np.concatenate([by for _, by in batches]))
    wrapped_x, wrapped_y = data.batch(3, 4)
    assert np.array_equal(wrapped_x, batches[0][0]) and np.array_equal(wrapped_y, batches[0][1])


def test_text_windows_predict_the_next_character():
    text = "".join(chr(ord("a") + (i * 7) % 26) for i in range(200))
    data = TextData("t", text)
    alphabet = sorted(set(text))
    assert data.num_samples == len(range(0, len(text) - TEXT_MAXLEN, TEXT_STEP))
    ids = np.array([0, 5, data.num_samples - 1])
    x, y = data.take(ids)
    assert x.shape == (3, TEXT_MAXLEN, len(alphabet)) and y.shape == (3, len(alphabet))
    for row, sample in enumerate(ids):
        start = sample * TEXT_STEP
        window = "".join(alphabet[i] for i in x[row].argmax(axis=1))
        assert window == text[start:start + TEXT_MAXLEN]
        assert alphabet[y[row].argmax()] == text[start + TEXT_MAXLEN]


def test_text_shorter_than_a_window_is_refused():
    with pytest.raises(DataError, match="fewer than one window"):
        TextData("short", "x" * TEXT_MAXLEN)


def test_arrays_refuse_more_than_max_array_bytes(monkeypatch):
    spec = make_spec(model="mlp", backend="jax")
    data = datasets.synthetic(spec, "channels_last", 8)
    monkeypatch.setattr(datasets, "MAX_ARRAY_BYTES", 8 * (784 + 10) * 4 - 1)
    with pytest.raises(DataError, match="--method generator"):
        data.arrays(8)


# --- files: where data lives, downloads, checksums ---

def test_data_dir_order(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    assert files.data_dir(make_spec(model="mlp", backend="jax")) == \
        os.path.join(str(tmp_path), ".keras", "datasets")
    monkeypatch.setenv("KERAS_HOME", "/keras")
    assert files.data_dir(make_spec(model="mlp", backend="jax")) == "/keras/datasets"
    monkeypatch.setenv("BENCH_DATA", "/bench")
    assert files.data_dir(make_spec(model="mlp", backend="jax")) == "/bench"
    assert files.data_dir(make_spec(model="mlp", backend="jax", data_dir="/given")) == "/given"


def test_fetch_uses_a_file_already_there_as_is(tmp_path):
    (tmp_path / "own.bin").write_bytes(b"my own copy")
    path = files.fetch("own.bin", str(tmp_path), "https://example.invalid/own.bin", "0" * 64)
    assert path == str(tmp_path / "own.bin")
    record = files.provenance(path, "0" * 64)
    assert record == {"file": "own.bin", "sha256": sha256_bytes(b"my own copy"),
                      "published": False}
    assert files.provenance(path, sha256_bytes(b"my own copy"))["published"] is True


def test_fetch_offline_names_the_file_the_folder_and_the_url(tmp_path):
    with pytest.raises(DataError) as error:
        files.fetch("gone.bin", str(tmp_path), "https://example.invalid/gone.bin", None)
    message = str(error.value)
    for part in ("gone.bin", str(tmp_path), "https://example.invalid/gone.bin",
                 "BENCH_OFFLINE", "--data-dir", "BENCH_DATA"):
        assert part in message
    assert os.listdir(str(tmp_path)) == []


@pytest.fixture
def local_source(tmp_path, monkeypatch):
    """A file:// URL of a local file, and downloads allowed (they stay on this machine)."""
    monkeypatch.delenv("BENCH_OFFLINE")
    source = tmp_path / "source" / "data.bin"
    source.parent.mkdir()
    source.write_bytes(b"published bytes" * 1000)
    return source.as_uri(), source.read_bytes()


def test_fetch_refuses_a_download_with_the_wrong_digest_and_keeps_nothing(tmp_path, local_source):
    url, content = local_source
    target = tmp_path / "cache"
    with pytest.raises(DataError) as error:
        files.fetch("data.bin", str(target), url, "f" * 64)
    assert "f" * 64 in str(error.value) and sha256_bytes(content) in str(error.value)
    assert os.listdir(str(target)) == []


def test_fetch_keeps_a_download_with_the_published_digest(tmp_path, local_source, capsys):
    url, content = local_source
    path = files.fetch("data.bin", str(tmp_path / "cache"), url, sha256_bytes(content))
    with open(path, "rb") as stream:
        assert stream.read() == content
    assert os.listdir(str(tmp_path / "cache")) == ["data.bin"]
    assert "downloading data.bin" in capsys.readouterr().err


def test_fetch_without_a_published_digest_keeps_the_download(tmp_path, local_source):
    url, content = local_source
    path = files.fetch("data.bin", str(tmp_path / "cache"), url, None)
    assert files.provenance(path, None) == {"file": "data.bin", "sha256": sha256_bytes(content),
                                            "published": False}


def test_fetch_reports_a_failed_download_with_where_to_get_the_file(tmp_path, local_source):
    url = (tmp_path / "source" / "absent.bin").as_uri()
    with pytest.raises(DataError) as error:
        files.fetch("absent.bin", str(tmp_path / "cache"), url, None)
    assert "absent.bin" in str(error.value) and url in str(error.value)
    assert str(tmp_path / "cache") in str(error.value)
    assert os.listdir(str(tmp_path / "cache")) == []


# --- files: unpacking archives safely ---


def write_tar(path, members):
    """members: (name, bytes) for files, or (name, TarInfo type, link target)."""
    with tarfile.open(str(path), "w:gz") as archive:
        for member in members:
            info = tarfile.TarInfo(member[0])
            if len(member) == 2:
                info.size = len(member[1])
                archive.addfile(info, io.BytesIO(member[1]))
            else:
                info.type, info.linkname = member[1], member[2]
                archive.addfile(info)


UNSAFE_ZIPS = [[("../evil", b"x")], [("ok/../../evil", b"x")], [("/evil", b"x")]]
UNSAFE_TARS = [[("../evil", b"x")], [("ok/../../evil", b"x")], [("/evil", b"x")],
               [("link", tarfile.SYMTYPE, "/etc/passwd")],
               [("inside", b"x"), ("hard", tarfile.LNKTYPE, "inside")]]


@pytest.mark.parametrize("members", UNSAFE_ZIPS)
def test_safe_extract_refuses_zip_members_outside_the_folder(tmp_path, members):
    archive = tmp_path / "a.zip"
    write_zip(archive, [("fine.txt", b"ok")] + members)
    with pytest.raises(DataError, match="unsafe"):
        files.safe_extract(str(archive), str(tmp_path / "out"))
    assert not (tmp_path / "evil").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("members", UNSAFE_TARS)
def test_safe_extract_refuses_tar_escapes_and_links(tmp_path, members):
    archive = tmp_path / "a.tar.gz"
    write_tar(archive, [("fine.txt", b"ok")] + members)
    with pytest.raises(DataError, match="unsafe") as error:
        files.safe_extract(str(archive), str(tmp_path / "out"))
    assert str(archive) in str(error.value)
    assert not (tmp_path / "evil").exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("suffix, writer", [(".zip", write_zip), (".tar.gz", write_tar)])
def test_safe_extract_unpacks_once(tmp_path, suffix, writer):
    archive = tmp_path / ("a" + suffix)
    writer(archive, [("d/a.txt", b"a"), ("d/b.txt", b"b")])
    out = tmp_path / "out"
    files.safe_extract(str(archive), str(out))
    assert (out / "d" / "a.txt").read_bytes() == b"a" and (out / "d" / "b.txt").read_bytes() == b"b"
    (out / "d" / "a.txt").write_bytes(b"changed")
    files.safe_extract(str(archive), str(out))
    assert (out / "d" / "a.txt").read_bytes() == b"changed"  # the marker says it is unpacked
    (out / "d" / "b.txt").unlink()
    files.safe_extract(str(archive), str(out))
    assert (out / "d" / "b.txt").read_bytes() == b"b"  # a file gone: unpacked again


@pytest.mark.parametrize("name", ["a.zip", "a.tar.gz"])
def test_safe_extract_reports_a_corrupt_archive(tmp_path, name):
    archive = tmp_path / name
    archive.write_bytes(b"not an archive at all" * 10)
    with pytest.raises(DataError, match="corrupt") as error:
        files.safe_extract(str(archive), str(tmp_path / "out"))
    assert str(archive) in str(error.value)


# --- MNIST ---


def test_mnist_loads_flat_scaled_rows(tmp_path):
    images, labels = write_mnist(tmp_path / "mnist.npz")
    data = datasets.load(spec_for("mlp", "mnist", tmp_path), "channels_first", 1)
    assert data.name == "mnist" and data.input_shape == (784,) and data.num_classes == 10
    x, y = data.arrays(data.num_samples)
    assert x.shape == (10, 784) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    np.testing.assert_allclose(x[3].reshape(28, 28), images[3] / 255.0, rtol=1e-6)
    assert_one_hot(y, labels, 10)
    assert data.provenance == {"file": "mnist.npz", "published": False,
                               "sha256": files.sha256_of(str(tmp_path / "mnist.npz"))}


def test_mnist_download_with_the_published_digest_is_recorded_as_published(tmp_path,
                                                                          monkeypatch):
    source = tmp_path / "mirror" / "mnist.npz"
    source.parent.mkdir()
    write_mnist(source)
    digest = files.sha256_of(str(source))
    monkeypatch.delenv("BENCH_OFFLINE")
    monkeypatch.setattr(mnist, "URL", source.as_uri())
    monkeypatch.setattr(mnist, "SHA256", digest)
    data = mnist.load(spec_for("mlp", "mnist", tmp_path / "cache"), "channels_last")
    assert data.provenance == {"file": "mnist.npz", "sha256": digest, "published": True}
    assert (tmp_path / "cache" / "mnist.npz").is_file()


def test_mnist_refuses_missing_arrays_and_wrong_shapes(tmp_path):
    path = tmp_path / "mnist.npz"
    np.savez(str(path), x_train=np.zeros((2, 28, 28), "uint8"))
    with pytest.raises(DataError, match="corrupt.*y_train"):
        mnist.load(spec_for("mlp", "mnist", tmp_path), "channels_last")
    np.savez(str(path), x_train=np.zeros((2, 28, 27), "uint8"), y_train=np.zeros(2, "uint8"))
    with pytest.raises(DataError, match="corrupt.*x_train"):
        mnist.load(spec_for("mlp", "mnist", tmp_path), "channels_last")
    np.savez(str(path), x_train=np.zeros((2, 28, 28), "uint8"), y_train=np.array([0, 10]))
    with pytest.raises(DataError, match="corrupt.*labels"):
        mnist.load(spec_for("mlp", "mnist", tmp_path), "channels_last")


@pytest.mark.parametrize("damage", ["truncate", "garble", "npy"])
def test_mnist_reports_a_corrupt_file(tmp_path, damage):
    path = tmp_path / "mnist.npz"
    if damage == "npy":
        np.save(str(path) + ".npy", np.zeros(3))
        os.rename(str(path) + ".npy", str(path))
    elif damage == "truncate":
        write_mnist(path)
        truncate(path)
    else:
        path.write_bytes(os.urandom(4096))
    with pytest.raises(DataError, match="corrupt") as error:
        mnist.load(spec_for("mlp", "mnist", tmp_path), "channels_last")
    assert str(path) in str(error.value)


# --- CIFAR-10 ---


@pytest.mark.parametrize("model", ["cnn", "resnet"])
def test_cifar10_loads_the_training_batches_channels_last(tmp_path, model):
    rows, labels = write_cifar(tmp_path / "cifar-10-python.tar.gz")
    data = datasets.load(spec_for(model, "cifar10", tmp_path), "channels_last", 1)
    assert data.name == "cifar10" and data.input_shape == (32, 32, 3) and data.num_classes == 10
    x, y = data.arrays(data.num_samples)
    assert x.shape == (10, 32, 32, 3) and x.dtype == np.float32  # the test batch is not read
    assert 0.0 <= x.min() and x.max() <= 1.0
    # Row layout: 1024 red, then 1024 green, then 1024 blue values, each row-major.
    for n, row, col, channel in [(0, 0, 0, 0), (4, 5, 31, 1), (9, 31, 7, 2)]:
        assert x[n, row, col, channel] == np.float32(rows[n, channel * 1024 + row * 32 + col]
                                                     * np.float32(1 / 255.0))
    assert_one_hot(y, labels, 10)
    assert data.provenance == {"file": "cifar-10-python.tar.gz", "published": False,
                               "sha256": files.sha256_of(str(tmp_path / "cifar-10-python.tar.gz"))}
    assert (tmp_path / "cifar-10-batches-py" / "test_batch").is_file()


def test_cifar10_channels_first_is_the_same_images_transposed(tmp_path):
    write_cifar(tmp_path / "cifar-10-python.tar.gz")
    last = datasets.load(spec_for("cnn", "cifar10", tmp_path), "channels_last", 1)
    first = datasets.load(spec_for("cnn", "cifar10", tmp_path), "channels_first", 1)
    assert first.input_shape == (3, 32, 32)
    x_last, y_last = last.batch(1, 4)
    x_first, y_first = first.batch(1, 4)
    assert x_first.shape == (4, 3, 32, 32)
    assert np.array_equal(x_first, x_last.transpose(0, 3, 1, 2)) and np.array_equal(y_first, y_last)


def test_cifar10_reports_a_truncated_archive(tmp_path):
    path = tmp_path / "cifar-10-python.tar.gz"
    write_cifar(path, per_batch=200)
    truncate(path)
    with pytest.raises(DataError, match="corrupt") as error:
        cifar10.load(spec_for("cnn", "cifar10", tmp_path), "channels_last")
    assert str(path) in str(error.value)


GARBLED_BATCHES = [
    (b"\x80\x02garbage", "corrupt"),
    (pickle.dumps({b"labels": [1]}, protocol=2), "corrupt.*data"),
    (numpy1_pickle({b"data": np.zeros((2, 100), "uint8"), b"labels": [1, 2]}), "corrupt.*3072"),
    (numpy1_pickle({b"data": np.zeros((2, 3072), "uint8"), b"labels": [1]}), "corrupt.*labels"),
    (numpy1_pickle({b"data": np.zeros((2, 3072), "uint8"), b"labels": [1, 12]}), "corrupt.*0-9"),
    # A pickle that would run a command: refused, never called.
    (b"cos\nsystem\n(S'touch pwned'\ntR.", "corrupt.*os.system"),
]


@pytest.mark.parametrize("batch, message", GARBLED_BATCHES)
def test_cifar10_reports_a_garbled_batch_naming_it(tmp_path, monkeypatch, batch, message):
    monkeypatch.chdir(tmp_path)
    write_cifar(tmp_path / "cifar-10-python.tar.gz",
                replace={"cifar-10-batches-py/data_batch_3": batch})
    with pytest.raises(DataError, match=message) as error:
        cifar10.load(spec_for("cnn", "cifar10", tmp_path), "channels_last")
    assert str(tmp_path / "cifar-10-batches-py" / "data_batch_3") in str(error.value)
    assert not (tmp_path / "pwned").exists()


def test_cifar10_reports_a_missing_batch(tmp_path):
    write_cifar(tmp_path / "cifar-10-python.tar.gz",
                replace={"cifar-10-batches-py/data_batch_5": None})
    with pytest.raises(DataError, match="corrupt.*data_batch_5"):
        cifar10.load(spec_for("cnn", "cifar10", tmp_path), "channels_last")


# --- ImageNet folders ---

COLOURS = {"n01": (255, 0, 0), "n02": (0, 255, 0), "n03": (0, 0, 255)}


def write_imagenet(tmp_path):
    """3 classes x 2 solid-colour images of odd sizes (JPEG and PNG), plus a file to skip."""
    from PIL import Image
    root = tmp_path / "imagenet" / "train"
    for name, colour in COLOURS.items():
        (root / name).mkdir(parents=True)
        Image.new("RGB", (40, 30), colour).save(str(root / name / "a.JPEG"))
        Image.new("L" if name == "n01" else "RGB", (20, 50),
                  255 if name == "n01" else colour).save(str(root / name / "b.png"))
        (root / name / "notes.txt").write_text(u"not an image")
    return root


def test_imagenet_lists_files_without_decoding_them(tmp_path, monkeypatch):
    pytest.importorskip("PIL")
    root = write_imagenet(tmp_path)
    opened = []
    real_open = imagenet.Image.open
    monkeypatch.setattr(imagenet.Image, "open", lambda path: opened.append(path) or real_open(path))
    data = datasets.load(spec_for("resnet50", "imagenet", tmp_path, image_size=32,
                                  method="train_on_batch"), "channels_last", 1)
    assert opened == []
    assert data.num_samples == 6 and data.num_classes == 1000 and data.input_shape == (32, 32, 3)
    assert data.provenance == {"folder": str(root), "files": 6, "classes": 3}
    x, y = data.take(np.array([5, 0]))
    assert opened == [str(root / "n03" / "b.png"), str(root / "n01" / "a.JPEG")]
    assert x.shape == (2, 32, 32, 3) and x.dtype == np.float32
    assert_one_hot(y, [2, 0], 1000)


@pytest.mark.parametrize("data_format, shape", [("channels_last", (6, 32, 32, 3)),
                                                ("channels_first", (6, 3, 32, 32))])
def test_imagenet_decodes_scaled_rgb_in_either_layout(tmp_path, data_format, shape):
    pytest.importorskip("PIL")
    write_imagenet(tmp_path)
    data = datasets.load(spec_for("resnet50", "imagenet", tmp_path, image_size=32,
                                  method="generator"), data_format, 1)
    x, y = data.batch(0, 6)
    assert x.shape == shape and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    assert_one_hot(y, [0, 0, 1, 1, 2, 2], 1000)
    channels_last = x if data_format == "channels_last" else x.transpose(0, 2, 3, 1)
    mean_colours = channels_last.mean(axis=(1, 2))
    expected = [COLOURS["n01"], (255, 255, 255), COLOURS["n02"], COLOURS["n02"],
                COLOURS["n03"], COLOURS["n03"]]  # n01's PNG is greyscale white, made RGB
    np.testing.assert_allclose(mean_colours, np.array(expected) / 255.0, atol=0.03)


def test_imagenet_big_arrays_are_refused_before_decoding(tmp_path):
    pytest.importorskip("PIL")
    write_imagenet(tmp_path)
    data = datasets.load(spec_for("resnet50", "imagenet", tmp_path, method="generator"),
                         "channels_last", 1)
    with pytest.raises(DataError, match="GiB"):
        data.arrays(10 ** 5)


@pytest.mark.parametrize("damage", ["garble", "truncate"])
def test_imagenet_reports_a_corrupt_image_by_name(tmp_path, damage):
    pytest.importorskip("PIL")
    root = write_imagenet(tmp_path)
    bad = root / "n02" / "a.JPEG"
    if damage == "garble":
        bad.write_bytes(b"\xff\xd8 not really a jpeg" * 20)
    else:
        truncate(bad)
    data = datasets.load(spec_for("resnet50", "imagenet", tmp_path, image_size=32,
                                  method="generator"), "channels_last", 1)
    data.take(np.array([0, 1]))
    with pytest.raises(DataError, match="corrupt") as error:
        data.take(np.array([2]))
    assert str(bad) in str(error.value)


def test_imagenet_missing_or_empty_folder_explains_the_layout(tmp_path):
    pytest.importorskip("PIL")
    spec = spec_for("resnet50", "imagenet", tmp_path, method="generator")
    with pytest.raises(DataError, match="one folder per class") as error:
        datasets.load(spec, "channels_last", 1)
    assert str(tmp_path / "imagenet" / "train") in str(error.value)
    (tmp_path / "imagenet" / "train" / "n01").mkdir(parents=True)
    with pytest.raises(DataError, match="holds no"):
        datasets.load(spec, "channels_last", 1)


def test_imagenet_refuses_more_than_1000_classes(tmp_path):
    pytest.importorskip("PIL")
    root = tmp_path / "imagenet" / "train"
    for i in range(1001):
        (root / ("n%05d" % i)).mkdir(parents=True)
    with pytest.raises(DataError, match="1001 class folders"):
        datasets.load(spec_for("resnet50", "imagenet", tmp_path, method="generator"),
                      "channels_last", 1)


# --- text: Nietzsche and WikiText-2 ---


def test_nietzsche_is_read_lowercased(tmp_path):
    (tmp_path / "nietzsche.txt").write_bytes(NIETZSCHE.encode("utf-8"))
    data = datasets.load(spec_for("lstm", "nietzsche", tmp_path), "channels_last", 1)
    text = NIETZSCHE.lower()
    alphabet = sorted(set(text))
    assert data.name == "nietzsche" and data.num_classes == len(alphabet)
    assert data.input_shape == (TEXT_MAXLEN, len(alphabet))
    x, y = data.take(np.array([2]))
    assert "".join(alphabet[i] for i in x[0].argmax(axis=1)) == text[6:6 + TEXT_MAXLEN]
    assert alphabet[y[0].argmax()] == text[6 + TEXT_MAXLEN]
    assert data.provenance == {"file": "nietzsche.txt", "published": False,
                               "sha256": sha256_bytes(NIETZSCHE.encode("utf-8"))}


def test_nietzsche_that_is_not_utf8_is_corrupt(tmp_path):
    path = tmp_path / "nietzsche.txt"
    path.write_bytes(NIETZSCHE.encode("utf-8") + b"\xff\xfe\xfa")
    with pytest.raises(DataError, match="corrupt") as error:
        datasets.load(spec_for("lstm", "nietzsche", tmp_path), "channels_last", 1)
    assert str(path) in str(error.value)


def test_wikitext2_reads_the_training_text_as_is(tmp_path):
    write_wikitext(tmp_path / "wikitext-2-raw-v1.zip")
    data = datasets.load(spec_for("lstm", "wikitext2", tmp_path), "channels_last", 1)
    alphabet = sorted(set(WIKI_TRAIN))
    assert data.name == "wikitext2" and data.num_classes == len(alphabet)
    assert data.num_samples == len(range(0, len(WIKI_TRAIN) - TEXT_MAXLEN, TEXT_STEP))
    x, y = data.take(np.array([0]))
    assert "".join(alphabet[i] for i in x[0].argmax(axis=1)) == WIKI_TRAIN[:TEXT_MAXLEN]
    assert alphabet[y[0].argmax()] == WIKI_TRAIN[TEXT_MAXLEN]
    assert data.provenance == {"file": "wikitext-2-raw-v1.zip", "published": False,
                               "sha256": files.sha256_of(str(tmp_path / "wikitext-2-raw-v1.zip"))}


@pytest.mark.parametrize("damage", ["truncate", "no train", "not utf8"])
def test_wikitext2_reports_a_corrupt_archive(tmp_path, damage):
    path = tmp_path / "wikitext-2-raw-v1.zip"
    if damage == "truncate":
        write_wikitext(path, WIKI_TRAIN.encode("utf-8") * 200)
        truncate(path)
        named = path
    elif damage == "no train":
        write_wikitext(path, None)
        named = path
    else:
        write_wikitext(path, b"\xc3\x28 invalid" * 10)
        named = tmp_path / "wikitext-2-raw" / "wiki.train.raw"
    with pytest.raises(DataError, match="corrupt") as error:
        datasets.load(spec_for("lstm", "wikitext2", tmp_path), "channels_last", 1)
    assert str(named) in str(error.value)


# --- every downloadable set, missing while offline ---

@pytest.mark.parametrize("model, dataset, filename, url", [
    ("mlp", "mnist", "mnist.npz", "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"
                                  "mnist.npz"),
    ("cnn", "cifar10", "cifar-10-python.tar.gz", "https://www.cs.toronto.edu/~kriz/"
                                                 "cifar-10-python.tar.gz"),
    ("lstm", "nietzsche", "nietzsche.txt", "https://s3.amazonaws.com/text-datasets/nietzsche.txt"),
    ("lstm", "wikitext2", "wikitext-2-raw-v1.zip", "https://s3.amazonaws.com/research.metamind.io/"
                                                   "wikitext/wikitext-2-raw-v1.zip"),
])
def test_a_missing_file_offline_says_where_to_get_it(tmp_path, model, dataset, filename, url):
    folder = tmp_path / "empty"
    with pytest.raises(DataError) as error:
        datasets.load(spec_for(model, dataset, folder), "channels_last", 1)
    message = str(error.value)
    assert filename in message and str(folder) in message and url in message
