"""The VGG16 seed's table on this machine: every system it lists, and the ones Keras 3 adds.

    python bench/vgg16_seed.py [--out DIR] [--batch-size 16] [--image-size 224]
                               [--steps-per-epoch 2] [--epochs 3] [--warmup 1]
                               [--theano-python .venv-theano/bin/python] [--gpus N]
                               [--backends B [B ...]]

Runs `python -m harness vgg16 --method train_on_batch` once per system (the seed
called train_on_batch on batches of 16) into one results folder, then prints the
collector's VGG16 table for that folder (`harness/collect.py DIR --kind vgg16`).
The systems: Keras on TensorFlow, JAX, PyTorch and (Keras 2) Theano; native
TensorFlow in NHWC and NCHW, each without and with XLA; native JAX; native
PyTorch eager and with torch.compile. A system that cannot run here (NCHW without
oneDNN, a missing Theano environment) is a skipped or failed row, not a stop.
The seed timed a fixed 100 trials; the defaults time 6 (3 epochs of 2 steps,
after a warm-up epoch; epochs are not sized by time), which on a 2-core CPU
already takes minutes a system: on a GPU, raise --steps-per-epoch.
"""
import argparse
import os
import subprocess
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# (interpreter: "keras3" or "theano", harness options) per system.
SYSTEMS = (
    ("keras3", ["--backend", "tensorflow"]),
    ("keras3", ["--backend", "jax"]),
    ("keras3", ["--backend", "torch"]),
    # The seed ran Keras on Theano with "image_dim_ordering": "th", channels first.
    ("theano", ["--backend", "theano", "--data-format", "channels_first"]),
    ("keras3", ["--backend", "native-tensorflow", "--data-format", "channels_last",
                "--jit-compile", "off"]),
    ("keras3", ["--backend", "native-tensorflow", "--data-format", "channels_last",
                "--jit-compile", "on"]),
    ("keras3", ["--backend", "native-tensorflow", "--data-format", "channels_first",
                "--jit-compile", "off"]),
    ("keras3", ["--backend", "native-tensorflow", "--data-format", "channels_first",
                "--jit-compile", "on"]),
    ("keras3", ["--backend", "native-jax"]),
    ("keras3", ["--backend", "native-torch", "--jit-compile", "off"]),
    ("keras3", ["--backend", "native-torch", "--jit-compile", "on"]),
)


def main():
    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--out", default=os.path.join("results", "vgg16-seed"))
    options.add_argument("--batch-size", type=int, default=16)
    options.add_argument("--image-size", type=int, default=224)
    options.add_argument("--steps-per-epoch", type=int, default=2)
    options.add_argument("--epochs", type=int, default=3)
    options.add_argument("--warmup", type=int, default=1)
    options.add_argument("--gpus", type=int, help="as the harness's --gpus (default: its own)")
    options.add_argument("--backends", nargs="+", metavar="BACKEND",
                         help="run only the systems on these --backend names (default: all)")
    options.add_argument("--theano-python",
                         default=os.path.join(REPO, ".venv-theano", "bin", "python"),
                         help="the Keras 2 + Theano environment's interpreter")
    args = options.parse_args()
    common = ["vgg16", "--method", "train_on_batch", "--out", args.out,
              "--batch-size", str(args.batch_size), "--image-size", str(args.image_size),
              "--steps-per-epoch", str(args.steps_per_epoch), "--epochs", str(args.epochs),
              "--warmup", str(args.warmup),
              # The seed's figure is over a fixed number of trials: no epochs sized by time.
              "--epoch-seconds", "0", "--min-seconds", "0"]
    if args.gpus is not None:
        common += ["--gpus", str(args.gpus)]
    pythons = {"keras3": sys.executable, "theano": args.theano_python}
    for interpreter, system in SYSTEMS:
        if args.backends and system[1] not in args.backends:
            continue
        python = pythons[interpreter]
        if not os.path.exists(python):
            sys.stderr.write("vgg16_seed: no %s at %s; %s not run\n"
                             % (interpreter, python, " ".join(system)))
            continue
        # Each run writes its own result, ok, skipped or failed; the table shows them all.
        subprocess.call([python, "-m", "harness"] + common + system, cwd=REPO)
    subprocess.call([sys.executable, os.path.join(REPO, "harness", "collect.py"), args.out,
                     "--kind", "vgg16"], cwd=REPO)


if __name__ == "__main__":
    main()
