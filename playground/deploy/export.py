"""Checkpoint -> robot bundle: policy.npz, policy_spec.json, policy.onnx, checked against
JAX (the library of `playground/export.py`; the format: `playground/serve/bundle.py`)."""

from __future__ import annotations

import json
import pathlib
from typing import Any

import numpy as np

from playground.serve import bundle as bundle_lib  # numpy only
from playground.serve.spec import action_size, spec_hash

ONNX_IR_VERSION = 10


ONNX_OPSET = 17


PARITY_ATOL = 1e-5


class ExportError(ValueError):
    """Bad input for an export; the message is one line."""


def policy_layers(policy_params, spec: dict) -> list[tuple[np.ndarray, np.ndarray]]:
    """[(kernel [in, out], bias [out])] of the actor MLP, last layer cut to the action mean.

    brax's tanh_normal policy is one MLP (`hidden_0..hidden_L`) whose last layer emits
    [loc, std]; its `normal` policy is an MLP (`MLP_0`) plus a mean head (`Dense_0`).
    """
    params = policy_params["params"]
    if "MLP_0" in params:  # normal: hidden MLP + separate mean head
        mlp, heads = params["MLP_0"], [params["Dense_0"]]
    else:
        mlp, heads = params, []
    names = sorted((k for k in mlp if k.startswith("hidden_")), key=lambda k: int(k.split("_")[1]))
    dense = [mlp[k] for k in names] + heads
    layers = [(np.asarray(d["kernel"], np.float32), np.asarray(d["bias"], np.float32))
              for d in dense]
    n_act = action_size(spec)
    kernel, bias = layers[-1]
    layers[-1] = (np.ascontiguousarray(kernel[:, :n_act]), np.ascontiguousarray(bias[:n_act]))
    return layers


def bundle_arrays(layers, normalizer_mean, normalizer_std, spec: dict) -> dict[str, np.ndarray]:
    """The policy.npz contents."""
    arrays = {}
    for i, (kernel, bias) in enumerate(layers):
        arrays[f"layer_{i}/kernel"] = kernel
        arrays[f"layer_{i}/bias"] = bias
    norm = spec["normalizer"]
    arrays["normalizer/mean"] = np.asarray(normalizer_mean, np.float32)
    arrays["normalizer/std"] = np.asarray(normalizer_std, np.float32)
    arrays["normalizer/eps"] = np.float32(norm["eps"])
    arrays["normalizer/clip"] = np.float32(norm["clip"])
    return arrays


def build_onnx(arrays: dict[str, np.ndarray], spec: dict):
    """The deterministic policy as an ONNX graph: obs [N, n] -> action [N, a]."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits, nodes = [], []

    def const(name: str, value) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    x = "obs"
    if spec["normalizer"]["enabled"]:
        clip = float(spec["normalizer"]["clip"])
        std = np.maximum(arrays["normalizer/std"], arrays["normalizer/eps"])
        nodes += [
            helper.make_node("Sub", [x, const("mean", arrays["normalizer/mean"])], ["centered"]),
            helper.make_node("Div", ["centered", const("std", std)], ["scaled"]),
            helper.make_node("Clip", ["scaled", const("clip_lo", -clip), const("clip_hi", clip)],
                             ["normalized"]),
        ]
        x = "normalized"
    n_layers = sum(1 for k in arrays if k.endswith("/kernel"))
    activation = spec["network"]["activation"]
    for i in range(n_layers):
        kernel = const(f"layer_{i}_kernel", arrays[f"layer_{i}/kernel"])
        bias = const(f"layer_{i}_bias", arrays[f"layer_{i}/bias"])
        nodes += [helper.make_node("MatMul", [x, kernel], [f"mm_{i}"]),
                  helper.make_node("Add", [f"mm_{i}", bias], [f"pre_{i}"])]
        x = f"pre_{i}"
        if i == n_layers - 1:
            break
        out = f"h_{i}"
        if activation == "swish":
            nodes += [helper.make_node("Sigmoid", [x], [f"sig_{i}"]),
                      helper.make_node("Mul", [x, f"sig_{i}"], [out])]
        else:
            op = {"relu": "Relu", "elu": "Elu", "tanh": "Tanh"}[activation]
            nodes.append(helper.make_node(op, [x], [out]))
        x = out
    if spec["network"]["squash"] == "tanh":
        nodes.append(helper.make_node("Tanh", [x], ["action"]))
    else:
        nodes.append(helper.make_node("Clip", [x, const("one_lo", -1.0), const("one_hi", 1.0)],
                                      ["action"]))
    n_obs, n_act = int(spec["network"]["input_size"]), action_size(spec)
    graph = helper.make_graph(
        nodes, "playground_policy",
        [helper.make_tensor_value_info("obs", TensorProto.FLOAT, ["batch", n_obs])],
        [helper.make_tensor_value_info("action", TensorProto.FLOAT, ["batch", n_act])],
        initializer=inits,
    )
    model = helper.make_model(graph, producer_name="playground.export",
                              opset_imports=[helper.make_opsetid("", ONNX_OPSET)])
    model.ir_version = ONNX_IR_VERSION
    model.doc_string = f"spec_hash {spec_hash(spec)}"
    onnx.checker.check_model(model, full_check=True)
    return model


def write_bundle(out: pathlib.Path, spec: dict, layers, normalizer_mean, normalizer_std,
                 *, with_onnx: bool = True, force: bool = False, source: str = "") -> pathlib.Path:
    """Write policy.npz, policy.onnx and policy_spec.json into `out`; returns `out`.

    Refuses to overwrite an existing bundle unless `force`.
    """
    out = pathlib.Path(out)
    names = (bundle_lib.NPZ_NAME, bundle_lib.SPEC_NAME, bundle_lib.ONNX_NAME)
    existing = [n for n in names if (out / n).exists()]
    if existing and not force:
        raise ExportError(f"{out} already holds a bundle ({', '.join(existing)}); pass --force to overwrite")
    if out.exists() and not out.is_dir():
        raise ExportError(f"{out} exists and is not a directory")
    arrays = bundle_arrays(layers, normalizer_mean, normalizer_std, spec)
    model = build_onnx(arrays, spec) if with_onnx else None
    out.mkdir(parents=True, exist_ok=True)
    for name in names:
        (out / name).unlink(missing_ok=True)
    npz_path = out / bundle_lib.NPZ_NAME
    np.savez(npz_path, **arrays)
    meta: dict[str, Any] = {
        "format": bundle_lib.BUNDLE_FORMAT,
        "layers": len(layers),
        "npz_sha256": bundle_lib.file_sha256(npz_path),
        "source_checkpoint": source,
    }
    if model is not None:
        onnx_path = out / bundle_lib.ONNX_NAME
        onnx_path.write_bytes(model.SerializeToString())
        meta.update(onnx_sha256=bundle_lib.file_sha256(onnx_path),
                    onnx_ir_version=ONNX_IR_VERSION, onnx_opset=ONNX_OPSET)
    doc = {"spec": spec, "spec_hash": spec_hash(spec),
           "config_sha256": spec["config_sha256"], "bundle": meta}
    (out / bundle_lib.SPEC_NAME).write_text(json.dumps(doc, indent=1))
    return out


def check_bundle(out: pathlib.Path, jax_policy, observations: np.ndarray) -> dict[str, float]:
    """max |backend - JAX| over `observations` for every backend the bundle has."""
    bundle = bundle_lib.Bundle(out)
    expected = np.asarray(jax_policy(observations), np.float64)
    errors = {"numpy": float(np.abs(bundle_lib.NumpyPolicy(bundle).batch(observations) - expected).max())}
    if (out / bundle_lib.ONNX_NAME).exists():
        onnx_policy = bundle_lib.OnnxPolicy(bundle)
        errors["onnx"] = float(np.abs(onnx_policy.batch(observations) - expected).max())
    return errors


def probe_observations(spec: dict, mean, std, count: int, seed: int = 0) -> np.ndarray:
    """[count, n] observations: half within one std, half out to 10x the clip range.

    Without normalization the policy sees raw values, and float32 rounding grows with
    them: half within +-1, half within +-clip (the range a normalized input spans).
    """
    rng = np.random.default_rng(seed)
    clip = float(spec["normalizer"]["clip"])
    reach = 10 * clip
    if not spec["normalizer"]["enabled"]:
        mean, std, reach = np.zeros_like(mean), np.ones_like(std), clip
    z = rng.uniform(-reach, reach, (count, len(mean)))
    z[: count // 2] /= reach  # half of them inside one std
    return (np.asarray(mean) + z * np.asarray(std)).astype(np.float32)


def export_checkpoint(policy, out: pathlib.Path, *, force: bool = False, with_onnx: bool = True,
                      source: str = "", check_count: int = 1000) -> dict[str, Any]:
    """Write the bundle of a checkpoint's `playground.policy.Policy` and check it against
    the policy's JAX `apply`."""
    if policy.kind != "checkpoint":
        raise ExportError(f"{policy.path} is a bundle already; export reads a training checkpoint")
    spec = policy.spec
    mean = np.asarray(policy.normalizer.mean["state"], np.float32)
    std = np.asarray(policy.normalizer.std["state"], np.float32)
    layers = policy_layers(policy.params, spec)
    write_bundle(out, spec, layers, mean, std, with_onnx=with_onnx, force=force, source=source)
    obs = probe_observations(spec, mean, std, check_count)
    errors = check_bundle(out, policy.act(), obs)
    return {"out": str(out), "spec_hash": spec_hash(spec), "errors": errors}
