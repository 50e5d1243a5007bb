"""The BLAS that Theano links its C ops against: found before Theano is imported, and
described for the result.

Theano 1.0.5 calls BLAS one of two ways: linked against the library that
`blas.ldflags` names, or, where those flags are empty, through the BLAS functions
NumPy exports in its C API, which cost the CNN 13 to 48% of its speed in our
measurements (docs/performance.md, "Theano's BLAS"). Theano's own search for the flags reads
numpy.distutils' build configuration, which today's NumPy no longer has, so the
harness searches itself: the system's OpenBLAS (Debian's libopenblas-dev), else one
that a wheel bundles with the plain Fortran names Theano calls (SciPy 1.11's does;
NumPy's wheels suffix theirs with 64_, the scipy-openblas wheels that newer SciPy and
NumPy use prefix theirs with scipy_). Imports no framework.
"""
import ctypes
import glob
import importlib.util
import os
import re
import subprocess

# What a user installs for Theano's full speed, where the search finds no BLAS.
INSTALL_HINT = "apt-get install libopenblas-dev"

# Names Theano's C ops call (Fortran BLAS, no prefix or suffix), which a library must export.
_THEANO_CALLS = ("sgemm_", "dgemm_", "sgemv_", "sdot_")
# The function that tells an OpenBLAS's version and build, under the names its builds give it.
_CONFIG_FUNCTIONS = ("openblas_get_config", "openblas_get_config64_",
                     "scipy_openblas_get_config64_", "scipy_openblas_get_config")
# Wheels that may bundle an OpenBLAS in their auditwheel folder, PACKAGE.libs.
_WHEELS = ("scipy", "numpy")
_LDCONFIG = ("/sbin/ldconfig", "ldconfig")


def find_ldflags(candidates=None):
    """`blas.ldflags` for the first of `candidates` (library files; by default the
    system's OpenBLAS, then the wheels') that Theano can call, or "" for none."""
    for path in system_openblas() + wheel_openblas() if candidates is None else candidates:
        # THEANO_FLAGS is split at commas, Theano's ldflags at spaces.
        if not re.search(r"[\s,]", path) and callable_by_theano(path):
            return ldflags_of(path)
    return ""


def system_openblas():
    """The OpenBLAS files the dynamic linker knows (ldconfig's cache), libopenblas.so
    (libopenblas-dev's name) before libopenblas.so.0 (the library's own package's)."""
    found = [path for name, path in _linker_cache() if name.startswith("libopenblas.so")]
    return sorted(found, key=lambda path: not path.endswith(".so"))


def wheel_openblas(packages=_WHEELS):
    """The OpenBLAS files bundled in the installed wheels of `packages`, found without
    importing them."""
    found = []
    for package in packages:
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.origin:
            libs = os.path.join(os.path.dirname(os.path.dirname(spec.origin)), package + ".libs")
            found += sorted(glob.glob(os.path.join(libs, "lib*openblas*.so*")))
    return found


def callable_by_theano(path):
    """Whether the library file `path` exports the BLAS names Theano calls, as `nm` (of
    binutils, which Theano's g++ needs too) reads them: nothing is loaded."""
    try:
        listing = subprocess.check_output(["nm", "-D", "--defined-only", path],
                                          stderr=subprocess.DEVNULL, universal_newlines=True)
    except (OSError, subprocess.CalledProcessError):
        return False
    defined = set(line.split()[-1] for line in listing.splitlines() if line.strip())
    return defined.issuperset(_THEANO_CALLS)


def ldflags_of(path):
    """Link flags for the library file `path`: -L its folder (Theano adds it as an rpath
    too) and -l its name, or -l:FILE for a versioned file name (libopenblas.so.0)."""
    folder, file_name = os.path.split(path)
    if file_name.startswith("lib") and file_name.endswith(".so"):
        return "-L%s -l%s" % (folder, file_name[3:-3])
    return "-L%s -l:%s" % (folder, file_name)


def describe(ldflags):
    """What the result records of Theano's BLAS: its `ldflags`, whether it is linked, the
    library file (NumPy's own where Theano goes through NumPy's C API) and its version."""
    linked = bool(ldflags.strip())
    library = library_of(ldflags) if linked else (wheel_openblas(("numpy",)) or [None])[0]
    config = openblas_config(library) if library else None
    version = re.match(r"OpenBLAS (\S+)", config or "")
    return {"ldflags": ldflags, "linked": linked,
            "library": os.path.realpath(library) if library else None,
            "version": version.group(1) if version else None, "config": config,
            # The run's summary line shows it.
            "note": None if linked else "Theano on NumPy's C-API BLAS, not a linked one "
                                        "(slower: %s for full speed)" % INSTALL_HINT}


def library_of(ldflags):
    """The file of the first library that `ldflags` names with -l, looked for in its -L
    folders and then in the dynamic linker's cache; None where none is found."""
    tokens = [token.strip("'\"") for token in ldflags.split()]
    folders = [token[2:] for token in tokens if token.startswith("-L")]
    cache = None
    for token in tokens:
        if not token.startswith("-l"):
            continue
        name = token[3:] if token.startswith("-l:") else "lib%s.so" % token[2:]
        for folder in folders:
            if os.path.exists(os.path.join(folder, name)):
                return os.path.join(folder, name)
        cache = _linker_cache() if cache is None else cache
        for cached, path in cache:
            if cached == name or (not token.startswith("-l:") and cached.startswith(name + ".")):
                return path
    return None


def openblas_config(path):
    """openblas_get_config() of the library file `path` ("OpenBLAS 0.3.21 DYNAMIC_ARCH
    ..."), or None where it is no OpenBLAS or does not load. Meant for a library that
    the process has loaded already (a wheel's finds its own dependencies only then)."""
    try:
        library = ctypes.CDLL(path)
    except OSError:
        return None
    for name in _CONFIG_FUNCTIONS:
        function = getattr(library, name, None)
        if function is not None:
            function.restype = ctypes.c_char_p
            return function().decode("ascii", "replace").strip()
    return None


def _linker_cache():
    """(file name, path) of each library in the dynamic linker's cache (`ldconfig -p`)."""
    for ldconfig in _LDCONFIG:
        try:
            listing = subprocess.check_output([ldconfig, "-p"], stderr=subprocess.DEVNULL,
                                              universal_newlines=True)
        except (OSError, subprocess.CalledProcessError):
            continue
        return re.findall(r"^\s+(\S+) \(.*\) => (\S+)$", listing, re.M)
    return []
