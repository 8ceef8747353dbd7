"""`train.py --verify`: prove the install end to end in well under a minute.

Trains under the `quick_verify` section, saves a checkpoint, restores it (the whole
carry, and the policy as play and export load it, `playground.policy`), evaluates the
restored policy, checks every metric is finite and that the restored policy and its deploy
contract are the trained ones, then prints `VERIFY PASS <seconds>` (exit 0)
or `VERIFY FAIL <reason>` (exit 1).
"""

from __future__ import annotations

import json
import math
import time

import jax
import numpy as np


def _non_finite(row: dict) -> list[str]:
    return [k for k, v in row.items() if isinstance(v, (int, float)) and not math.isfinite(v)]


def _trees_equal(a, b) -> bool:
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return len(la) == len(lb) and all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(la, lb, strict=False))


def _json(value):
    return json.loads(json.dumps(value, sort_keys=True,
                                 default=lambda x: x.tolist() if hasattr(x, "tolist") else str(x)))


def spec_differences(saved: dict, expected: dict) -> list[str]:
    """Top-level keys of two policy specs that differ, VOLATILE_FIELDS (statistics,
    provenance, config hash, robot path) aside."""
    from playground.serve.spec import VOLATILE_FIELDS

    saved, expected = _json(saved), _json(expected)
    keys = sorted((set(saved) | set(expected)) - set(VOLATILE_FIELDS))
    return [k for k in keys if saved.get(k) != expected.get(k)]


def run_verify(cfg, command: list[str]) -> int:
    from playground import policy, runner
    from playground.config import ConfigError, print_error

    t0 = time.monotonic()
    try:
        run = runner.Run(cfg, command)
    except (ConfigError, FileNotFoundError, ValueError) as e:
        print_error(e)
        return 2
    try:
        result = run.train()
        restored = run.restore(result.steps_dir)
        checks = []
        if restored["step"] != int(result.carry.iteration):
            checks.append(f"restored step {restored['step']} != trained {int(result.carry.iteration)}")
        trained = jax.device_get(result.carry)
        # the whole carry: params, optimizer, normalizer, env states, keys, counters and any
        # reward plug-in's state (AMP: discriminator, its normalizer, the replay)
        # (less what the algorithm keeps out of checkpoints, e.g. a replay buffer)
        if not _trees_equal(run.saved_part(restored["carry"]), run.saved_part(trained)):
            checks.append("the restored carry differs from the trained one")
        differ = spec_differences(restored["spec"], run.spec(trained))
        if differ:
            checks.append(f"restored policy spec differs in {', '.join(differ)}")
        loaded = policy.load(result.run_dir)  # as play and export load it
        if loaded.path.name != str(restored["step"]):
            checks.append(f"the policy loader picked step {loaded.path.name}, not {restored['step']}")
        if not (_trees_equal(loaded.params, trained.params.policy)
                and _trees_equal(loaded.normalizer, trained.normalizer)):
            checks.append("the policy loader's params or normalizer differ from the trained ones")
        restored_eval = run.evaluate(restored["carry"])
        if restored_eval != result.final_eval:
            checks.append(f"restored policy evaluates differently: {restored_eval} vs {result.final_eval}")
        rows = [json.loads(line) for line in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
        bad = sorted({k for row in rows + [restored_eval] for k in _non_finite(row)})
        bad += [k for row in rows for k, v in row.items() if isinstance(v, str) and v in ("nan", "inf", "-inf")]
        if bad:
            checks.append(f"non-finite metrics: {', '.join(bad[:8])}")
        if not rows:
            checks.append("no metrics were logged")
    except Exception as e:  # verify reports every failure as one line
        print(f"VERIFY FAIL {type(e).__name__}: {' '.join(str(e).split())[:300]}", flush=True)
        return 1
    wall = time.monotonic() - t0
    if checks:
        print(f"VERIFY FAIL {'; '.join(checks)}", flush=True)
        return 1
    print(
        f"VERIFY PASS {wall:.1f}s  (compile {result.compile_time:.1f}s, "
        f"{rows[-1]['env_steps']:,} env steps, eval reward {restored_eval['eval/episode_reward']:.3f}, "
        f"run dir {result.run_dir})",
        flush=True,
    )
    return 0
