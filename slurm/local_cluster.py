"""A real Slurm on this machine, for the tests: a controller and two compute nodes.

tests/test_slurm.py submits the recipes under recipes/slurm/ to it, as a user
would submit them to a cluster. Debian's Slurm 22.05 and MUNGE are installed
with apt-get where missing; the daemons run privately (their own ports, MUNGE
socket and key, state in a temporary folder), each in its own UTS, mount and
PID namespaces (`unshare`): a node has its own host name and sees only its own
processes, while it shares this machine's files, so the checkout and its
virtual environment run there as they are. Each node's /etc/hosts names every
node 127.0.0.1.

Every daemon dies with the process that started it (PR_SET_PDEATHSIG), and
stopping a node kills every process on it at once (its PID namespace ends), as
a node that loses its power would.

Also a command line: `python3 slurm/local_cluster.py` starts it, prints the
SLURM_CONF to export, and stops it on Enter. Standard library only.
"""
import ctypes
import os
import shutil
import signal
import socket
import string
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "docker"))
from engine import apt_install, run  # noqa: E402

NODES = ("node1", "node2")
CONTROLLER = "controller"
# The programs, and the Debian packages that bring them.
PROGRAMS = {"/usr/sbin/slurmctld": "slurmctld", "/usr/sbin/slurmd": "slurmd",
            "/usr/bin/sbatch": "slurm-client", "/usr/sbin/munged": "munge"}
# Seconds a node may stay silent before the controller marks it DOWN.
SLURMD_TIMEOUT_S = 10


def ensure_installed():
    missing = sorted({package for path, package in PROGRAMS.items() if not os.path.exists(path)})
    if missing:
        apt_install(missing)


def _die_with_parent():
    """In a daemon's process before exec: killed by the kernel when its parent dies. SIGKILL,
    as `unshare --fork` ignores SIGTERM while it waits for its child."""
    os.setsid()
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _kill(process):
    """SIGKILL a daemon; for a host, the first process in its namespaces, which takes
    every other one there with it, and `unshare` returns once they are all gone."""
    try:
        with open("/proc/%d/task/%d/children" % (process.pid, process.pid)) as f:
            pids = [int(pid) for pid in f.read().split()]
    except OSError:  # it has ended
        pids = []
    for pid in pids or [process.pid]:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait()


def _free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """The running daemons; `env()` is the environment for sbatch, srun, squeue, scancel."""

    def __init__(self):
        self.state = tempfile.mkdtemp(prefix="keras-bench-slurm-")
        self.conf = os.path.join(self.state, "slurm.conf")
        self.daemons = {}  # name: its Popen (for a host, the `unshare` that holds it)

    def env(self, **extra):
        return dict(os.environ, SLURM_CONF=self.conf, **extra)

    def start(self):
        ensure_installed()
        key = os.path.join(self.state, "munge.key")
        with open(key, "wb") as f:
            f.write(os.urandom(1024))
        os.chmod(key, 0o400)
        munge_socket = os.path.join(self.state, "munge.socket")
        with open(os.path.join(HERE, "slurm.conf.in")) as f:
            template = string.Template(f.read())
        with open(self.conf, "w") as f:
            f.write(template.substitute(
                state=self.state, munge_socket=munge_socket, controller_port=_free_port(),
                node1_port=_free_port(), node2_port=_free_port(), cpus=os.cpu_count() or 1,
                slurmd_timeout=SLURMD_TIMEOUT_S))
        with open(os.path.join(self.state, "hosts"), "w") as f:
            f.write("127.0.0.1 localhost %s %s\n::1 localhost\n" % (CONTROLLER, " ".join(NODES)))
        for name in (CONTROLLER,) + NODES:
            os.makedirs(os.path.join(self.state, name))
        self._spawn("munged", ["munged", "--foreground", "--force", "--socket", munge_socket,
                               "--key-file", key, "--pid-file", self._path("munged.pid"),
                               "--log-file", self._path("munged.log"),
                               "--seed-file", self._path("munged.seed")])
        self._wait(lambda: os.path.exists(munge_socket), "munged", "munged.log")
        self.start_host(CONTROLLER, "slurmctld -D -i -f " + self.conf)
        self._wait(lambda: self.command("scontrol", "ping", check=False).returncode == 0,
                   "slurmctld", "slurmctld.log")
        for node in NODES:
            self.start_node(node)
        self.wait_up()
        return self

    def start_node(self, node):
        self.start_host(node, "slurmd -D -f " + self.conf)

    def start_host(self, name, daemon):
        """`daemon` (a shell command) in namespaces of its own whose host name is `name`."""
        script = ("hostname %s && mount --bind %s /etc/hosts && exec %s"
                  % (name, self._path("hosts"), daemon))
        self._spawn(name, ["unshare", "--uts", "--mount", "--pid", "--fork", "--mount-proc",
                           "--kill-child=SIGKILL", "sh", "-c", script])

    def stop_node(self, node):
        """Kill the node and every process on it, at once."""
        _kill(self.daemons.pop(node))

    def wait_up(self, timeout=60):
        """Until every node serves jobs (idle, or running some)."""
        self._wait(lambda: set(self.command("sinfo", "-h", "-N", "-o", "%t", check=False)
                               .stdout.split()) <= {"idle", "mix", "alloc"},
                   "the nodes", "slurmctld.log", timeout)

    def command(self, *args, **kwargs):
        return run(list(args), env=self.env(), timeout=60, **kwargs)

    def stop(self):
        for process in reversed(list(self.daemons.values())):
            _kill(process)
        self.daemons.clear()
        shutil.rmtree(self.state, ignore_errors=True)

    def _path(self, name):
        return os.path.join(self.state, name)

    def _spawn(self, name, command):
        log = open(self._path(name + ".out"), "w")
        self.daemons[name] = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log,
                                              stderr=subprocess.STDOUT,
                                              preexec_fn=_die_with_parent)
        log.close()

    def _wait(self, ready, what, log, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if ready():
                return
            time.sleep(0.3)
        logs = []
        for name in sorted(os.listdir(self.state)):
            if name.endswith((".log", ".out")):
                with open(self._path(name)) as f:
                    logs.append("--- %s\n%s" % (name, f.read()[-2000:]))
        self.stop()
        raise RuntimeError("%s did not start (%s):\n%s" % (what, log, "\n".join(logs)))


def main():
    cluster = Cluster().start()
    try:
        print("export SLURM_CONF=%s" % cluster.conf)
        sys.stdin.readline()
    finally:
        cluster.stop()


if __name__ == "__main__":
    main()
