"""MuJoCo Playground's envs behind our `Env` contract: `--task playground:<EnvName>`.

Playground (PyPI `playground`, module `mujoco_playground`, the optional extra
`.[playground]`) ships MJX envs with `reset(rng)` / `step(state, action)` over its own
State (data, obs, reward, done, metrics, info). This adapter loads one of them from
Playground's registry with its default config and maps its State to ours:

  * obs: an array goes to both the actor (`state`) and the critic (`privileged_state`);
    a dict gives its `state` to the actor and its `privileged_state` (or `state` when
    the env has none) to the critic, each flattened to 1-D.
  * reward, done and metrics pass through (Playground's `reward/<term>` metrics become
    ours). An env whose metrics hold `success` (e.g. PandaRobotiqPushCube's, 1.0 at a step that
    reached the goal) defines success for us: its episode succeeds when that metric is
    1.0 at any step (`success_mode = "ever"`); an env without it defines none.
    Truncation at `episode_length` and `action_repeat` are added here, as brax's
    EpisodeWrapper does in Playground's own pipeline.
  * Playground's info (its rng, its per-env carry) and its raw obs ride along under
    `info["playground"]` and `info["playground_obs"]` (some envs read their previous
    obs, e.g. for history); ours holds rng, step, truncation and sys.

Config: `--set env.playground.<key>=VALUE` overrides one key of the env's default
config (Playground's ConfigDict), nested keys as dotted paths
(`env.playground.reward_config.scales.upright=2.0`, or nested mappings in YAML). Each
key is checked against that ConfigDict: an unknown key names the closest real one, and
a value must have its default's type (ints widen to floats; a None default takes any). Without a CUDA GPU the MJX
JAX backend is forced (`impl=jax`; Playground 0.2.0 defaults to Warp, which needs CUDA)
unless `env.playground.impl` is set.

Domain randomization: Playground's randomizer (`registry.get_domain_randomizer`) maps
(model, rng[B]) to a model whose randomized fields carry a [B] axis plus the vmap axes.
Its brax pipeline draws B models once per run and keeps env i on model i. We draw one
model per episode at `reset` (B = 1) and keep only the randomized fields in
`info["sys"]`, like our own envs, so a fresh episode gets a fresh draw and nothing but
arrays lives in the State. Playground's envs read their model from an attribute, so
`step` substitutes the episode's model into that attribute while tracing (the same
context-manager swap Playground's own wrapper does); it is restored on exit.

MuJoCo Menagerie: Playground's locomotion and manipulation envs read their robots from a
Menagerie checkout, which Playground `git clone`s into its own package directory
(site-packages) at first load. We never let it write there: the adapter looks for a
checkout in $PLAYGROUND_MENAGERIE, else in the user cache
(~/.cache/playground/mujoco_menagerie, or $XDG_CACHE_HOME), else in Playground's own
folder (a clone made before), points Playground at it, and otherwise refuses the env
in one line that says how to provide one.
"""

from __future__ import annotations

import contextlib
import difflib
import io
import math
import os
import pathlib
import warnings
from collections.abc import Mapping
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from playground.config import ConfigError
from playground.tasks.base import SUCCESS_METRIC, Env, State
from playground.tasks.registry import PLAYGROUND_INSTALL, PLAYGROUND_PREFIX

#: Playground envs whose assets come from MuJoCo Menagerie (cloned from GitHub at first load).
_MENAGERIE_SUITES = ("locomotion", "manipulation")
#: A Menagerie checkout to use instead of the user cache's (see the module docstring).
MENAGERIE_ENV = "PLAYGROUND_MENAGERIE"
_MENAGERIE_URL = "https://github.com/google-deepmind/mujoco_menagerie"


def menagerie_cache() -> pathlib.Path:
    """Where a user's Menagerie checkout is expected: $PLAYGROUND_MENAGERIE, else the cache."""
    if os.environ.get(MENAGERIE_ENV):
        return pathlib.Path(os.environ[MENAGERIE_ENV]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return pathlib.Path(cache) / "playground" / "mujoco_menagerie"


def _use_menagerie(env_name: str) -> None:
    """Point Playground at a Menagerie checkout, or ConfigError (one line) saying how to get
    one; Playground then never clones into (or creates folders in) its package directory."""
    from etils import epath
    from mujoco_playground._src import mjx_env

    user = menagerie_cache()
    candidates = [user] if os.environ.get(MENAGERIE_ENV) else [user, pathlib.Path(str(mjx_env.MENAGERIE_PATH))]
    for path in candidates:
        if path.is_dir() and any(path.iterdir()):
            mjx_env.MENAGERIE_PATH = epath.Path(str(path))  # every env reads it at load time
            return
    commit = getattr(mjx_env, "MENAGERIE_COMMIT_SHA", None)
    checkout = f" && git -C {user} checkout {commit}" if commit else ""
    raise ConfigError(
        f"playground:{env_name} needs MuJoCo Menagerie (robot assets Playground does not ship) "
        f"and there is no checkout at {user}: git clone {_MENAGERIE_URL} {user}{checkout}, or set "
        f"{MENAGERIE_ENV} to a checkout; Playground's dm_control suite envs work offline")


def make_playground_env(cfg: Any) -> PlaygroundEnv:
    """Registry factory for `playground:<EnvName>` (see `PlaygroundEnv`)."""
    return PlaygroundEnv(cfg)


def _import_playground():
    """The `mujoco_playground` module; ConfigError (one line) when the extra is missing."""
    try:
        # mujoco.mjx prints Warp import notices on stdout, and Playground imports the
        # unmaintained jaxopt (a DeprecationWarning): noise for our users
        with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import mujoco_playground
    except ImportError as error:
        raise ConfigError(
            f"MuJoCo Playground is not installed ({error}): {PLAYGROUND_INSTALL}"
        ) from None
    return mujoco_playground


def _has_cuda() -> bool:
    return any(d.platform == "gpu" for d in jax.devices())


def _dotted_paths(pg_cfg, prefix: str = "") -> list[str]:
    """Every dotted key of a ConfigDict: sections and leaves, depth first."""
    paths = []
    for key in pg_cfg.keys():
        paths.append(prefix + key)
        if isinstance(pg_cfg[key], ml_collections.ConfigDict):
            paths += _dotted_paths(pg_cfg[key], f"{prefix}{key}.")
    return paths


def _unknown_key(env_name: str, pg_cfg, path: str, section) -> ConfigError:
    """One line: the bad key, the closest real one, and the keys where it was looked for."""
    leaf = path.rpartition(".")[2]
    paths = _dotted_paths(pg_cfg)
    same_leaf = [p for p in paths if p.rpartition(".")[2] == leaf]
    close = difflib.get_close_matches(path, same_leaf or paths, n=1,
                                      cutoff=0.0 if same_leaf else 0.6)
    hint = f" (did you mean env.playground.{close[0]}?)" if close else ""
    parent = path.rpartition(".")[0]
    where = f"keys of {parent}" if parent else "keys"
    return ConfigError(
        f"env.playground.{path} is not a key of {env_name}'s Playground config{hint}; "
        f"{where}: {', '.join(sorted(section.keys()))}"
    )


def _describe(value: Any) -> str:
    return f"{value!r} ({type(value).__name__})"


def _checked_value(path: str, old: Any, new: Any) -> Any:
    """`new` for a key whose default is `old`: same kind of value (ints widen to floats).

    ConfigDict casts more than it should (True for an int, any length of tuple) and its
    error names no config path, so the type is checked here first; None defaults take
    anything.
    """
    def same_kind(old_item: Any, new_item: Any) -> Any:
        if isinstance(old_item, bool) or isinstance(new_item, bool):
            ok = isinstance(old_item, bool) and isinstance(new_item, bool)
        elif isinstance(old_item, float):
            ok = isinstance(new_item, int | float)
            new_item = float(new_item) if ok else new_item
        elif isinstance(old_item, int | str):
            ok = isinstance(new_item, type(old_item))
        else:
            ok = True
        if not ok:
            raise ConfigError(
                f"env.playground.{path} expects {type(old_item).__name__} (its Playground "
                f"default is {old_item!r}), got {_describe(new_item)}"
            )
        return new_item

    if old is None:
        return new
    if isinstance(old, list | tuple):
        if not isinstance(new, list | tuple):
            raise ConfigError(
                f"env.playground.{path} expects a list (its Playground default is "
                f"{list(old)!r}), got {_describe(new)}"
            )
        items = [same_kind(old[0], x) if old else x for x in new]
        return tuple(items) if isinstance(old, tuple) else items
    return same_kind(old, new)


def _apply(env_name: str, pg_cfg, section, overrides: Mapping, prefix: str = "") -> None:
    """Lay the (nested) `overrides` on `section` of `pg_cfg` in place, checking each key."""
    for key, value in overrides.items():
        path = prefix + key
        if key not in section:
            raise _unknown_key(env_name, pg_cfg, path, section)
        old = section[key]
        if isinstance(old, ml_collections.ConfigDict):
            if not isinstance(value, Mapping):
                raise ConfigError(
                    f"env.playground.{path} is a section of {env_name}'s Playground config, "
                    f"not a value: set one of its keys ({', '.join(sorted(old.keys()))}), "
                    f"e.g. env.playground.{path}.{sorted(old.keys())[0]}=VALUE"
                )
            _apply(env_name, pg_cfg, old, value, path + ".")
            continue
        if isinstance(value, Mapping):
            raise ConfigError(
                f"env.playground.{path} is a value ({_describe(old)}) of {env_name}'s "
                "Playground config, not a section with keys"
            )
        try:
            section[key] = _checked_value(path, old, value)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"env.playground.{path}={value!r}: {error}") from None


def playground_config(env_name: str, overrides: Mapping[str, Any]):
    """Playground's default ConfigDict for `env_name`, the backend chosen, `overrides` applied.

    `overrides` is `env.playground`: a (nested) mapping of keys of that ConfigDict;
    unknown keys, a value for a section, a section for a value and a value of the wrong
    type are ConfigErrors naming the dotted key.
    """
    if isinstance(overrides, ml_collections.ConfigDict):  # the resolved env.playground
        overrides = overrides.to_dict()
    registry = _import_playground().registry
    pg_cfg = registry.get_default_config(env_name)
    if "impl" in pg_cfg and "impl" not in overrides and not _has_cuda():
        pg_cfg.impl = "jax"  # Warp (Playground's default) needs CUDA
    _apply(env_name, pg_cfg, pg_cfg, overrides)
    return pg_cfg


def _load(mujoco_playground, env_name: str, pg_cfg):
    """Playground's env; ConfigError (one line) when it needs Menagerie and none is here."""
    registry = mujoco_playground.registry
    needs_menagerie = any(
        env_name in getattr(mujoco_playground, suite).ALL_ENVS for suite in _MENAGERIE_SUITES
    )
    if needs_menagerie:
        _use_menagerie(env_name)  # before load: Playground would clone into site-packages
    noise = io.StringIO()
    try:
        with contextlib.redirect_stdout(noise), contextlib.redirect_stderr(noise):
            return registry.load(env_name, config=pg_cfg)
    except Exception as error:  # noqa: BLE001 (OS and XML errors alike, e.g. an old checkout)
        raise ConfigError(f"playground:{env_name}: {type(error).__name__}: {error}") from None


def _flat(x: jax.Array) -> jax.Array:
    return jnp.reshape(x, (-1,)).astype(jnp.float32)


def _split_obs(obs: Any) -> dict[str, jax.Array]:
    """Playground obs (array or dict) -> {"state": [n], "privileged_state": [m]}."""
    if not isinstance(obs, Mapping):
        flat = _flat(obs)
        return {"state": flat, "privileged_state": flat}
    actor = _flat(obs["state"])
    critic = _flat(obs["privileged_state"]) if "privileged_state" in obs else actor
    return {"state": actor, "privileged_state": critic}


def _path_names(tree) -> list[tuple[str, Any]]:
    leaves, _ = jax.tree_util.tree_flatten_with_path(tree, is_leaf=lambda x: x is None)
    return [(jax.tree_util.keystr(path), leaf) for path, leaf in leaves]


class PlaygroundEnv(Env):
    """One MuJoCo Playground env under our contract (see the module docstring).

    Reads `env.task` (`playground:<EnvName>`), `env.playground` (overrides of the env's
    Playground config) and `domain_randomization.enabled`. `randomizer` replaces the
    env's own Playground randomizer (same signature: (mjx.Model, rng[B, 2]) ->
    (model, in_axes)); None takes Playground's, if the env has one.
    """

    metric_names = ()

    def __init__(self, cfg: Any, randomizer=None):
        self.task = str(cfg.env.task)
        self.env_name = self.task[len(PLAYGROUND_PREFIX):]
        mujoco_playground = _import_playground()
        registry = mujoco_playground.registry
        if self.env_name not in registry.ALL_ENVS:
            close = difflib.get_close_matches(self.env_name, registry.ALL_ENVS, n=1, cutoff=0.5)
            hint = f" (did you mean {PLAYGROUND_PREFIX}{close[0]}?)" if close else ""
            raise ConfigError(
                f"env.task: {self.env_name!r} is not an env of MuJoCo Playground's registry{hint}"
            )
        if list((cfg.get("reward_weights", None) or {}).keys()):  # not in its schema
            raise ConfigError(
                f"reward_weights do not apply to {self.task}: Playground envs weigh their own "
                "terms (set them with env.playground.<key> where the env's config has them)"
            )
        self.pg_config = playground_config(self.env_name, cfg.env.playground)
        if self.pg_config.get("vision", False):
            raise ConfigError(f"{self.task}: vision observations are not supported (pixels)")
        self.pg_env = _load(mujoco_playground, self.env_name, self.pg_config)
        self.action_repeat = int(self.pg_config.get("action_repeat", 1))
        pg_length = self.pg_config.get("episode_length", None)
        # brax's EpisodeWrapper counts episode_length in Playground steps, action_repeat per step
        length = int(pg_length) if pg_length is not None else int(cfg.env.episode_length)
        self.episode_length = math.ceil(length / self.action_repeat)
        self.ctrl_dt = float(self.pg_env.dt) * self.action_repeat
        self.sim_dt = float(self.pg_env.sim_dt)
        self.mj_model = self.pg_env.mj_model
        self.mjx_model = self.pg_env.mjx_model
        self.action_size = int(self.pg_env.action_size)

        if randomizer is None and cfg.domain_randomization.enabled:
            randomizer = registry.get_domain_randomizer(self.env_name)
        self._randomizer = randomizer if cfg.domain_randomization.enabled else None
        self._sys_paths: tuple[str, ...] = ()
        if self._randomizer is not None:
            _, in_axes = self._randomizer(self.mjx_model, jax.random.split(jax.random.PRNGKey(0), 1))
            self._sys_paths = tuple(path for path, axis in _path_names(in_axes) if axis == 0)

        shapes = jax.eval_shape(self.pg_env.reset, jax.random.PRNGKey(0))
        obs = jax.eval_shape(_split_obs, shapes.obs)
        self.observation_size = {k: int(v.shape[0]) for k, v in obs.items()}
        self.reward_terms = ()  # Playground weighs its terms itself; reward_weights is refused
        self._metric_keys = tuple(sorted(shapes.metrics))
        # Playground's success metrics mark the steps that reach the goal: any one counts
        self.success_mode = "ever" if SUCCESS_METRIC in self._metric_keys else None

    # --- model per episode ----------------------------------------------------------
    def _draw_sys(self, key: jax.Array) -> dict[str, jax.Array]:
        """The randomized model fields of one episode, keyed by their path in mjx.Model."""
        if self._randomizer is None:
            return {}
        model_v, _ = self._randomizer(self.mjx_model, key[None])
        leaves = dict(_path_names(model_v))
        return {path: leaves[path][0] for path in self._sys_paths}

    def _model(self, sys: dict[str, jax.Array]):
        """The nominal mjx.Model with this episode's randomized fields substituted."""
        if not sys:
            return self.mjx_model
        leaves, treedef = jax.tree_util.tree_flatten_with_path(self.mjx_model)
        return treedef.unflatten([sys.get(jax.tree_util.keystr(p), x) for p, x in leaves])

    @contextlib.contextmanager
    def _physics(self, sys: dict[str, jax.Array]):
        """Playground's env with this episode's model in place (only while tracing)."""
        if not sys:
            yield self.pg_env
            return
        env = self.pg_env.unwrapped
        nominal = env._mjx_model
        env._mjx_model = self._model(sys)
        try:
            yield env
        finally:
            env._mjx_model = nominal

    # --- the contract ---------------------------------------------------------------
    def _metrics(self, pg_metrics: dict) -> dict[str, jax.Array]:
        return {k: jnp.asarray(pg_metrics[k], jnp.float32) for k in self._metric_keys}

    def reset(self, key: jax.Array) -> State:
        """Playground's reset, with a fresh model draw when the env has a randomizer."""
        key_next, key_sys, key_env = jax.random.split(key, 3)
        sys = self._draw_sys(key_sys)
        with self._physics(sys) as env:
            pg_state = env.reset(key_env)
        zero = jnp.zeros((), jnp.float32)
        return State(
            data=pg_state.data,
            obs=_split_obs(pg_state.obs),
            reward=zero,
            done=zero,
            metrics=self._metrics(pg_state.metrics),
            info={
                "rng": key_next,
                "step": jnp.zeros((), jnp.int32),
                "truncation": zero,
                "sys": sys,
                "playground": pg_state.info,
                "playground_obs": pg_state.obs,
            },
        )

    def step(self, state: State, action: jax.Array) -> State:
        """`action_repeat` Playground steps (rewards summed); never resets."""
        pg_state = self._to_playground(state)
        action = action.astype(jnp.float32)
        with self._physics(state.info["sys"]) as env:
            reward = jnp.zeros((), jnp.float32)
            for _ in range(self.action_repeat):  # small and static: unrolled like brax's wrapper
                pg_state = env.step(pg_state, action)
                reward = reward + pg_state.reward.astype(jnp.float32)
        terminated = pg_state.done > 0.5
        step = state.info["step"] + 1
        truncated = (step >= self.episode_length) & ~terminated
        return state.replace(
            data=pg_state.data,
            obs=_split_obs(pg_state.obs),
            reward=reward,
            done=(terminated | truncated).astype(jnp.float32),
            metrics=self._metrics(pg_state.metrics),
            info={
                **state.info,
                "step": step,
                "truncation": truncated.astype(jnp.float32),
                "playground": pg_state.info,
                "playground_obs": pg_state.obs,
            },
        )

    def _to_playground(self, state: State):
        """Our State back into Playground's, as its previous step left it."""
        from mujoco_playground import State as PlaygroundState

        return PlaygroundState(
            data=state.data,
            obs=state.info["playground_obs"],
            reward=state.reward,
            done=state.done,
            metrics={k: state.metrics[k] for k in self._metric_keys},
            info=state.info["playground"],
        )

    def policy_spec(self) -> dict[str, Any]:
        """The env's half of the deploy contract: plain Python values only."""
        import mujoco

        def names(obj, count):
            return [mujoco.mj_id2name(self.mj_model, obj, i) for i in range(count)]

        return {
            "task": self.task,
            "observation_size": dict(self.observation_size),
            "observation_layout": [
                {"name": "state", "size": self.observation_size["state"], "scale": 1.0}
            ],
            "privileged_observation_layout": [
                {"name": "privileged_state", "size": self.observation_size["privileged_state"],
                 "scale": 1.0}
            ],
            "action_size": self.action_size,
            "action_meaning": f"MuJoCo Playground {self.env_name}'s action in [-1, 1] "
            f"(its own scaling), held for action_repeat={self.action_repeat} env steps",
            "action_scale": 1.0,
            "ctrl_dt": self.ctrl_dt,
            "sim_dt": self.sim_dt,
            "n_substeps": int(round(self.ctrl_dt / self.sim_dt)),
            "joint_names": names(mujoco.mjtObj.mjOBJ_JOINT, self.mj_model.njnt),
            "actuator_names": names(mujoco.mjtObj.mjOBJ_ACTUATOR, self.mj_model.nu),
            "default_qpos": [float(q) for q in self.mj_model.qpos0],
            "playground": {"env": self.env_name, "config": _plain(self.pg_config.to_dict())},
        }


def _plain(value: Any) -> Any:
    """ConfigDict values as JSON-friendly Python (tuples -> lists)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value
