"""Keras 2 (2.1.5 up to keras-mxnet 2.2.4.x) on TensorFlow 1.x, MXNet, Theano or CNTK:
one module per framework, each an Adapter on `base.Adapter` (the seeds' stack).
harness.backends.load imports the one for the chosen backend.
"""
