"""The shims that legacy Keras 2 and its frameworks need on today's Python and NumPy.

All of them live here. Each one checks for its problem first and does nothing
where it is absent (the seeds' own Python 3.6 images need none); none edits an
installed package's files. Most run before Keras is imported, one right after;
the names of those applied are recorded in the result (`environment.legacy_shims`).
"""
import collections
import collections.abc
import os
import re
import sys
import sysconfig
import warnings

from harness.backends import theano_blas

# NumPy 1.24 removed these aliases of Python's types; mxnet 1.9.1 still uses
# numpy.bool in its NumPy-compatible operators.
_NUMPY_TYPE_ALIASES = {"bool": bool, "int": int, "float": float, "complex": complex,
                       "object": object, "str": str}

# The files Theano reads its configuration from, when $THEANORC does not say.
_THEANORC_DEFAULT = os.pathsep.join(("~/.theanorc", "~/.theanorc.txt"))


def collections_abc_aliases(module=collections):
    """Python 3.10 removed `collections.Iterable` and the other ABC aliases.

    Keras 2.1.5 to 2.2.4 import `from collections import Iterable`
    (keras/callbacks.py), so `import keras` fails without them. Adds back each
    missing name of collections.abc; returns whether any was missing.
    """
    missing = [name for name in collections.abc.__all__ if not hasattr(module, name)]
    for name in missing:
        setattr(module, name, getattr(collections.abc, name))
    return bool(missing)


def numpy_type_aliases(numpy=None):
    """numpy.bool, numpy.int and the like, as NumPy before 1.24 had them (the builtins).

    Only for a NumPy that lacks them; NumPy 1.20 to 1.23 still has them (with a
    deprecation warning on use), and our environments pin one of those.
    """
    if numpy is None:
        import numpy
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy 1.20-1.23 warn on every access
        missing = [name for name in _NUMPY_TYPE_ALIASES if not hasattr(numpy, name)]
    for name in missing:
        setattr(numpy, name, _NUMPY_TYPE_ALIASES[name])
    return bool(missing)


def theano_blas_ldflags(environ=os.environ):
    """`blas.ldflags` in THEANO_FLAGS, where Theano could not find them itself.

    Theano 1.0.5 reads its default BLAS link flags from
    numpy.distutils.__config__.blas_opt_info, which today's NumPy builds no
    longer carry: `import theano` dies with an AttributeError. The flags given
    link the OpenBLAS that theano_blas finds; where there is none they are
    empty, and Theano calls BLAS through NumPy's C API, much slower. Flags the
    user set, in THEANO_FLAGS or a .theanorc file, are left alone.
    """
    flags = environ.get("THEANO_FLAGS", "")
    if "blas.ldflags" in flags or _theanorc_sets("ldflags", environ) or _theano_finds_blas():
        return False
    setting = "blas.ldflags=" + theano_blas.find_ldflags()
    environ["THEANO_FLAGS"] = ",".join(f for f in (flags, setting) if f)
    return True


def theano_python_scan(modules=sys.modules, include_dir=None):
    """Let Theano's scan (the LSTM's loop) run its Python implementation on Python 3.11+.

    Theano's C scan is Cython output of 2017 that includes "longintrepr.h",
    which Python 3.11 moved into cpython/: compiling it fails after about 20 s,
    and the LSTM's training function with it. Theano falls back to its Python
    scan whenever the C one cannot be imported; a None entry in sys.modules
    makes that import fail at once, so Theano takes the fallback without the
    doomed compile. Theano's other C code is unaffected.
    """
    include_dir = include_dir or sysconfig.get_paths()["include"]
    if os.path.exists(os.path.join(include_dir, "longintrepr.h")):
        return False
    modules.setdefault("theano.scan_module.scan_perform_ext", None)
    return True


def quiet_framework_deprecations(framework):
    """Stop a framework's deprecation warnings that keras-mxnet turns on for the whole process.

    keras-mxnet's `import keras` calls warnings.simplefilter("always",
    DeprecationWarning), and mxnet reaches scipy.sparse.csr (deprecated since
    SciPy 1.8) in every batch it converts: two warnings printed in every step,
    inside the timed step. Ignores DeprecationWarnings raised in the
    framework's own modules, only where such an "always" filter is in force.
    """
    if not any(action == "always" and category is DeprecationWarning and module is None
               for action, _, category, module, _ in warnings.filters):
        return False
    warnings.filterwarnings("ignore", category=DeprecationWarning, module=re.escape(framework) + r"\b")
    return True


# (name, the backends it is for (None: all of Keras 2), when, the shim)
SHIMS = (
    ("collections-abc-aliases", None, "before_import", collections_abc_aliases),
    ("numpy-type-aliases", None, "before_import", numpy_type_aliases),
    ("theano-blas-ldflags", ("theano",), "before_import", theano_blas_ldflags),
    ("theano-python-scan", ("theano",), "before_import", theano_python_scan),
    ("quiet-mxnet-deprecations", ("mxnet",), "after_import",
     lambda: quiet_framework_deprecations("mxnet")),
)


def apply(backend, when):
    """Apply the shims `backend` needs here at this point ("before_import" or
    "after_import" of Keras); returns the names of those applied."""
    return [name for name, backends, stage, shim in SHIMS
            if stage == when and (backends is None or backend in backends) and shim()]


def _theano_finds_blas():
    """Whether Theano's own search for BLAS link flags works with this NumPy."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numpy.distutils is deprecated
            import numpy.distutils
    except ImportError:  # gone from NumPy on Python 3.12+; Theano reads it all the same
        return False
    config = getattr(numpy.distutils, "__config__", None)
    # Without a __config__ Theano asks numpy.distutils.system_info, which works.
    return not config or hasattr(config, "blas_opt_info")


def _theanorc_sets(key, environ):
    for path in environ.get("THEANORC", _THEANORC_DEFAULT).split(os.pathsep):
        try:
            with open(os.path.expanduser(path)) as f:
                if key in f.read():
                    return True
        except OSError:
            pass
    return False
