"""The robot-side shim: serve an exported policy bundle over ZMQ with numpy only.

Imports nothing heavy on purpose: the robot computer has numpy, pyzmq and msgpack
(onnxruntime optionally) and no JAX. `python -m playground.serve --help`; the wire
protocol is documented in docs/serving.md.
"""
