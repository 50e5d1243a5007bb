"""PyTorch's own tools (see frameworks): profiler, memory, TF32, threads."""
import contextlib
import os

PROFILER = "torch.profiler (Chrome trace)"


@contextlib.contextmanager
def trace(torch, directory):
    activities = [torch.profiler.ProfilerActivity.CPU]
    if torch.cuda.is_available():
        activities.append(torch.profiler.ProfilerActivity.CUDA)
    with torch.profiler.profile(activities=activities) as profiler:
        yield
    profiler.export_chrome_trace(os.path.join(directory, "trace.json"))


def visible_gpus(torch):
    return torch.cuda.device_count()


def describe(torch, gpus):
    """Its build's CUDA and cuDNN and its devices."""
    cudnn = torch.backends.cudnn
    return {"cuda": torch.version.cuda,
            "cudnn": cudnn.version() if cudnn.is_available() else None,
            "devices": ["cuda:%d %s" % (i, torch.cuda.get_device_name(i))
                        for i in range(torch.cuda.device_count())] or ["cpu"]}


def drain(torch):
    """Wait for the GPUs' queued work (the optimizer update runs after the loss)."""
    torch.cuda.synchronize()


def peak_memory(torch):
    return torch.cuda.max_memory_allocated(0), "torch.cuda.max_memory_allocated"


def set_tf32(torch, enabled):
    backends = torch.backends
    if hasattr(backends.cuda.matmul, "fp32_precision"):
        # PyTorch 2.9 on; mixing this with the allow_tf32 flags is an error there.
        precision = "tf32" if enabled else "ieee"
        switches = (("torch.backends.cuda.matmul", backends.cuda.matmul),
                    ("torch.backends.cudnn.conv", backends.cudnn.conv),
                    ("torch.backends.cudnn.rnn", backends.cudnn.rnn))
        for _, switch in switches:
            switch.fp32_precision = precision
        return {path + ".fp32_precision": switch.fp32_precision for path, switch in switches}
    backends.cuda.matmul.allow_tf32 = enabled
    backends.cudnn.allow_tf32 = enabled
    return {"torch.backends.cuda.matmul.allow_tf32": backends.cuda.matmul.allow_tf32,
            "torch.backends.cudnn.allow_tf32": backends.cudnn.allow_tf32}


def threads(torch):
    return torch.get_num_threads(), torch.get_num_interop_threads()
