"""What makes a baseline's configuration the new one's in a comparison (compare, a rerun's,
history), and the factor below which a change is not worth a failure. Apart from compare,
and importing nothing, so that the command line's help has them at once."""

# What makes a baseline's configuration the new one's: the workload as run, the machine
# and devices, the backend and its package, the knobs; not the versions, the workload's
# digest (told apart by its own mark) or how long the run measured.
MATCH_FIELDS = ("model", "resnet_version", "resnet_layers", "image_size", "dataset", "inference",
                "method", "instance", "gpus", "devices", "device_kind", "global_batch_size",
                "data_format", "precision", "backend", "backend_package", "jit_compile", "tf32")
# The machine and the framework's build for it (mxnet-mkl, mxnet-cu90, tensorflow-cpu): a
# published table's rows match whatever machine ran the new side.
MACHINE_FIELDS = ("instance", "backend_package")
DEFAULT_FACTOR = 1.1  # asv's: a change under 10% is not worth a CI failure
