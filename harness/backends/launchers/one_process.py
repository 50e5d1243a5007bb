"""The run in this one process: what every launcher answers, and its answers alone."""
import contextlib


class OneProcess:
    """This process runs the whole measurement as rank 0, over its own devices; the
    plan's decisions need no agreement between processes. `parallel` names the
    data-parallel mechanism over those devices, when there is one."""

    rank = 0
    nodes = 1

    def __init__(self, parallel=None):
        self.parallel = parallel

    def scope(self):
        """The context models are built and compiled in."""
        return contextlib.ExitStack()  # an empty one (contextlib.nullcontext is 3.7+)

    def unsupported(self, spec):
        """Why runs of this kind cannot run `spec`, or None."""
        return None

    def launch(self, adapter, measure, spec, record):
        """Run `measure(adapter, spec, record)` in every process of the run."""
        return measure(adapter, spec, record)

    def agree(self, value):
        """`value` (a flag or a whole number) as rank 0 sees it: every process must stop
        after the same epoch, and take the same steps in each."""
        return value

    def local(self, arrays, batch_size):
        """The rows of `arrays` this process feeds, and its share of the batch."""
        return arrays, batch_size

    def fed(self, rows):
        """Count `rows` handed to Keras by this process (for the replicas' account)."""

    def per_rank(self):
        """What each rank took and where it ran, for the replicas' account ({} here)."""
        return {}

    def publish_failure(self, text):
        """Tell rank 0 that this process failed, and why (several processes only)."""

    def peer_failures(self):
        """The failures other ranks have published so far (rank 0, several processes)."""
        return []

    def beat(self):
        """Tell rank 0 that this process is alive (several processes only)."""

    def heartbeats(self):
        """Every rank's heartbeat count so far, in rank order (several processes only)."""
        return []

    def hosts(self):
        """Every rank's host name, in rank order (several processes only)."""
        return []


class Ranks(OneProcess):
    """The account shared by the launchers of several processes, one per rank:
    `members` (each rank's host and node), `samples` (this rank's) and `gather`."""

    members = ()
    samples = 0

    @property
    def nodes(self):
        return len({m["node"] for m in self.members})

    def per_rank(self):
        return {"samples_per_rank": self.gather(self.samples),
                "host_per_rank": [m["host"] for m in self.members],
                "node_per_rank": [m["node"] for m in self.members]}

    def hosts(self):
        return [m["host"] for m in self.members]

    def gather(self, value):
        """Every rank's `value`, in rank order."""
        raise NotImplementedError
