"""Checkpoint -> robot bundle: policy.npz, policy_spec.json, policy.onnx.

    python playground/export.py CHECKPOINT --out DIR [--force] [--no-onnx]

CHECKPOINT is a run directory (its newest step that restores; damaged steps are named
on stderr and skipped), `<run dir>/best` (the step `run.keep_best` keeps), its
`checkpoints/` directory, one step directory, or `latest` (the newest step that restores
under `--checkpoint-dir`). Only the policy params, the normalizer, the spec and the
config are read (`playground.policy`); no trainer is built. `--out` is checked before
anything is loaded. The bundle is what
`python -m playground.serve --bundle DIR` serves with numpy only; its format is
described in `playground/serve/bundle.py`. After writing, the numpy forward pass and
the ONNX model (through onnxruntime) are checked against the JAX policy.

Exit codes: 0 written, 1 the written bundle disagrees with JAX, 2 bad input.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import sys
from typing import Any

if __package__ in (None, ""):  # run as a script: make the project importable
    sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from playground.serve import bundle as bundle_lib  # noqa: E402 (numpy only)
from playground.serve.spec import action_size, spec_hash  # noqa: E402

#: ONNX versions written explicitly: onnx 1.23 defaults to IR 14, onnxruntime 1.31 reads <= 13.
ONNX_IR_VERSION = 10
ONNX_OPSET = 17
#: Largest |numpy - JAX| (and |onnx - JAX|) accepted on the post-export check.
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


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("checkpoint", help="run dir, RUN/best, checkpoints/ dir, step dir, or 'latest'")
    p.add_argument("--out", required=True, type=pathlib.Path, help="bundle directory to write")
    p.add_argument("--checkpoint-dir", default=None,
                   help="where 'latest' looks (default: checkpoints)")
    p.add_argument("--force", action="store_true", help="overwrite an existing bundle in --out")
    p.add_argument("--no-onnx", action="store_true", help="skip policy.onnx (no onnx package)")
    args = p.parse_args(argv)
    with_onnx = not args.no_onnx
    if with_onnx:
        try:
            import onnx  # noqa: F401
            import onnxruntime  # noqa: F401
        except ImportError:
            print("error: policy.onnx needs onnx and onnxruntime (uv sync --extra onnx), "
                  "or pass --no-onnx", file=sys.stderr)
            return 2
    names = (bundle_lib.NPZ_NAME, bundle_lib.SPEC_NAME, bundle_lib.ONNX_NAME)
    if not args.force and any((args.out / n).exists() for n in names):
        print(f"error: {args.out} already holds a bundle; pass --force to overwrite",
              file=sys.stderr)
        return 2
    from playground import paths, runs  # paths only: bad input fails before jax is imported

    try:
        paths.check_output(args.out, "--out", directory=True)
        steps_dir, step = runs.find_step(args.checkpoint, args.checkpoint_dir)
    except (FileNotFoundError, paths.OutputError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    from playground import config, platforms, policy

    try:
        platforms.check_jax_platforms()  # JAX_PLATFORMS=cuda without a CUDA jax: one line
        loaded = policy.load_checkpoint(steps_dir, step)
        source = str(loaded.path)
        print(f"exporting {source} ...", file=sys.stderr, flush=True)
        result = export_checkpoint(loaded, args.out, force=args.force, with_onnx=with_onnx,
                                   source=source)
    except (FileNotFoundError, ExportError, bundle_lib.BundleError, config.ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    worst = max(result["errors"].values())
    checks = ", ".join(f"{k} max|err| {v:.1e}" for k, v in result["errors"].items())
    print(f"wrote {args.out} (spec {result['spec_hash'][:12]}); vs JAX on 1000 observations: {checks}")
    if worst > PARITY_ATOL:
        print(f"error: the bundle differs from the JAX policy by {worst:.2e} > {PARITY_ATOL}",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
