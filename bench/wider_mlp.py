"""`python -m harness`, with the mlp's two hidden layers 640 wide instead of 512: the A/B
bench's known slowdown (bench/aa_ab.py).

    python bench/wider_mlp.py mlp --backend jax ...   # the arguments of python -m harness

A larger model under the same name, as a regression in a dependency would be: the harness's
files are untouched, so the workload digest and every matched field stay the same and
`compare` tests the pair; only the recorded parameter count (919k against 670k) tells it.
37% more multiply-adds a step; about 25% slower where the step is mostly the matmuls.
"""
import os
import runpy
import sys
import types

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from harness.models import mlp  # noqa: E402

HIDDEN, WIDER = 512, 640
narrow_build = mlp.build


def wider_build(keras, spec, data):
    """mlp.build, given a keras whose Dense makes each 512-unit layer 640 wide."""
    def dense(units, *args, **kwargs):
        return keras.layers.Dense(WIDER if units == HIDDEN else units, *args, **kwargs)
    layers = types.SimpleNamespace(Input=keras.layers.Input, Dropout=keras.layers.Dropout,
                                   Dense=dense, Activation=keras.layers.Activation)
    return narrow_build(types.SimpleNamespace(layers=layers, models=keras.models), spec, data)


mlp.build = wider_build
sys.argv[0] = "harness"
runpy.run_module("harness", run_name="__main__", alter_sys=True)
