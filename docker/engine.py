"""A Docker engine, a base image and wheelhouses for building the images where no registry answers.

tests/test_containers.py builds and runs the images for real on machines like
CI's: Debian 12, root, no registry (so no `python:` base image), and PyPI
reached only from the host (a TLS-intercepting proxy or a local mirror). This
module provides what that takes, each step cached under build/ so that a second
run on the same machine only checks it:

- engine(): a Docker engine that answers, or else Debian's docker.io installed
  with apt-get and a private dockerd started on it: its own data root (kept
  between runs: Docker's layer cache and the base image), exec root, socket
  and pid file under build/docker, stopped by stop(), and by the kernel if the
  process that started it dies first;
- base_image(): a stand-in for the official python:3.11 image, made from
  Debian 12's own packages (debootstrap, then `docker import`);
- wheelhouse(): the wheels of a requirements file, fetched on the host by pip,
  for a build with no network inside (WHEELHOUSE, PIP_NO_INDEX=1).

Also a command line: `python3 docker/engine.py start|stop|base|wheelhouse REQUIREMENTS DIR`.
Standard library only, so it runs on the host's plain python3.
"""
import ctypes
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(REPO, "build", "docker")
WHEELS = os.path.join(REPO, "build", "wheels")
# Debian's client: it builds with BuildKit (DOCKER_BUILDKIT=1) without the buildx plugin.
DEBIAN_DOCKER = "/usr/bin/docker"
BASE_IMAGE = "keras-bench/debian-python:3.11-bookworm"
# What the official python image gives a Dockerfile: `python` and venv's ensurepip.
BASE_PACKAGES = "python3,python3-venv,python-is-python3"
BASE_ENV = ("PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG=C.UTF-8")


class Unavailable(Exception):
    """No engine answers and none can be started here (not root): a reason to skip."""


def run(cmd, check=True, timeout=None, **kwargs):
    """Run a command, its output captured; a failure raises with the command's own words."""
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=timeout, **kwargs)
    if check and proc.returncode != 0:
        raise RuntimeError("%s exited %d:\n%s%s" % (" ".join(cmd), proc.returncode,
                                                    proc.stdout[-3000:], proc.stderr[-3000:]))
    return proc


class Engine:
    """A Docker engine at `host` (a DOCKER_HOST value); `process` when this module started it."""

    def __init__(self, host, process=None, pid=None):
        self.host, self.process, self.pid = host, process, pid

    @property
    def private(self):
        return self.pid is not None

    def env(self, **extra):
        """The environment for docker and docker-compose commands on this engine.

        BuildKit on, and Debian's client first on PATH: compose v1 hands builds to
        the `docker` it finds there (COMPOSE_DOCKER_CLI_BUILD), and a client without
        buildx refuses DOCKER_BUILDKIT=1.
        """
        env = dict(os.environ, DOCKER_HOST=self.host, DOCKER_BUILDKIT="1", COMPOSE_DOCKER_CLI_BUILD="1")
        env["PATH"] = os.pathsep.join([client_dir(), env.get("PATH", "")])
        env.update(extra)
        return env

    def docker(self, *args, **kwargs):
        return run([DEBIAN_DOCKER] + list(args), env=self.env(), **kwargs)

    def has_image(self, name):
        return self.docker("image", "inspect", name, check=False).returncode == 0

    def stop(self):
        """Stop the private dockerd (containers included); a shared engine is left alone."""
        if not self.private:
            return
        try:
            os.kill(self.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.time() + 60
        while _alive(self.pid) and time.time() < deadline:
            if self.process is not None and self.process.poll() is not None:
                break
            time.sleep(0.2)
        if _alive(self.pid):
            os.kill(self.pid, signal.SIGKILL)
        if self.process is not None:
            self.process.wait()


def client_dir():
    """A folder whose `docker` is Debian's client, to put first on PATH."""
    folder = os.path.join(BUILD, "bin")
    link = os.path.join(folder, "docker")
    if not os.path.islink(link):
        os.makedirs(folder, exist_ok=True)
        os.symlink(DEBIAN_DOCKER, link)
    return folder


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead for our purposes
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def answers(host):
    """Whether a Docker engine answers at `host`."""
    if not os.path.exists(DEBIAN_DOCKER) and not shutil.which("docker"):
        return False
    client = DEBIAN_DOCKER if os.path.exists(DEBIAN_DOCKER) else shutil.which("docker")
    try:
        proc = run([client, "-H", host, "version", "--format", "{{.Server.Version}}"],
                   check=False, timeout=20)
    except subprocess.TimeoutExpired:
        return False
    return proc.returncode == 0


def _paths():
    """The private engine's files. Its sockets live under the exec root, and a unix
    socket's path has at most 107 bytes: a deep checkout moves them to /tmp."""
    run_dir = os.path.join(BUILD, "run")
    if len(run_dir) > 60:
        run_dir = "/tmp/keras-bench-docker-" + hashlib.sha1(REPO.encode()).hexdigest()[:10]
    return {"data": os.path.join(BUILD, "data"), "exec": os.path.join(run_dir, "exec"),
            "socket": os.path.join(run_dir, "docker.sock"), "pidfile": os.path.join(BUILD, "dockerd.pid"),
            "log": os.path.join(BUILD, "dockerd.log")}


def apt_install(packages):
    """Install Debian packages (only called for what is missing)."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-qq"], env=env, timeout=600)
    run(["apt-get", "install", "-y", "-qq", "--no-install-recommends"] + list(packages), env=env, timeout=900)


def ensure_tools():
    """Debian's docker.io (dockerd, its client, containerd, runc) and debootstrap."""
    missing = [pkg for pkg, path in (("docker.io", DEBIAN_DOCKER), ("docker.io", "/usr/sbin/dockerd"),
                                     ("debootstrap", "/usr/sbin/debootstrap")) if not os.path.exists(path)]
    if missing:
        apt_install(sorted(set(missing)))


def _die_with_parent():
    """In the child before exec: the kernel sends it SIGTERM when its parent dies, so
    an interrupted or killed test run leaves no dockerd behind."""
    os.setsid()
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def engine(tied=True):
    """An engine that answers ($DOCKER_HOST, the system's socket), else a private one started here.

    A private engine `tied` to this process is stopped by the kernel if this
    process dies before it calls stop(). Raises Unavailable where none answers
    and this process is not root; RuntimeError (with dockerd's log) where
    starting one fails.
    """
    for host in (os.environ.get("DOCKER_HOST"), "unix:///var/run/docker.sock"):
        if host and answers(host):
            if os.getuid() == 0:
                ensure_tools()  # Debian's client, for BuildKit builds
            return Engine(host)
    if os.getuid() != 0:
        raise Unavailable("no Docker engine answers, and starting one takes root")
    ensure_tools()
    paths = _paths()
    host = "unix://" + paths["socket"]
    for name in ("data", "exec"):
        os.makedirs(paths[name], exist_ok=True)
    stale = _pid_in(paths["pidfile"])
    if stale and _alive(stale) and _command(stale) == "dockerd":  # left by a run that was killed before it could stop it
        Engine(host, pid=stale).stop()
    log = open(paths["log"], "a")
    process = subprocess.Popen(
        ["dockerd", "--data-root", paths["data"], "--exec-root", paths["exec"], "--host", host,
         "--pidfile", paths["pidfile"]],
        stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
        preexec_fn=_die_with_parent if tied else os.setsid)
    log.close()
    private = Engine(host, process=process, pid=process.pid)
    deadline = time.time() + 90
    while time.time() < deadline:
        if process.poll() is not None:
            break
        if answers(host):
            return private
        time.sleep(0.5)
    private.stop()
    with open(paths["log"]) as f:
        raise RuntimeError("dockerd did not start (%s):\n%s" % (paths["log"], f.read()[-4000:]))


def _command(pid):
    try:
        with open("/proc/%d/comm" % pid) as f:
            return f.read().strip()
    except OSError:
        return None


def _pid_in(path):
    try:
        with open(path) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def debian_mirror():
    """The Debian mirror this host's apt uses (deb.debian.org if it names none)."""
    for folder, names in (("/etc/apt", ["sources.list"]), ("/etc/apt/sources.list.d", None)):
        try:
            files = names or sorted(os.listdir(folder))
        except OSError:
            continue
        for name in files:
            try:
                with open(os.path.join(folder, name)) as f:
                    text = f.read()
            except OSError:
                continue
            for match in re.finditer(r"^(?:deb\s+(?:\[[^\]]*\]\s+)?|URIs:\s*)(\S+)", text, re.M):
                uri = match.group(1).rstrip("/")
                if uri.endswith("/debian"):
                    return uri
    return "http://deb.debian.org/debian"


def base_image(docker_engine, name=BASE_IMAGE):
    """A stand-in for python:3.11-slim-bookworm, made once from Debian 12's packages.

    `python` is Debian's Python 3.11 with venv; apt's sources name this host's
    mirror. Kept in the engine's data root, so a second run finds it.
    """
    if docker_engine.has_image(name):
        return name
    rootfs = os.path.join(BUILD, "rootfs")
    shutil.rmtree(rootfs, ignore_errors=True)
    run(["debootstrap", "--variant=minbase", "--include=" + BASE_PACKAGES, "bookworm", rootfs,
         debian_mirror()], timeout=900)
    for folder in ("var/cache/apt/archives", "var/lib/apt/lists"):  # as the official images do
        path = os.path.join(rootfs, folder)
        for entry in os.listdir(path):
            if os.path.isfile(os.path.join(path, entry)):
                os.remove(os.path.join(path, entry))
    changes = []
    for setting in BASE_ENV:
        changes += ["-c", "ENV " + setting]
    tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
    try:
        run([DEBIAN_DOCKER, "import"] + changes + ["-c", 'CMD ["python"]', "-", name],
            stdin=tar.stdout, env=docker_engine.env(), timeout=600)
    finally:
        tar.stdout.close()
        tar.wait()
    shutil.rmtree(rootfs)
    return name


def wheelhouse(requirements, folder, python=sys.executable):
    """The wheels of every pin in `requirements`, fetched (or built, for a source-only
    package) by this machine's pip into `folder`; reused while the file is unchanged.

    Pip runs with the host's own configuration: its index, certificates and local
    wheels (PyTorch's CPU build where the host has it).
    """
    with open(requirements, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    stamp = os.path.join(folder, ".complete")
    if _read(stamp) == digest:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    run([python, "-m", "pip", "wheel", "--quiet", "--no-deps", "--disable-pip-version-check",
         "--wheel-dir", folder, "-r", requirements], timeout=1800)
    with open(stamp, "w") as f:
        f.write(digest)
    return folder


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def main(argv):
    command = argv[0] if argv else "help"
    if command == "start":  # stays up after this process, until `stop`
        print("export DOCKER_HOST=%s" % engine(tied=False).host)
    elif command == "stop":
        paths = _paths()
        pid = _pid_in(paths["pidfile"])
        if pid and _alive(pid):
            Engine("unix://" + paths["socket"], pid=pid).stop()
    elif command == "base":
        docker_engine = engine()
        try:
            print(base_image(docker_engine))
        finally:
            docker_engine.stop()
    elif command == "wheelhouse" and len(argv) == 3:
        print(wheelhouse(argv[1], argv[2]))
    else:
        sys.stderr.write(__doc__)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
