"""The run's GPUs through NVIDIA's NVML: which of them CUDA shows, and their
utilisation, memory used and power (harness.telemetry samples them, and
harness.energy opens them the same way for their energy counters).

NVML is the `pynvml` module of nvidia-ml-py, imported only here and only when
a run uses a GPU, so the harness loads without it.

NVML's "memory used" is everything allocated on the card, the frameworks'
allocator pools included: TensorFlow and JAX reserve most of a GPU's memory up
front, so this reads as nearly full whatever the model needs. It is not model
memory; the backend's own peak is recorded separately by the adapters.
"""
import os

MIB = float(1 << 20)


def nvml_indices(cuda_visible_devices, uuids):
    """The NVML indices of the GPUs CUDA shows, in CUDA's order.

    `cuda_visible_devices` is $CUDA_VISIBLE_DEVICES (None when unset), `uuids`
    the UUIDs NVML lists ("GPU-..."), in NVML's order. Entries are indices or
    UUIDs, a UUID's leading part being enough; as CUDA does, an entry that names
    no GPU (-1, an index out of range, an unknown UUID, a MIG instance) ends
    the list. An index is NVML's index only when CUDA enumerates in PCI order
    (CUDA_DEVICE_ORDER=PCI_BUS_ID) or the GPUs are alike: CUDA's default puts
    the fastest first.
    """
    if cuda_visible_devices is None:
        return list(range(len(uuids)))
    indices = []
    for entry in cuda_visible_devices.split(","):
        entry = entry.strip()
        if entry.isdigit():
            found = [int(entry)] if int(entry) < len(uuids) else []
        else:
            found = [i for i, uuid in enumerate(uuids)
                     if entry and (uuid.startswith(entry) or uuid.startswith("GPU-" + entry))]
        if len(found) != 1:  # unknown, or a prefix that fits several GPUs
            break
        indices.append(found[0])
    return indices


class GpuReader(object):
    """The run's GPUs through NVML (`nvml`, one handle per GPU in `handles`), or the
    reason they cannot be read; harness.energy opens them the same way."""

    def __init__(self, nvml, handles, devices, reason):
        self.nvml = nvml
        self.handles = handles
        self.devices = devices  # [{"index", "name", "memory_total_mb"}]
        self.available = bool(handles)
        self.reason = reason

    @classmethod
    def open(cls, gpus, nvml):
        if not gpus:
            return cls(None, [], [], "no GPU used")
        if nvml is None:
            try:
                import pynvml as nvml
            except ImportError as e:
                return cls(None, [], [], "nvidia-ml-py is not installed: %s" % e)
        try:
            nvml.nvmlInit()
        except nvml.NVMLError as e:
            return cls(None, [], [], "NVML: %s" % e)
        try:
            handles = [nvml.nvmlDeviceGetHandleByIndex(i) for i in range(nvml.nvmlDeviceGetCount())]
            uuids = [nvml.nvmlDeviceGetUUID(h) for h in handles]
            visible = os.environ.get("CUDA_VISIBLE_DEVICES")
            indices = nvml_indices(visible, uuids)[:gpus]
            devices = [{"index": i, "name": nvml.nvmlDeviceGetName(handles[i]),
                        "memory_total_mb": round(nvml.nvmlDeviceGetMemoryInfo(handles[i]).total / MIB, 1)}
                       for i in indices]
        except nvml.NVMLError as e:
            nvml.nvmlShutdown()
            return cls(None, [], [], "NVML: %s" % e)
        reason = None
        if len(indices) < gpus:
            reason = "%d GPU(s) used but NVML finds %d visible (%d in all, CUDA_VISIBLE_DEVICES=%s)" % (
                gpus, len(indices), len(uuids), visible)
        if not indices:
            nvml.nvmlShutdown()
            return cls(None, [], [], reason)
        return cls(nvml, [handles[i] for i in indices], devices, reason)

    def read(self):
        return [{"util_percent": self._query(lambda: self.nvml.nvmlDeviceGetUtilizationRates(h).gpu),
                 "memory_used_mb": self._query(
                     lambda: round(self.nvml.nvmlDeviceGetMemoryInfo(h).used / MIB, 1)),
                 "power_w": self._query(lambda: self.nvml.nvmlDeviceGetPowerUsage(h) / 1000.0)}
                for h in self.handles]

    def _query(self, read):
        """One reading, or None where this GPU does not report it (power on some boards, MIG)."""
        try:
            return read()
        except self.nvml.NVMLError:
            return None

    def close(self):
        if self.handles:
            self.nvml.nvmlShutdown()
