"""Suite-wide setup: one persistent XLA cache shared by in-process tests and CLI subprocesses.

Every function the suite compiles is compiled once per machine; later runs (and
the subprocess tests, which use the CLI's default cache) load it from disk.
"""

import os
import pathlib

import pytest

import playground  # noqa: F401  (sets XLA_FLAGS before any test starts jax: playground/xla_flags.py)

CACHE = pathlib.Path(os.path.expanduser("~/.cache/playground/jax"))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # XLA's C++ chatter off in test logs


@pytest.fixture(scope="session", autouse=True)
def _compilation_cache():
    import jax

    CACHE.mkdir(parents=True, exist_ok=True)
    jax.config.update("jax_compilation_cache_dir", str(CACHE))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)
    yield


PROJECT_ROOT = pathlib.Path(__file__).resolve().parents[1]


@pytest.fixture
def deny_writes(monkeypatch):
    """deny_writes(directory): the output checks' write probe fails there (EACCES), as in a
    read-only mount, also for root (root writes through chmod, so mode 555 tests nothing)."""
    from playground import paths

    real_probe = paths.probe_write
    denied: set[pathlib.Path] = set()

    def probe(directory):
        if pathlib.Path(directory) in denied:
            raise PermissionError(13, "Permission denied")
        real_probe(directory)

    monkeypatch.setattr(paths, "probe_write", probe)
    return lambda directory: denied.add(pathlib.Path(directory))


#: A tiny cart-pole: what the checkpoint fixtures save (no training).
TINY_CARTPOLE = [("env.task", "cartpole_balance"), ("ppo.num_envs", 4), ("run.eval_envs", 2),
                 ("network.policy_hidden", [16, 8]), ("network.value_hidden", [8])]


@pytest.fixture(scope="session")
def save_initial_checkpoint():
    """save(steps_dir, rows {step: logged row}) -> (carry saved at every step, its Run): an
    initial tiny cart-pole carry with random normalizer statistics, saved as training does."""
    import jax
    import numpy as np

    from playground import checkpoint, config, runner

    def save(steps_dir: pathlib.Path, rows: dict[int, dict]):
        run = runner.Run(config.resolve(None, TINY_CARTPOLE), log=lambda m: None)
        carry = jax.device_get(jax.jit(run.fns.init)(run.key_init))
        rng = np.random.default_rng(0)
        norm = carry.normalizer
        carry = carry.replace(normalizer=norm.replace(
            mean={k: rng.normal(size=v.shape).astype(np.float32) for k, v in norm.mean.items()},
            std={k: rng.uniform(0.1, 2.0, v.shape).astype(np.float32) for k, v in norm.std.items()}))
        saver = checkpoint.Checkpointer(steps_dir, keep=len(rows), keep_best=0)
        for step, row in rows.items():
            saver.save(step, carry, run.config_dict, run.spec(carry), row)
        saver.close()
        return carry, run

    return save


@pytest.fixture(scope="session")
def logged_scalars():
    """logged_scalars(run_dir) -> (tensorboard, jsonl): {tag: [(step, value), ...]} read
    back from the run's event files (in the order TensorBoard reads them) and from its
    metrics.jsonl (step = env_steps), each value as the repr of its float32 (what
    TensorBoard keeps; exact, and NaN equals NaN), so the two compare with ==."""
    import json

    import numpy as np

    from playground import tb_events

    def read(run_dir: pathlib.Path):
        tensorboard: dict[str, list] = {}
        for path in tb_events.event_files(run_dir):
            for event in tb_events.read_events(path):
                for value in event.summary.value:
                    if value.WhichOneof("value") == "simple_value":
                        tensorboard.setdefault(value.tag, []).append(
                            (event.step, str(np.float32(value.simple_value))))
        jsonl: dict[str, list] = {}
        for line in (pathlib.Path(run_dir) / "metrics.jsonl").read_text().splitlines():
            row = json.loads(line)
            for key, value in row.items():
                if key != tb_events.STEP_KEY and (isinstance(value, (int, float))
                                                  or value in ("nan", "inf", "-inf")):
                    jsonl.setdefault(key, []).append(
                        (row[tb_events.STEP_KEY], str(np.float32(float(value)))))
        return tensorboard, jsonl

    return read
