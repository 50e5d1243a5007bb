"""What the image tests and the container tests share: the tools' folder, the
commit an image is built from, a requirements file's pins."""

import os
import subprocess

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from conftest import REPO


TOOLS = os.path.join(REPO, ".venv-tools", "bin")


# How the README's build commands name the commit: "-dirty" where the tree has changes.
BUILD_COMMIT = "git describe --always --dirty --abbrev=40 --exclude='*'"


def build_commit(tree):
    """BUILD_COMMIT's answer in the git tree `tree`."""
    return subprocess.check_output(["sh", "-c", BUILD_COMMIT], cwd=str(tree),
                                   universal_newlines=True).strip()


def pins(path):
    """{name: Requirement} of a requirements file, each one pinned with ==."""
    found = {}
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                req = Requirement(line)
                specs = list(req.specifier)
                assert len(specs) == 1 and specs[0].operator == "==", "%s: %s is not pinned" % (path, line)
                found[canonicalize_name(req.name)] = req
    return found
