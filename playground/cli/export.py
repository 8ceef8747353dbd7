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
import pathlib
import sys

from playground.deploy.export import PARITY_ATOL, ExportError, export_checkpoint
from playground.serve import bundle as bundle_lib  # numpy only


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
