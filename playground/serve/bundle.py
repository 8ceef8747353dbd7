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

import json
import math
import pathlib
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np

from playground.serve.observation import ObservationBuilder
from playground.serve.spec import action_size, file_sha256, spec_hash

NPZ_NAME = "policy.npz"
SPEC_NAME = "policy_spec.json"
ONNX_NAME = "policy.onnx"
BUNDLE_FORMAT = 1
ACTIVATIONS = ("swish", "relu", "elu", "tanh")
SQUASHES = ("tanh", "clip")


class BundleError(ValueError):
    """A bundle that cannot be served; the message is one line."""


class Bundle:
    """The arrays and spec of one exported policy, validated on load (`_load`).

    Every way a bundle can be malformed (a file missing, bad JSON, a section or key
    missing, a hash that does not match, a truncated npz, arrays missing, extra, of
    another dtype or shape, non-finite weights or normalizer statistics, a layer count
    that disagrees with the spec) raises BundleError with a one-line message, so the
    server's start and its hot reload refuse it the same way.
    """

    def __init__(self, directory: str | pathlib.Path):
        self.directory = pathlib.Path(directory)
        try:
            self._load()
        except BundleError:
            raise
        except Exception as exc:  # a case the checks below did not name: still one line
            raise BundleError(f"{self.directory}: malformed bundle ({type(exc).__name__}: {exc})") from None

    def _load(self) -> None:
        spec_path, npz_path = self.directory / SPEC_NAME, self.directory / NPZ_NAME
        for path in (spec_path, npz_path):
            if not path.is_file():
                raise BundleError(f"{path}: not found (a bundle is written by playground/export.py)")
        try:
            doc = json.loads(spec_path.read_text())
        except (ValueError, UnicodeDecodeError) as exc:
            raise BundleError(f"{spec_path}: not JSON ({exc})") from None
        doc = _field(doc, None, dict, spec_path, "the file")
        self.spec: dict[str, Any] = _field(doc, "spec", dict, spec_path)
        self.spec_hash: str = _field(doc, "spec_hash", str, spec_path)
        self.config_sha256: str = _field(doc, "config_sha256", str, spec_path)
        self.meta: dict[str, Any] = _field(doc, "bundle", dict, spec_path)
        _check_spec(self.spec, spec_path)
        if spec_hash(self.spec) != self.spec_hash:
            raise BundleError(f"{spec_path}: spec_hash does not match the spec (edited by hand?)")
        if self.meta.get("format") != BUNDLE_FORMAT:
            raise BundleError(f"{spec_path}: bundle format {self.meta.get('format')}, expected {BUNDLE_FORMAT}")
        layers = _field(self.meta, "layers", int, spec_path, "bundle.layers")
        if layers < 1:
            raise BundleError(f"{spec_path}: bundle.layers {layers}, expected at least 1")
        if file_sha256(npz_path) != self.meta.get("npz_sha256"):
            raise BundleError(f"{npz_path}: sha256 differs from the one in {SPEC_NAME}")
        try:
            with np.load(npz_path, allow_pickle=False) as npz:
                self.arrays = {k: np.asarray(npz[k]) for k in npz.files}
        except Exception as exc:  # a truncated zip raises BadZipFile, EOFError, zlib.error, ...
            raise BundleError(f"{npz_path}: unreadable ({type(exc).__name__}: {exc})") from None
        self._check_arrays(npz_path)

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

    def _check_arrays(self, npz_path: pathlib.Path) -> None:
        """Exactly the arrays the spec implies: float32, chained shapes, all finite."""
        layer_keys = [f"layer_{i}/{part}" for i in range(self.num_layers) for part in ("kernel", "bias")]
        expected = [*layer_keys, *NORMALIZER_KEYS]
        missing = [k for k in expected if k not in self.arrays]
        extra = sorted(set(self.arrays) - set(expected))
        if missing or extra:
            raise BundleError(f"{npz_path}: for {self.num_layers} layers (bundle.layers), "
                              f"missing {missing or 'none'}, unexpected {extra or 'none'}")
        width = self.obs_size
        shapes = {"normalizer/mean": (width,), "normalizer/std": (width,),
                  "normalizer/eps": (), "normalizer/clip": ()}
        for i in range(self.num_layers):
            out = self.arrays[f"layer_{i}/bias"].shape[-1:] or (0,)
            shapes[f"layer_{i}/kernel"], shapes[f"layer_{i}/bias"] = (width, out[0]), out
            width = out[0]
        for key in expected:
            array = self.arrays[key]
            if array.dtype != np.float32:
                raise BundleError(f"{npz_path}: {key} is {array.dtype}, expected float32")
            if array.shape != shapes[key]:
                raise BundleError(f"{npz_path}: {key} has shape {list(array.shape)}, expected "
                                  f"{list(shapes[key])}")
            if not np.isfinite(array).all():
                raise BundleError(f"{npz_path}: {key} holds NaN or inf")
        if width != self.action_size:
            raise BundleError(f"{npz_path}: the last layer has {width} outputs, the spec "
                              f"{self.action_size} actions")
        norm = self.spec["normalizer"]
        for name in ("eps", "clip"):
            if self.arrays[f"normalizer/{name}"] != np.float32(norm[name]):
                raise BundleError(f"{npz_path}: normalizer/{name} differs from the spec's {norm[name]}")
        if norm["enabled"] and not (self.arrays["normalizer/std"] > 0).all():
            raise BundleError(f"{npz_path}: normalizer/std has values <= 0")


NORMALIZER_KEYS = ("normalizer/mean", "normalizer/std", "normalizer/eps", "normalizer/clip")


def _field(doc: Any, key: str | None, kind: type, path: pathlib.Path, name: str | None = None) -> Any:
    """doc[key] (doc itself for key None), which must be a `kind`; BundleError otherwise."""
    name = name or key
    if key is not None:
        if not isinstance(doc, dict) or key not in doc:
            raise BundleError(f"{path}: {name} missing")
        doc = doc[key]
    if not isinstance(doc, kind) or isinstance(doc, bool) and kind is not bool:
        what = {dict: "a JSON object", str: "a string", int: "an integer", bool: "true or false"}
        raise BundleError(f"{path}: {name} is not {what.get(kind, 'a number')}")
    return doc


def _number(doc: Any, key: str, path: pathlib.Path, name: str) -> float:
    """A finite number > 0 at doc[key]."""
    value = _field(doc, key, (int, float), path, name)
    if not (math.isfinite(value) and value > 0):
        raise BundleError(f"{path}: {name} {value}, expected a finite number > 0")
    return value


def _check_spec(spec: dict, path: pathlib.Path) -> None:
    """The sections of the spec that serving reads: network, normalizer, action, ctrl_dt,
    the observation layout (its size must be the network's input size)."""
    net = _field(spec, "network", dict, path, "spec.network")
    obs_size = _field(net, "input_size", int, path, "spec.network.input_size")
    for key, allowed in (("activation", ACTIVATIONS), ("squash", SQUASHES)):
        if net.get(key) not in allowed:
            raise BundleError(f"{path}: spec.network.{key} {net.get(key)!r}, expected one of "
                              f"{', '.join(allowed)}")
    norm = _field(spec, "normalizer", dict, path, "spec.normalizer")
    _field(norm, "enabled", bool, path, "spec.normalizer.enabled")
    for key in ("eps", "clip"):
        _number(norm, key, path, f"spec.normalizer.{key}")
    _number(spec, "ctrl_dt", path, "spec.ctrl_dt")
    try:  # what the server's ObservationBuilder reads ("fields" requests), checked here
        builder = ObservationBuilder(spec)
        ends = [int(f["start"]) + int(f["size"]) for f in builder.fields
                if int(f["start"]) >= 0 and int(f["size"]) >= 1 and math.isfinite(float(f.get("scale", 1.0)))]
    except (KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"{path}: spec action or observation layout malformed "
                          f"({type(exc).__name__}: {exc})") from None
    if builder.action_size < 1 or obs_size < 1:
        raise BundleError(f"{path}: spec sizes {obs_size} observations, {builder.action_size} actions")
    if len(ends) != len(builder.fields) or max(ends, default=0) > builder.frame_size \
            or builder.size != obs_size:
        raise BundleError(f"{path}: spec observation layout ({len(builder.fields)} fields, frame "
                          f"{builder.frame_size} x history {builder.history}) does not fit "
                          f"input_size {obs_size}")
    pose = builder.default_pose
    if pose is not None and (pose.shape != (builder.action_size,) or not np.isfinite(pose).all()):
        raise BundleError(f"{path}: spec.default_pose is not {builder.action_size} finite numbers")


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
