"""MXNet's own tools (see frameworks): its profiler."""
import contextlib
import os

PROFILER = "mxnet.profiler (Chrome trace)"


@contextlib.contextmanager
def trace(mx, directory):
    mx.profiler.set_config(profile_all=True, aggregate_stats=True,
                           filename=os.path.join(directory, "trace.json"))
    mx.profiler.set_state("run")
    try:
        yield
    finally:
        mx.nd.waitall()
        mx.profiler.set_state("stop")
        mx.profiler.dump()
