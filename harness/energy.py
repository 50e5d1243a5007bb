"""What a run's measured epochs cost in energy, from the counters the hardware keeps.

    meter = Meter(gpus=1).start()
    meter.begin_epoch(); train_one_epoch(); meter.end_epoch()   # timing.Recorder calls these
    meter.stop()
    meter.summary(recorder.epochs, warmup)   # metrics.energy

Sources, each named in the record (`source`):
- `nvml_energy_counter`: NVML's total-energy counter of each of the run's GPUs
  (nvmlDeviceGetTotalEnergyConsumption, millijoules since the driver loaded; Volta
  and later). A counter that goes back was reset (the driver reloaded): the
  interval counts from the reset, and the device says so (`resets`).
- `nvml_power_integrated`: where a GPU has no such counter, its power
  (nvmlDeviceGetPowerUsage) sampled every POWER_POLL_S and integrated over time.
- `rapl`: the CPU packages' (and DRAM's) RAPL counters, where the kernel exposes them
  in /sys/class/powercap (Intel, and AMD since Zen): energy_uj, microjoules, which
  wraps at max_energy_range_uj. The counters are read every COUNTER_POLL_S (far
  shorter than a wrap takes) as well as at the epochs' ends, and each wrap is
  counted (`wraps`). RAPL counts the whole package: other processes' work too.

Where none of them exists (a VM without powercap, no GPU used), metrics.energy is
{"unavailable": why}. The counters are read where timing.Recorder reads its clock,
after the device has drained, so the joules belong to the same epochs as the speed.
Standard library only; NVML through gpu_reader.GpuReader, as the sampler reads it.
"""
import glob
import os
import threading
import time

from harness import gpu_reader

POWERCAP = "/sys/class/powercap"
# A package at 400 W wraps a 262 kJ RAPL range in about 11 minutes: a read every 5 s
# sees each wrap.
COUNTER_POLL_S = 5.0
# Power samples, where a GPU has no energy counter: NVML updates power about as often.
POWER_POLL_S = 0.1
NOTES = {
    "rapl": "RAPL counts the whole CPU package (and its DRAM where listed): other processes "
            "on the machine included",
    "nvml_power_integrated": "this GPU keeps no energy counter (before Volta): its power, "
                             "sampled every %g s, integrated over time" % POWER_POLL_S,
}


class Counter(object):
    """One device's energy in joules since the meter started (`joules`), kept up to date
    by poll(), which reads the hardware; wraps and resets are counted as they are seen."""

    kind = source = None

    def __init__(self, name):
        self.name = name
        self.joules = 0.0
        self.wraps = 0
        self.resets = 0

    def describe(self):
        entry = {"name": self.name, "kind": self.kind, "source": self.source,
                 "wraps": self.wraps, "resets": self.resets}
        if self.source in NOTES:
            entry["note"] = NOTES[self.source]
        return entry


class RaplZone(Counter):
    """A powercap zone: energy_uj (microjoules) counting up to max_energy_range_uj, then
    from 0 again."""

    kind, source = "cpu", "rapl"

    def __init__(self, folder, name):
        Counter.__init__(self, name)
        self._energy = os.path.join(folder, "energy_uj")
        self.range_uj = _read_int(os.path.join(folder, "max_energy_range_uj"))
        self._last = _read_int(self._energy)  # OSError here: the zone cannot be read

    def poll(self, now):
        try:
            raw = _read_int(self._energy)
        except (OSError, ValueError):  # a failed read: the next one covers its interval
            return
        delta = raw - self._last
        if delta < 0:
            delta += self.range_uj
            self.wraps += 1
        self.joules += delta / 1e6
        self._last = raw

    def describe(self):
        return dict(Counter.describe(self), range_j=self.range_uj / 1e6)


class NvmlEnergy(Counter):
    """NVML's total-energy counter of one GPU, in millijoules since the driver loaded."""

    kind, source = "gpu", "nvml_energy_counter"

    def __init__(self, nvml, handle, name):
        Counter.__init__(self, name)
        self._read = lambda: nvml.nvmlDeviceGetTotalEnergyConsumption(handle)
        self._error = nvml.NVMLError
        self._last = self._read()  # NVMLError here: no counter on this GPU

    def poll(self, now):
        try:
            raw = self._read()
        except self._error:
            return
        if raw < self._last:  # the driver reloaded: what it counted since is all we know
            self.resets += 1
            self.joules += raw / 1e3
        else:
            self.joules += (raw - self._last) / 1e3
        self._last = raw


class NvmlPower(Counter):
    """One GPU's power samples (milliwatts), integrated by the trapezoid rule."""

    kind, source = "gpu", "nvml_power_integrated"

    def __init__(self, nvml, handle, name, now):
        Counter.__init__(self, name)
        self._read = lambda: nvml.nvmlDeviceGetPowerUsage(handle) / 1e3
        self._error = nvml.NVMLError
        self._last = (now, self._read())  # NVMLError here: no power reading either

    def poll(self, now):
        try:
            watts = self._read()
        except self._error:
            return
        then, before = self._last
        self.joules += (now - then) * (before + watts) / 2.0
        self._last = (now, watts)


def _read_text(path):
    with open(path) as f:
        return f.read().strip()


def _read_int(path):
    return int(_read_text(path))


def rapl_zones(root=POWERCAP):
    """The RAPL counters of `root` that do not overlap: each package (intel-rapl:N) and
    each DRAM zone (intel-rapl:N:M named dram, which the package leaves out); not psys
    (the whole platform, packages included) nor the core and uncore parts of a package.
    Returns ([RaplZone], [why a zone, or every zone, cannot be read])."""
    folders = sorted(glob.glob(os.path.join(root, "intel-rapl:*")),
                     key=lambda path: [int(n) for n in path.rsplit("intel-rapl:", 1)[1].split(":")])
    if not folders:
        return [], ["RAPL: %s has no intel-rapl zone (no powercap driver, or a VM)" % root]
    zones, problems = [], []
    for folder in folders:
        try:
            name = _read_text(os.path.join(folder, "name"))
            parts = os.path.basename(folder).split(":")
            if len(parts) == 2 and name != "psys":
                zones.append(RaplZone(folder, name))
            elif len(parts) == 3 and name == "dram":
                parent = _read_text(os.path.join(root, ":".join(parts[:2]), "name"))
                zones.append(RaplZone(folder, "%s/dram" % parent))
        except (OSError, ValueError) as error:
            problems.append("RAPL: cannot read %s: %s" % (folder, getattr(error, "strerror", None)
                                                          or error))
    if not zones and not problems:
        problems.append("RAPL: no package zone in %s" % root)
    return zones, problems


def gpu_counters(gpus, now):
    """The energy Counter of each GPU of an open gpu_reader.GpuReader, and the reasons for
    those that have none."""
    counters, problems = [], []
    for handle, device in zip(gpus.handles, gpus.devices):
        name = "gpu %d: %s" % (device["index"], device["name"])
        try:
            counters.append(NvmlEnergy(gpus.nvml, handle, name))
            continue
        except gpus.nvml.NVMLError as error:
            no_counter = error
        try:
            counters.append(NvmlPower(gpus.nvml, handle, name, now))
        except gpus.nvml.NVMLError as error:
            problems.append("%s: NVML reports neither energy (%s) nor power (%s)"
                            % (name, no_counter, error))
    return counters, problems


class Meter(object):
    """The energy counters of a run's GPUs (`gpus` of the visible ones; `nvml` as for
    telemetry.Sampler) and of the machine's CPUs (powercap under `powercap`), read at
    each epoch's beginning and end, and by a thread in between where a counter wraps or
    power is integrated."""

    def __init__(self, gpus=0, nvml=None, powercap=POWERCAP):
        self.gpus = gpus
        self._nvml = nvml
        self._powercap = powercap
        self.counters = []
        self.unmeasured = []  # why a device, or a kind of device, has no counter
        self.epochs = []  # each finished epoch's joules, per counter
        self._gpu_reader = None
        self._begun = None
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = None

    def start(self):
        now = time.monotonic()
        self._gpu_reader = gpu_reader.GpuReader.open(self.gpus, self._nvml)
        if self._gpu_reader.available:
            counters, problems = gpu_counters(self._gpu_reader, now)
            self.counters += counters
            self.unmeasured += problems
        if self._gpu_reader.reason:
            self.unmeasured.append("GPU: %s" % self._gpu_reader.reason)
        zones, problems = rapl_zones(self._powercap)
        self.counters += zones
        self.unmeasured += problems
        polled = [c for c in self.counters if not isinstance(c, NvmlEnergy)]
        if polled:  # a 64-bit millijoule counter needs no reads between the epochs' ends
            interval = POWER_POLL_S if any(isinstance(c, NvmlPower) for c in polled) \
                else COUNTER_POLL_S
            self._thread = threading.Thread(target=self._loop, args=(interval,),
                                            name="energy-meter")
            self._thread.daemon = True
            self._thread.start()
        return self

    def stop(self):
        """End the thread and close NVML; later calls do nothing."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._gpu_reader is not None:
            self._gpu_reader.close()
            self._gpu_reader = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc_info):
        self.stop()

    def _loop(self, interval):
        while not self._stopping.wait(interval):
            self._read()

    def _read(self):
        """Every counter's joules so far, read now."""
        with self._lock:
            now = time.monotonic()
            for counter in self.counters:
                counter.poll(now)
            return [counter.joules for counter in self.counters]

    def begin_epoch(self):
        self._begun = self._read()

    def end_epoch(self):
        ended = self._read()
        self.epochs.append([after - before for before, after in zip(self._begun, ended)])

    def summary(self, epochs, warmup):
        """metrics.energy over the measured epochs (timing.Recorder.epochs after `warmup`):
        joules, mean watts and joules per sample, in total and per device, the sources, and
        each measured epoch's joules; {"unavailable": why} where no counter was read."""
        if not self.counters:
            return {"unavailable": "; ".join(self.unmeasured) or "no energy counter"}
        measured = list(zip(epochs, self.epochs))[warmup:]
        seconds = sum(epoch["seconds"] for epoch, _ in measured)
        samples = sum(epoch["samples"] for epoch, _ in measured)

        def figures(joules):
            return {"joules": joules, "watts_mean": joules / seconds if seconds else None,
                    "joules_per_sample": joules / samples if samples else None}

        devices = [dict(counter.describe(), **figures(sum(per[at] for _, per in measured)))
                   for at, counter in enumerate(self.counters)]
        summary = figures(sum(device["joules"] for device in devices))
        summary.update(
            source="+".join(sorted({counter.source for counter in self.counters})),
            devices=devices, epoch_joules=[sum(per) for _, per in measured],
            unmeasured=self.unmeasured)
        return summary
