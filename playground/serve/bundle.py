"""An exported policy bundle and its forward pass, in numpy (onnxruntime optional).

A bundle directory holds (written by `playground/export.py`):

    policy.npz        layer_<i>/kernel [in, out] and layer_<i>/bias [out], float32, in
                      order (the last layer is the action-mean head only);
                      normalizer/mean, normalizer/std [obs], normalizer/eps, normalizer/clip
    policy_spec.json  {"spec": <the checkpoint's policy spec>, "spec_hash": ...,
                       "config_sha256": ..., "bundle": {format, sha256 of policy.npz, ...}}
    policy.onnx       the same function as an ONNX graph (input "obs" [N, obs], output
                      "action" [N, action])

The deterministic action is
    z = clip((obs - mean) / std, -clip, clip)      (only if spec.normalizer.enabled)
    h = act(z W0 + b0) ... ; loc = h W_last + b_last
    action = tanh(loc)  (squash "tanh")  or  clip(loc, -1, 1)  (squash "clip")
"""

from __future__ import annotations

import hashlib
import json
import pathlib
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from playground.serve.spec import action_size, spec_hash

NPZ_NAME = "policy.npz"
SPEC_NAME = "policy_spec.json"
ONNX_NAME = "policy.onnx"
BUNDLE_FORMAT = 1
ACTIVATIONS = ("swish", "relu", "elu", "tanh")
SQUASHES = ("tanh", "clip")


class BundleError(ValueError):
    """A bundle that cannot be served; the message is one line."""


def file_sha256(path: pathlib.Path) -> str:
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


class Bundle:
    """The arrays and spec of one exported policy (validated on load)."""

    def __init__(self, directory: str | pathlib.Path):
        self.directory = pathlib.Path(directory)
        spec_path, npz_path = self.directory / SPEC_NAME, self.directory / NPZ_NAME
        for path in (spec_path, npz_path):
            if not path.is_file():
                raise BundleError(f"{path}: not found (a bundle is written by playground/export.py)")
        try:
            doc = json.loads(spec_path.read_text())
            self.spec: dict[str, Any] = doc["spec"]
            self.spec_hash: str = doc["spec_hash"]
            self.config_sha256: str = doc["config_sha256"]
            meta = doc["bundle"]
        except (ValueError, KeyError, TypeError) as exc:
            raise BundleError(f"{spec_path}: not a policy spec file ({exc})") from None
        if spec_hash(self.spec) != self.spec_hash:
            raise BundleError(f"{spec_path}: spec_hash does not match the spec (edited by hand?)")
        if meta.get("format") != BUNDLE_FORMAT:
            raise BundleError(f"{spec_path}: bundle format {meta.get('format')}, expected {BUNDLE_FORMAT}")
        if file_sha256(npz_path) != meta.get("npz_sha256"):
            raise BundleError(f"{npz_path}: sha256 differs from the one in {SPEC_NAME}")
        try:
            with np.load(npz_path, allow_pickle=False) as npz:
                self.arrays = {k: np.asarray(npz[k]) for k in npz.files}
        except (OSError, ValueError) as exc:
            raise BundleError(f"{npz_path}: unreadable ({exc})") from None
        self.meta = meta
        self._check()

    @property
    def obs_size(self) -> int:
        return int(self.spec["network"]["input_size"])

    @property
    def action_size(self) -> int:
        return action_size(self.spec)

    @property
    def num_layers(self) -> int:
        return int(self.meta["layers"])

    def layers(self) -> list[tuple[np.ndarray, np.ndarray]]:
        return [(self.arrays[f"layer_{i}/kernel"], self.arrays[f"layer_{i}/bias"])
                for i in range(self.num_layers)]

    def _check(self) -> None:
        net = self.spec["network"]
        if net["activation"] not in ACTIVATIONS or net["squash"] not in SQUASHES:
            raise BundleError(f"unsupported network {net['activation']}/{net['squash']}")
        width = self.obs_size
        for i in range(self.num_layers):
            kernel = self.arrays.get(f"layer_{i}/kernel")
            bias = self.arrays.get(f"layer_{i}/bias")
            if kernel is None or bias is None or kernel.ndim != 2 or kernel.shape[0] != width \
                    or bias.shape != (kernel.shape[1],):
                raise BundleError(f"layer {i}: missing or mis-shaped arrays")
            width = kernel.shape[1]
        if width != self.action_size:
            raise BundleError(f"last layer has {width} outputs, the spec {self.action_size} actions")
        for key in ("normalizer/mean", "normalizer/std"):
            if self.arrays.get(key, np.zeros(0)).shape != (self.obs_size,):
                raise BundleError(f"{key}: missing or not of size {self.obs_size}")


class NumpyPolicy:
    """The deterministic actor in numpy, preallocated for one observation per call.

    `__call__(obs)` returns a view of an internal buffer, overwritten by the next call
    (copy it to keep it). `batch(obs[N, n])` is the allocating path for many rows.

    The one-observation path is a fixed list of ufunc calls over preallocated buffers
    (built once here), because at batch 1 numpy's per-call dispatch, not arithmetic,
    is most of the cost: every layer's bias rides in its kernel as one more row against
    a constant 1 at the end of the layer's input buffer (one matmul instead of matmul
    and add), and swish layers run on pre-halved weights (see `_activation_steps`).
    """

    def __init__(self, bundle: Bundle):
        spec = bundle.spec
        norm = spec["normalizer"]
        self.obs_size, self.action_size = bundle.obs_size, bundle.action_size
        self.normalize = bool(norm["enabled"])
        self.mean = np.ascontiguousarray(bundle.arrays["normalizer/mean"], np.float32)
        # std is floored at eps by the trainer already; the floor again costs nothing
        self.std = np.ascontiguousarray(np.maximum(bundle.arrays["normalizer/std"].astype(np.float32),
                                                   np.float32(bundle.arrays["normalizer/eps"])))
        self.clip = np.float32(bundle.arrays["normalizer/clip"])
        self.activation = spec["network"]["activation"]
        self.squash = spec["network"]["squash"]
        layers = bundle.layers()
        # swish(x) = u + u tanh(u) with u = x / 2: halve the hidden layers' weights and
        # biases once (exact in binary floating point) and save a multiply per call
        half = [np.float32(0.5 if self.activation == "swish" and i < len(layers) - 1 else 1.0)
                for i in range(len(layers))]
        self.layers = [(np.ascontiguousarray(w * s, np.float32), np.ascontiguousarray(b * s, np.float32))
                       for (w, b), s in zip(layers, half, strict=True)]
        # inputs[i] = [layer i's input, 1]; kernels[i] = [[W_i], [b_i]]
        self._inputs = [np.ones(w.shape[0] + 1, np.float32) for w, _ in self.layers]
        kernels = [np.ascontiguousarray(np.vstack([w, b[None]]), np.float32) for w, b in self.layers]
        self._action = np.zeros(self.action_size, np.float32)
        self._z = self._inputs[0][:-1]  # the (normalized) observation, written per call
        self._steps: list[tuple[Callable, tuple]] = []
        for i, kernel in enumerate(kernels):
            last = i == len(kernels) - 1
            out = self._action if last else self._inputs[i + 1][:-1]
            self._steps.append((np.matmul, (self._inputs[i], kernel, out)))
            if not last:
                self._steps += _activation_steps(self.activation, out)
        action = self._action
        if self.squash == "tanh":
            self._steps.append((np.tanh, (action, action)))
        else:
            self._steps += [(partial(np.minimum, out=action), (action, np.float32(1.0))),
                            (partial(np.maximum, out=action), (action, np.float32(-1.0)))]

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        """obs [obs_size] float32 -> action [action_size] (internal buffer)."""
        z = self._z
        if self.normalize:
            np.subtract(obs, self.mean, out=z)
            np.divide(z, self.std, out=z)  # divide, as JAX does: no reciprocal rounding
            np.minimum(z, self.clip, out=z)  # two ufuncs: np.clip's wrapper costs more
            np.maximum(z, -self.clip, out=z)
        else:
            np.copyto(z, obs)
        for fn, args in self._steps:
            fn(*args)
        return self._action

    def batch(self, obs: np.ndarray) -> np.ndarray:
        """obs [N, obs_size] -> actions [N, action_size] (new array)."""
        x = np.asarray(obs, np.float32)
        if self.normalize:
            x = np.clip((x - self.mean) / self.std, -self.clip, self.clip)
        last = len(self.layers) - 1
        for i, (w, b) in enumerate(self.layers):
            x = x @ w + b
            if i < last:
                for fn, args in _activation_steps(self.activation, x):
                    fn(*args)
        return np.tanh(x) if self.squash == "tanh" else np.clip(x, -1.0, 1.0)


def _activation_steps(name: str, h: np.ndarray) -> list[tuple[Callable, tuple]]:
    """The calls `fn(*args)` that apply activation `name` to `h` in place.

    Outputs are passed positionally (a keyword costs a microsecond per call at this
    size), except for minimum/maximum, where numpy deprecates it (bound with partial).
    For swish `h` holds u = x / 2 (the layer's weights are pre-halved):
    x * sigmoid(x) = u + u * tanh(u), which never overflows an exp.
    """
    zero = np.float32(0.0)
    if name == "swish":
        tmp = np.empty_like(h)
        return [(np.tanh, (h, tmp)), (np.multiply, (tmp, h, tmp)), (np.add, (h, tmp, h))]
    if name == "relu":
        return [(partial(np.maximum, out=h), (h, zero))]
    if name == "tanh":
        return [(np.tanh, (h, h))]
    # elu (alpha 1): x if x > 0 else exp(x) - 1
    tmp = np.empty_like(h)
    return [(partial(np.minimum, out=tmp), (h, zero)), (np.expm1, (tmp, tmp)),
            (partial(np.maximum, out=h), (h, zero)), (np.add, (h, tmp, h))]


class OnnxPolicy:
    """The bundle's policy.onnx through onnxruntime (optional backend, same call contract)."""

    def __init__(self, bundle: Bundle, threads: int = 1):
        try:
            import onnxruntime  # optional: only this backend needs it
        except ImportError:
            raise BundleError("--backend onnx needs onnxruntime (pip install onnxruntime)") from None
        path = bundle.directory / ONNX_NAME
        if not path.is_file():
            raise BundleError(f"{path}: not found")
        if file_sha256(path) != bundle.meta.get("onnx_sha256"):
            raise BundleError(f"{path}: sha256 differs from the one in {SPEC_NAME}")
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        self.session = onnxruntime.InferenceSession(
            str(path), options, providers=["CPUExecutionProvider"])
        self.obs_size, self.action_size = bundle.obs_size, bundle.action_size
        self._feed = {"obs": np.zeros((1, self.obs_size), np.float32)}

    def __call__(self, obs: np.ndarray) -> np.ndarray:
        self._feed["obs"][0] = obs
        return self.session.run(["action"], self._feed)[0][0]

    def batch(self, obs: np.ndarray) -> np.ndarray:
        return self.session.run(["action"], {"obs": np.asarray(obs, np.float32)})[0]


BACKENDS = {"numpy": NumpyPolicy, "onnx": OnnxPolicy}


def make_policy(bundle: Bundle, backend: str = "numpy"):
    """The forward pass of `bundle` with `backend` ("numpy" or "onnx")."""
    if backend not in BACKENDS:
        raise BundleError(f"unknown backend {backend!r}; choose from {sorted(BACKENDS)}")
    return BACKENDS[backend](bundle)
