"""How the processes of a run are started and work together, apart from what they train.

An adapter asks its launcher (see one_process.OneProcess for what every
launcher answers): one process (`one_process`, also TensorFlow's
MirroredStrategy and JAX's DataParallel over this process's devices),
TensorFlow's strategies (`tf_strategy`), the PyTorch DDP spawner or a DDP
process group a launcher started (`torch_ddp`), a JAX job of several
processes (`jax_job`). None imports a framework: the adapter passes it in.
"""
