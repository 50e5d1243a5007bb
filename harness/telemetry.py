"""GPU and host use, sampled by a background thread while a run trains.

    with Sampler(interval_s=0.5, gpus=1) as sampler:
        train()
    sampler.summary()  # mean and peak of each measure; sampler.samples holds every sample

Host: `cpu_percent` is the CPU time of this process and of its children (DDP
workers are children), live or ended, over wall time, as a percentage of one
core (two busy cores read 200); `system_cpu_percent` is the whole machine's
busy share of all its cores, from /proc/stat; `rss_mb` is the resident memory
of this process plus its live descendants (where there is no /proc, the peak
that getrusage reports instead). Rates need two readings, so the first sample
has none. The summary's mean of the two CPU rates is the whole span's CPU time
over its wall time, not a mean of the samples' short windows: CPU time counts
in 10 ms clock ticks, so a 50 ms window reads 20% high or low, and such errors
cancel only in the totals.

GPU: utilisation, memory used and power of the run's GPUs, read through
NVIDIA's NVML by harness.gpu_reader (see there what NVML's figures mean).
Where NVML or a driver is missing, or the run uses no GPU, the summary says
`available: False` and why; sampling goes on for the host.
"""
import glob
import os
import sys
import threading
import time

from harness.gpu_reader import MIB, GpuReader

# CPU times count in clock ticks (10 ms at the usual 100 Hz), so a rate over a
# shorter window is mostly rounding: stop()'s sample, taken just after the last
# one, could read 1000%. Such a sample has no rates; the next one spans it.
MIN_RATE_WINDOW_S = 0.05


class Sampler(object):
    """Samples host and GPU use every `interval_s` seconds between start() and stop().

    `gpus` is how many of the visible GPUs the run uses (0: a CPU run). `nvml`
    is the pynvml module, or a stand-in with its functions; by default pynvml
    is imported when the sampler starts.
    """

    def __init__(self, interval_s=0.5, gpus=0, nvml=None):
        if not interval_s > 0:
            raise ValueError("interval_s must be more than 0, not %r" % (interval_s,))
        self.interval_s = interval_s
        self.gpus = gpus
        self.samples = []
        self._nvml = nvml
        self._host = _HostReader()
        self._gpu = None
        self._stopping = threading.Event()
        self._thread = None
        self._stopped = False
        self._start = None

    def start(self):
        """Take one sample now, then one every interval in a daemon thread."""
        if self._thread is not None:
            raise RuntimeError("a Sampler starts once")
        self._gpu = GpuReader.open(self.gpus, self._nvml)
        self._start = time.monotonic()
        self._sample()
        self._thread = threading.Thread(target=self._loop, name="telemetry-sampler")
        self._thread.daemon = True  # never keeps a finished run's process alive
        self._thread.start()
        return self

    def stop(self):
        """Take a last sample and end the thread; later calls do nothing."""
        if self._thread is None or self._stopped:
            return
        self._stopped = True
        self._stopping.set()
        self._thread.join()
        self._sample()
        self._gpu.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def _loop(self):
        ticks = 1
        while True:
            # Keep to the start's grid, and skip ticks missed while the process was starved.
            delay = self._start + ticks * self.interval_s - time.monotonic()
            ticks += max(0, int(-delay // self.interval_s)) + 1
            if self._stopping.wait(max(0.0, delay)):
                return
            self._sample()

    def _sample(self):
        sample = {"t": round(time.monotonic() - self._start, 3)}
        sample.update(self._host.read())
        sample["gpus"] = self._gpu.read()
        self.samples.append(sample)

    def summary(self):
        """Mean and peak of every measure over the samples so far, and the GPUs' identities."""
        samples = list(self.samples)
        host = {name: _mean_peak([s[name] for s in samples])
                for name in ("cpu_percent", "system_cpu_percent", "rss_mb")}
        for name, mean in self._host.span_rates().items():
            if host[name] is not None and mean is not None:
                host[name]["mean"] = mean
        gpu = {"available": False, "reason": "the sampler has not started", "devices": []}
        if self._gpu is not None:
            gpu = {"available": self._gpu.available, "reason": self._gpu.reason, "devices": []}
            for position, device in enumerate(self._gpu.devices):
                readings = [s["gpus"][position] for s in samples]
                entry = dict(device)
                for name in ("util_percent", "memory_used_mb", "power_w"):
                    entry[name] = _mean_peak([r[name] for r in readings])
                gpu["devices"].append(entry)
        return {"interval_s": self.interval_s, "count": len(samples), "host": host, "gpu": gpu}


def _mean_peak(values):
    """{"mean", "peak"} of the values that are not None; None when there are none."""
    present = [v for v in values if v is not None]
    if not present:
        return None
    return {"mean": round(sum(present) / len(present), 2), "peak": max(present)}


class _HostReader(object):
    """CPU and resident memory of this process and its descendants, and the machine's CPU."""

    def __init__(self):
        self._pid = os.getpid()
        self._has_proc = os.path.exists("/proc/self/stat")
        # Not every kernel has the per-thread children lists (CONFIG_PROC_CHILDREN).
        self._children_files = bool(glob.glob("/proc/self/task/*/children"))
        self._tick = float(os.sysconf("SC_CLK_TCK")) if self._has_proc else None
        self._page_mb = os.sysconf("SC_PAGE_SIZE") / MIB if self._has_proc else None
        self._last = None  # (wall, CPU seconds, system ticks) that the next rates start from
        self._first = None  # the same, at the first reading: the span's rates start there

    def read(self):
        wall = time.monotonic()
        descendants = []
        if self._has_proc:
            descendants = [f for f in map(_stat_fields, self._descendants()) if f is not None]
        sample = {"cpu_percent": None, "system_cpu_percent": None, "rss_mb": self._rss_mb(descendants)}
        if self._last is not None and wall - self._last[0] < MIN_RATE_WINDOW_S:
            return sample  # the next sample's rates span this one
        now = (wall, self._cpu_seconds(descendants), _system_ticks())
        if self._last is not None:
            # A descendant orphaned and adopted elsewhere takes its time away: never below 0.
            sample["cpu_percent"] = round(max(0.0, 100.0 * (now[1] - self._last[1])
                                              / (now[0] - self._last[0])), 1)
            sample["system_cpu_percent"] = _system_percent(self._last[2], now[2])
        self._first = self._first or now
        self._last = now
        return sample

    def span_rates(self):
        """cpu_percent and system_cpu_percent from the first reading to the last (None: no span)."""
        if self._first is None or self._last[0] - self._first[0] < MIN_RATE_WINDOW_S:
            return {"cpu_percent": None, "system_cpu_percent": None}
        return {"cpu_percent": round(max(0.0, 100.0 * (self._last[1] - self._first[1])
                                         / (self._last[0] - self._first[0])), 1),
                "system_cpu_percent": _system_percent(self._first[2], self._last[2])}

    def _cpu_seconds(self, descendants):
        """CPU seconds of this process, its ended children, and its live descendants."""
        times = os.times()
        # Ended children count once they are waited for; live ones are read from /proc.
        seconds = times[0] + times[1] + times[2] + times[3]
        # utime, stime, and the times of their own ended children, in clock ticks.
        ticks = sum(int(f[11]) + int(f[12]) + int(f[13]) + int(f[14]) for f in descendants)
        return seconds + (ticks / self._tick if ticks else 0.0)

    def _rss_mb(self, descendants):
        if not self._has_proc:
            return _peak_rss_mb()
        own = _stat_fields(self._pid)
        pages = sum(int(f[21]) for f in descendants + [own] if f is not None)
        return round(pages * self._page_mb, 1)

    def _descendants(self):
        children_of = self._children if self._children_files else _children_by_ppid()
        found, todo = [], [self._pid]
        while todo:
            kids = children_of(todo.pop())
            found.extend(kids)
            todo.extend(kids)
        return found

    @staticmethod
    def _children(pid):
        kids = []
        for path in glob.glob("/proc/%d/task/*/children" % pid):
            try:
                with open(path) as f:
                    kids.extend(int(k) for k in f.read().split())
            except OSError:  # the thread or process ended meanwhile
                pass
        return kids


def _system_percent(before, after):
    """The machine's busy share between two _system_ticks() readings, or None."""
    if not (before and after and after[1] > before[1]):
        return None
    return round(100.0 * (after[0] - before[0]) / (after[1] - before[1]), 1)


def _system_ticks():
    """(busy, total) clock ticks of all the machine's cores, from /proc/stat; None without it."""
    try:
        with open("/proc/stat") as f:
            ticks = [int(v) for v in f.readline().split()[1:9]]
    except (OSError, ValueError):
        return None
    # user nice system idle iowait irq softirq steal: idle and iowait are not busy.
    total = sum(ticks)
    return total - ticks[3] - ticks[4], total


def _children_by_ppid():
    """A lookup pid -> child pids, from every process's /proc/<pid>/stat."""
    children = {}
    for name in os.listdir("/proc"):
        fields = _stat_fields(name) if name.isdigit() else None
        if fields is not None:
            children.setdefault(int(fields[1]), []).append(int(name))
    return lambda pid: children.get(pid, [])


def _stat_fields(pid):
    """The fields of /proc/<pid>/stat after the command name (state, ppid, ...), or None if gone."""
    try:
        with open("/proc/%s/stat" % pid) as f:
            text = f.read()
    except OSError:
        return None
    # The name is in parentheses and may hold spaces and parentheses itself.
    return text[text.rfind(")") + 2:].split()


def _peak_rss_mb():
    """Without /proc: the peak (not current) resident memory of this process and its ended children."""
    import resource
    peak = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    return round(peak / (MIB if sys.platform == "darwin" else 1024.0), 1)  # bytes there, KiB here
