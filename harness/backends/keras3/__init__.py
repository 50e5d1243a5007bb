"""Keras 3 on TensorFlow, JAX or PyTorch: one module per framework (`tensorflow`,
`jax`, `torch`), each an Adapter on `base.Adapter`, what they share.
harness.backends.load imports the one for the chosen backend.
"""
