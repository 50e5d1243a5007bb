"""The data sets' files: where they live, how they are downloaded, checked and unpacked.

Every failure is a DataError whose message names the file and says what to do,
so a run that lacks its data stops with one line, not a traceback.
"""
import contextlib
import functools
import hashlib
import json
import os
import shutil
import sys
import tarfile
import tempfile
import urllib.request
import zipfile

from harness.datasets import DataError

DOWNLOAD_TIMEOUT_S = 30
CHUNK_BYTES = 1 << 20


def data_dir(spec):
    """The folder that holds the data sets: --data-dir, $BENCH_DATA, then Keras's cache."""
    if spec.data_dir:
        folder = spec.data_dir
    elif os.environ.get("BENCH_DATA"):
        folder = os.environ["BENCH_DATA"]
    elif os.environ.get("KERAS_HOME"):
        folder = os.path.join(os.environ["KERAS_HOME"], "datasets")
    else:
        folder = os.path.join("~", ".keras", "datasets")
    return os.path.expanduser(folder)


def offline():
    """Whether $BENCH_OFFLINE forbids downloads (any value but empty or 0)."""
    return os.environ.get("BENCH_OFFLINE", "") not in ("", "0")


def fetch(filename, directory, url, sha256):
    """The path of `filename` in `directory`, downloaded from `url` if it is not there.

    A file already there is used as it is: users may place their own copy, and
    `provenance` records whether it is the published one. A download must match
    `sha256`; None (no published digest) skips that check.
    """
    path = os.path.join(directory, filename)
    if os.path.exists(path):
        return path
    if offline():
        raise DataError(_missing(filename, directory, url, "BENCH_OFFLINE is set, so it is not "
                                                           "downloaded"))
    try:
        _download(url, path, sha256)
    except DataError:
        raise
    except Exception as error:  # URLError, timeouts, HTTP and file-system errors alike
        raise DataError(_missing(filename, directory, url, "downloading it failed (%s)" % error))
    return path


def _missing(filename, directory, url, why):
    return ("%s is not in %s and %s. Download it from %s and put it in that folder, or point "
            "--data-dir (or $BENCH_DATA) at a folder that holds it"
            % (filename, directory, why, url))


def _download(url, path, sha256):
    """Download to a temporary file beside `path`, check it, then rename it into place."""
    directory, filename = os.path.split(path)
    if not os.path.isdir(directory):
        os.makedirs(directory)
    handle, part = tempfile.mkstemp(prefix="." + filename + ".", suffix=".part", dir=directory)
    try:
        with os.fdopen(handle, "wb") as out:
            response = urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S)
            with contextlib.closing(response):
                size = response.headers.get("Content-Length")
                sys.stderr.write("downloading %s (%s) from %s into %s\n"
                                 % (filename, _mib(size), url, directory))
                sys.stderr.flush()
                shutil.copyfileobj(response, out, CHUNK_BYTES)
        if sha256 is not None:
            actual = sha256_of(part)
            if actual != sha256:
                raise DataError("the download of %s from %s has sha256 %s, not the published %s; "
                                "it was not kept. Try again, or download it yourself and put it "
                                "in %s" % (filename, url, actual, sha256, directory))
        os.replace(part, path)
    except BaseException:
        if os.path.exists(part):
            os.remove(part)
        raise


def _mib(size):
    return "%.1f MiB" % (int(size) / float(1 << 20)) if size else "size unknown"


def sha256_of(path):
    """The hex sha256 of a file, read in chunks so large archives need little memory."""
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for chunk in iter(lambda: stream.read(CHUNK_BYTES), b""):
            digest.update(chunk)
    return digest.hexdigest()


def provenance(path, published_sha256):
    """A file's record for the result: name, digest, and whether that is the published digest."""
    digest = sha256_of(path)
    return {"file": os.path.basename(path), "sha256": digest,
            "published": digest == published_sha256}


def corrupt(path, reason):
    """The DataError for a file whose content cannot be used."""
    return DataError("%s is corrupt (%s); delete or replace it" % (path, reason))


@contextlib.contextmanager
def parsing(path):
    """Report anything a parser raises on `path` as one DataError naming the file.

    Garbled bytes make numpy, pickle, zipfile, tarfile, gzip and zlib raise almost
    any exception type, so a guarded block should hold the parsing and nothing else.
    """
    try:
        yield
    except DataError:
        raise
    except OSError as error:
        if error.errno is None:  # gzip's "not a gzipped file", CRC errors: the content
            raise corrupt(path, "%s: %s" % (type(error).__name__, error))
        raise DataError("cannot use %s: %s" % (path, error))
    except Exception as error:
        raise corrupt(path, "%s: %s" % (type(error).__name__, error))


def read_text(path):
    """A UTF-8 text file's content, read as Keras's examples read it (newlines translated)."""
    with parsing(path):
        with open(path, encoding="utf-8") as stream:
            return stream.read()


def safe_extract(archive_path, dest):
    """Unpack a .zip or .tar.gz into `dest` once, refusing members that would land outside it;
    returns the folder that holds its files.

    A marker in that folder records the archive's size and time and the files it held;
    while it matches and those files exist, the archive is not unpacked again. A data
    folder that cannot be written (mounted read-only, as the images mount /data) is
    still read: the archive is unpacked into the user's cache instead (`unpack_cache`).
    """
    stat = os.stat(archive_path)
    stamp = [stat.st_size, stat.st_mtime]
    if _extracted(_marker(archive_path, dest), stamp, dest):
        return dest
    if not _writable(dest):
        dest = unpack_cache(archive_path)
        if _extracted(_marker(archive_path, dest), stamp, dest):
            return dest
    with parsing(archive_path):
        if archive_path.endswith(".zip"):
            names = _extract_zip(archive_path, dest)
        elif archive_path.endswith((".tar.gz", ".tgz")):
            names = _extract_tar(archive_path, dest)
        else:
            raise DataError("%s: only .zip and .tar.gz archives can be unpacked" % archive_path)
    _makedirs(dest)  # an archive of no files created no folder for the marker
    with open(_marker(archive_path, dest), "w") as out:
        json.dump({"archive": stamp, "files": names}, out)
    return dest


def _writable(folder):
    """Whether `folder` can be written, or created: its nearest existing parent can be."""
    folder = os.path.abspath(folder)
    while not os.path.exists(folder) and os.path.dirname(folder) != folder:
        folder = os.path.dirname(folder)
    return os.access(folder, os.W_OK)


def _marker(archive_path, folder):
    return os.path.join(folder, "." + os.path.basename(archive_path) + ".extracted")


def unpack_cache(archive_path):
    """Where an archive in a read-only folder is unpacked: a folder of its own (named by
    the archive's path) in $XDG_CACHE_HOME or ~/.cache, or the temporary folder if
    neither can be written."""
    name = hashlib.sha256(os.path.realpath(archive_path).encode("utf-8")).hexdigest()[:16]
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    root = os.path.join(cache, "keras-bench", "unpacked")
    try:
        _makedirs(root)
    except OSError:
        root = os.path.join(tempfile.gettempdir(), "keras-bench", "unpacked")
    return os.path.join(root, name)


def _extracted(marker, stamp, dest):
    try:
        with open(marker) as stream:
            record = json.load(stream)
    except (OSError, ValueError):
        return False
    return (record.get("archive") == stamp
            and all(os.path.isfile(os.path.join(dest, name)) for name in record.get("files", [])))


def _target(archive_path, dest, name):
    """Where member `name` goes in `dest`; a DataError if that is outside `dest`."""
    root = os.path.realpath(dest)
    target = os.path.realpath(os.path.join(root, name))
    inside = target == root or target.startswith(root + os.sep)  # "./" is a member of some tars
    if os.path.isabs(name) or name.startswith(("/", "\\")) or not inside:
        raise DataError("%s is unsafe: its member %r would be written outside %s; it was not "
                        "unpacked" % (archive_path, name, dest))
    return target


def _extract_zip(archive_path, dest):
    with zipfile.ZipFile(archive_path) as archive:
        return _unpack(archive_path, dest, [
            (info.filename, info.filename.endswith("/"), functools.partial(archive.open, info))
            for info in archive.infolist()])


def _extract_tar(archive_path, dest):
    """Unpack a tar.gz that holds only folders and regular files."""
    with tarfile.open(archive_path, "r:gz") as archive:
        members = archive.getmembers()
        for member in members:
            if not (member.isfile() or member.isdir()):
                # Links could point outside dest, and devices have no place in a data set.
                raise DataError("%s is unsafe: its member %r is a link or special file; it was "
                                "not unpacked" % (archive_path, member.name))
        names = _unpack(archive_path, dest, [
            (member.name, member.isdir(), functools.partial(archive.extractfile, member))
            for member in members])
        # tarfile stops at the archive's end blocks, before gzip's trailer: read on to it,
        # so that gzip checks the CRC-32 and length of everything unpacked.
        while archive.fileobj.read(CHUNK_BYTES):
            pass
        return names


def _unpack(archive_path, dest, members):
    """Write (name, is_folder, open_member) entries into `dest`, every path checked before any
    is written; returns the names of the files written."""
    targets = [_target(archive_path, dest, name) for name, _, _ in members]
    names = []
    for (name, is_folder, open_member), target in zip(members, targets):
        if is_folder:
            _makedirs(target)
            continue
        _makedirs(os.path.dirname(target))
        with open_member() as source, open(target, "wb") as out:
            shutil.copyfileobj(source, out, CHUNK_BYTES)
        names.append(name)
    return names


def _makedirs(folder):
    if not os.path.isdir(folder):
        os.makedirs(folder)
