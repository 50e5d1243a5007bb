"""Who this process is in a job of several processes: its rank, their number, the coordinator.

Launchers and schedulers say it in their own variables; this module reads them
into one Place, the same whichever started the job, and imports no framework:

- options --process-id, --num-processes and --coordinator (spec fields), first;
- torchrun's RANK, WORLD_SIZE, LOCAL_RANK, GROUP_RANK, MASTER_ADDR and MASTER_PORT;
- TensorFlow's TF_CONFIG (a cluster of workers and this task's index);
- Keras's KERAS_DISTRIBUTION_PROCESS_ID, _NUM_PROCESSES and _JOB_ADDRESSES (the
  first address is the coordinator), which keras.distribution.initialize reads;
- Slurm's SLURM_PROCID, SLURM_STEP_NUM_TASKS or SLURM_NTASKS, SLURM_LOCALID,
  SLURM_NODEID and the first host of SLURM_STEP_NODELIST or SLURM_JOB_NODELIST;
- a Kubernetes Indexed Job's JOB_COMPLETION_INDEX, as the process id only: a pod
  learns the count and the coordinator (pod 0's name under the headless Service)
  from KERAS_DISTRIBUTION_* set in the Job (a sweep's shards are Indexed Jobs too,
  and must not wait for peers).

The process id, count and coordinator may come from different sources (Slurm's
rank with a port from MASTER_PORT, say); each is taken from the first source
that has it.
"""
import json
import os
import re
import socket
import threading
import time
from collections import namedtuple

from harness.spec import UsageError

# Seconds rank 0, failing itself, waits for a peer's report of the failure that caused it;
# a peer whose heartbeat did not move meanwhile is gone (its node dead, say).
PEER_REPORT_WAIT_S = 5.0
# Seconds between a rank's heartbeats.
HEARTBEAT_S = 1.0

# The coordinator's port where a scheduler names only its host: torchrun's default.
DEFAULT_PORT = 29500


class Place(namedtuple("Place", "process_id num_processes coordinator local_rank node launcher")):
    """This process in its job. `coordinator` is "host:port" (None for one process);
    `node` numbers the machine (or pod) it runs on; `launcher` names what started it."""

    __slots__ = ()

    @property
    def several(self):
        return self.num_processes > 1


SINGLE = Place(0, 1, None, 0, 0, None)


class ClusterError(UsageError):
    """Variables that describe no possible job (a rank beyond the count, say)."""


def describe(spec=None, environ=None):
    """The Place of this process, from `spec`'s options and the environment."""
    environ = os.environ if environ is None else environ
    options = {}
    if spec is not None:
        options = {"process_id": spec.process_id, "num_processes": spec.num_processes,
                   "coordinator": spec.coordinator}
    sources = [("options", options)] + [(name, read(environ)) for name, read in _SOURCES]
    fields, launcher = {}, None
    for name, found in sources:
        for key, value in found.items():
            if value is not None and key not in fields:
                fields[key] = value
                launcher = launcher or (name if key == "num_processes" else None)
    count = fields.get("num_processes") or 1
    if count == 1:
        return SINGLE
    rank = fields.get("process_id")
    if rank is None or not 0 <= rank < count:
        raise ClusterError("%d processes, but this one's id is %s" % (count, rank))
    coordinator = fields.get("coordinator")
    if not coordinator:
        raise ClusterError("%d processes, but no coordinator address (--coordinator HOST:PORT, "
                           "KERAS_DISTRIBUTION_JOB_ADDRESSES or MASTER_ADDR)" % count)
    if ":" not in coordinator:
        coordinator = "%s:%s" % (coordinator, environ.get("MASTER_PORT") or DEFAULT_PORT)
    node = fields.get("node")
    return Place(rank, count, coordinator, fields.get("local_rank") or 0,
                 rank if node is None else node, launcher)


def watch_peers(peer_failures, on_failure, interval_s=0.5):
    """In rank 0, a daemon thread that asks `peer_failures()` (the tracebacks other
    ranks published) every `interval_s` seconds; at the first, `on_failure(them)`
    writes the job's result and the process ends. Rank 0 may be waiting for the failed
    rank in a collective that never returns (JAX's gloo waits until its coordination
    service gives up, minutes later, and then aborts the process without a result)."""
    def watch():
        while True:
            failures = peer_failures()
            if failures:
                on_failure(failures)
                os._exit(1)
            time.sleep(interval_s)

    thread = threading.Thread(target=watch, name="peer-failures")
    thread.daemon = True
    thread.start()


def keep_beating(beat, interval_s=HEARTBEAT_S):
    """In every rank but 0, a daemon thread that calls `beat()` (the rank's counter in the
    job's store goes up) every `interval_s` seconds: failing, rank 0 tells a rank that is
    gone (its node lost, its processes killed) from one that is only slow to report."""
    def keep():
        while True:
            beat()
            time.sleep(interval_s)

    thread = threading.Thread(target=keep, name="heartbeat")
    thread.daemon = True
    thread.start()


def report_failure(record, adapter, stopped=lambda: False):
    """A failure in a job of several processes: a rank other than 0 publishes its
    traceback; rank 0 puts the traceback of the rank that failed first (its own
    failure is most often that rank gone) into the job's result, or else names the
    ranks whose heartbeat stopped. Rank 0 stops waiting for a report when `stopped()`:
    the failure was then a peer stopping on the signal this rank has now too."""
    error = record["error"]
    if adapter.rank:
        adapter.publish_failure("rank %d on %s: %s" % (adapter.rank, socket.gethostname(),
                                                       error["traceback"]))
        return
    beats = adapter.heartbeats()
    deadline = time.time() + PEER_REPORT_WAIT_S
    failures = adapter.peer_failures()
    while not failures and time.time() < deadline:
        if stopped():
            return
        time.sleep(0.2)
        failures = adapter.peer_failures()
    then = "rank 0 then: " + error["traceback"]
    if failures:
        record["error"] = peers_error(failures, then)
        return
    lost = [rank for rank, (before, after) in enumerate(zip(beats, adapter.heartbeats()))
            if rank and before == after]
    if lost:
        hosts = adapter.hosts()
        record["error"] = {
            "type": "RankLost",
            "message": "%s lost: no heartbeat for %g s" % (", ".join(
                "rank %d on %s" % (rank, hosts[rank]) for rank in lost), PEER_REPORT_WAIT_S),
            "traceback": then}


def peers_error(failures, then=None):
    """The error of a job whose other ranks published `failures`."""
    last = [line for line in failures[0].strip().splitlines() if line.strip()]
    return {"type": "RankFailed", "message": "%s: %s" % (failures[0].split(":")[0], last[-1]),
            "traceback": "\n".join(failures + ([then] if then else []))}


def split_address(coordinator):
    """("host", port) of "host:port" (an IPv6 host in brackets, as in URLs)."""
    host, _, port = coordinator.rpartition(":")
    return host.strip("[]"), int(port)


def _number(environ, name):
    value = environ.get(name)
    if value in (None, ""):
        return None
    try:
        return int(value)
    except ValueError:
        raise ClusterError("%s=%r is not a whole number" % (name, value))


def _torchrun(environ):
    if "WORLD_SIZE" not in environ or "RANK" not in environ:
        return {}
    address = environ.get("MASTER_ADDR")
    return {"process_id": _number(environ, "RANK"), "num_processes": _number(environ, "WORLD_SIZE"),
            "local_rank": _number(environ, "LOCAL_RANK"), "node": _number(environ, "GROUP_RANK"),
            "coordinator": "%s:%s" % (address, environ.get("MASTER_PORT") or DEFAULT_PORT)
                           if address else None}


def _tf_config(environ):
    text = environ.get("TF_CONFIG")
    if not text:
        return {}
    try:
        config = json.loads(text)
        workers = config["cluster"]["worker"]
        index = int(config["task"]["index"])
    except (ValueError, KeyError, TypeError):
        raise ClusterError("TF_CONFIG is not a cluster of workers with this task's index: %s"
                           % text)
    return {"process_id": index, "num_processes": len(workers), "coordinator": workers[0]}


def _keras(environ):
    addresses = environ.get("KERAS_DISTRIBUTION_JOB_ADDRESSES")
    return {"process_id": _number(environ, "KERAS_DISTRIBUTION_PROCESS_ID"),
            "num_processes": _number(environ, "KERAS_DISTRIBUTION_NUM_PROCESSES"),
            "coordinator": addresses.split(",")[0].strip() if addresses else None}


def _slurm(environ):
    if "SLURM_PROCID" not in environ:
        return {}
    nodes = environ.get("SLURM_STEP_NODELIST") or environ.get("SLURM_JOB_NODELIST")
    return {"process_id": _number(environ, "SLURM_PROCID"),
            "num_processes": _number(environ, "SLURM_STEP_NUM_TASKS")
                             or _number(environ, "SLURM_NTASKS"),
            "local_rank": _number(environ, "SLURM_LOCALID"),
            "node": _number(environ, "SLURM_NODEID"),
            "coordinator": expand_nodelist(nodes)[0] if nodes else None}


def _kubernetes(environ):
    return {"process_id": _number(environ, "JOB_COMPLETION_INDEX")}


_SOURCES = (("torchrun", _torchrun), ("TF_CONFIG", _tf_config), ("KERAS_DISTRIBUTION", _keras),
            ("slurm", _slurm), ("kubernetes", _kubernetes))


# --- Slurm's compressed host lists: "node[01-03,7],gpu-a[1-2]-x" ---

_PART = re.compile(r"\[([^\[\]]*)\]|([^\[\]]+)")


def expand_nodelist(text):
    """The host names of a Slurm host list, in its order ("n[01-02],m" -> n01, n02, m).

    A range keeps its first number's zero padding; several bracket groups in one
    name multiply out, the last varying fastest (as `scontrol show hostnames` does).
    """
    hosts = []
    for name in _top_level_items(text):
        expanded = [""]
        position = 0
        for match in _PART.finditer(name):
            if match.start() != position:
                break
            position = match.end()
            choices = _ranges(match.group(1)) if match.group(1) is not None else [match.group(2)]
            expanded = [head + tail for head in expanded for tail in choices]
        if position != len(name):
            raise ClusterError("not a Slurm host list: %r" % text)
        hosts += expanded
    return hosts


def _top_level_items(text):
    """`text` split at the commas outside brackets, empty items dropped."""
    items, depth, current = [], 0, ""
    for char in text:
        depth += {"[": 1, "]": -1}.get(char, 0)
        if depth not in (0, 1):
            raise ClusterError("not a Slurm host list: %r" % text)
        if char == "," and depth == 0:
            items.append(current)
            current = ""
        else:
            current += char
    if depth:
        raise ClusterError("not a Slurm host list: %r" % text)
    return [item.strip() for item in items + [current] if item.strip()]


def _ranges(text):
    """"01-03,7" -> ["01", "02", "03", "7"]."""
    values = []
    for item in text.split(","):
        low, _, high = item.strip().partition("-")
        if not low.isdigit() or (high and not high.isdigit()):
            raise ClusterError("not a Slurm host range: [%s]" % text)
        width = len(low)
        values += ["%0*d" % (width, n) for n in range(int(low), int(high or low) + 1)]
    return values
