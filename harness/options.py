"""The run options as argparse sees them, made from harness.spec.OPTIONS.

The commands build their parsers from spec.OPTIONS through here, and the sweep
turns a run's options back into a `python -m harness` command line; both import
this module, so neither imports the other. No framework is imported here.
"""
import argparse
import os

from harness.spec import DEFAULTS, ENVIRONMENT_DEFAULTS, OPTIONS, UsageError


def flag(option):
    return option.keywords.get("flag") or "--" + option.name.replace("_", "-")


def add_options(parser, takes):
    """Add to `parser` the options of spec.OPTIONS that `takes` ("all", "one", or a
    workload's name) selects, in the table's order."""
    for option in OPTIONS:
        if option.takes == takes or isinstance(option.takes, tuple) and takes in option.takes:
            keywords = dict((k, v) for k, v in option.keywords.items() if k != "flag")
            if keywords.get("action") == "store_true":
                keywords["default"] = None  # not given: the spec's default holds
            if option.name != flag(option).lstrip("-").replace("-", "_"):
                keywords["dest"] = option.name
            parser.add_argument(flag(option), help=help_text(option), **keywords)


def help_text(option):
    """The option's help, its "{default}" the spec's default (and its $VARIABLE)."""
    if option.help is None:
        return argparse.SUPPRESS
    default = option.default
    text = "%g" % default if isinstance(default, float) else str(default)
    if option.name in ENVIRONMENT_DEFAULTS:
        text += ", or $" + ENVIRONMENT_DEFAULTS[option.name]
    return option.help.format(default=text)


def command_line(options):
    """The flags that give a run `options` (spec field -> value; None: not given)."""
    words = []
    for option in OPTIONS:
        value = options.get(option.name)
        if value is None or option.takes is None:
            continue
        if option.keywords.get("action") == "store_true":
            words += [flag(option)] if value else []
        else:
            words += [flag(option), str(value)]
    return words


def run_options(args):
    """The run options given on the command line, as spec fields (None: not given)."""
    return dict((option.name, getattr(args, option.name)) for option in OPTIONS
                if option.takes is not None and getattr(args, option.name, None) is not None)


def check_out_dir(folder):
    """Raise UsageError unless result files can be written into `folder`: it exists and is
    a writable folder, or it is missing and its nearest existing parent is one (it is
    created when the result is written). Found now, not after hours of training; a
    folder that fails later (a full disk) still gets the result into a fallback folder
    (schema.write_or_fall_back)."""
    folder = DEFAULTS["out"] if folder is None else folder
    path = os.path.abspath(folder)
    while not os.path.exists(path):
        path = os.path.dirname(path)
    if not os.path.isdir(path):
        raise UsageError("--out %s: %s is not a folder" % (folder, path))
    if not os.access(path, os.W_OK | os.X_OK):
        raise UsageError("--out %s: %s cannot be written (%s)" % (
            folder, path, "read-only file system" if _read_only(path) else "permission denied"))


def _read_only(path):
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (AttributeError, OSError):  # no statvfs on Windows
        return False
