"""JSON config files: syntax errors at line:column, our own layout, and the trainer layout
(`runtime` / `env: {id, cfg}` / `policy` / `algorithm: {name, cfg}`, shared/seeds/004)
mapped onto our keys, each part that has no meaning here refused in one line."""

import copy
import json
import pathlib

import pytest

from playground import config, policy
from playground.config import ConfigError, layout

ROOT = pathlib.Path(__file__).resolve().parents[2]
#: every section and runtime key the seed-004 layout documents, for the cart-pole
TRAINER_JSON = ROOT / "tests" / "data" / "trainer_layout.json"


def _write(tmp_path, data, name="run.json") -> pathlib.Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, indent=2))
    return path


def _trainer_layout() -> dict:
    return json.loads(TRAINER_JSON.read_text())


def test_a_json_syntax_error_is_one_line_naming_file_line_and_column(tmp_path, capsys):
    from playground.cli import train

    path = tmp_path / "bad.json"
    path.write_text('{\n  "run": {\n    "seed": 1,\n  }\n}\n')  # trailing comma: line 4, col 3
    with pytest.raises(ConfigError) as error:
        config.resolve(path)
    assert str(error.value) == (f"{path}:4:3: invalid JSON: Expecting property name enclosed "
                                "in double quotes")
    assert train.main(["--config", str(path)]) == 2  # through the CLI: one line, exit 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {error.value}"]


def test_a_duplicate_json_key_is_named_by_its_path(tmp_path):
    path = tmp_path / "dup.json"
    path.write_text('{"env": {"task": "cartpole_balance"}, "run": {"seed": 1, "seed": 2}}')
    with pytest.raises(ConfigError, match=r"dup.json: duplicate key 'run.seed'$"):
        config.resolve(path)


def test_json_in_our_layout_means_what_the_same_yaml_means(tmp_path):
    values = {"env": {"task": "cartpole_balance", "episode_length": 50},
              "ppo": {"num_envs": 8, "learning_rate": 1e-4},
              "network": {"policy_hidden": [16, 8]}, "run": {"seed": 3}}
    from_json = config.resolve(_write(tmp_path, values), [("run.name", "x")])
    yaml_path = tmp_path / "run.yaml"
    yaml_path.write_text(json.dumps(values))  # JSON text is YAML
    from_yaml = config.resolve(yaml_path, [("run.name", "x")])
    assert config.to_dict(from_json) == config.to_dict(from_yaml)
    assert from_json.ppo.learning_rate == 1e-4 and from_json.env.episode_length == 50


def test_the_seed_004_layout_maps_onto_our_keys():
    cfg = config.resolve(TRAINER_JSON)
    resolved = config.to_dict(cfg)
    expected = {
        "run.name": "cartpole_ppo", "run.seed": 42,
        "run.device": "cpu",  # runtime.cuda false
        "run.wandb.enabled": False, "run.wandb.project": "cartpole-from-json",
        # an iteration of the file: env.cfg.num_envs 4 x runtime.rollout_steps 32 = 128 env steps
        "run.eval_every": 2,  # eval_freq 256 / 128 = 2
        "run.checkpoint_every": 5,  # save_freq 600 / 128 = 4.69, rounded up
        "env.task": "cartpole_balance", "env.episode_length": 100, "env.action_scale": 0.1,
        "algorithm.name": "ppo",
        "ppo.num_envs": 4, "ppo.unroll_length": 32, "ppo.num_iterations": 6,
        "ppo.num_minibatches": 2,  # batch_size 64: 128 / 64 = 2 minibatches
        "ppo.num_epochs": 10, "ppo.learning_rate": 1e-4, "ppo.discount": 0.99,
        "ppo.gae_lambda": 0.95, "ppo.clip_epsilon": 0.2, "ppo.entropy_coef": 0.01,
        "ppo.value_loss_coef": 0.5, "ppo.max_grad_norm": 0.5,
        "network.policy_hidden": [32, 16], "network.value_hidden": [64, 32],
        "network.activation": "relu",
    }
    for key, value in expected.items():
        section, _, rest = key.partition(".")
        got = resolved[section]
        for part in rest.split("."):
            got = got[part]
        assert got == value, key
    # the command line still comes last; derive accepts the mapped schedule
    assert config.resolve(TRAINER_JSON, [("run.device", "auto")]).run.device == "auto"
    assert config.derive(cfg).algorithm["minibatch_size"] == 64
    # play's and sim2sim's --config read the same file
    assert config.to_dict(policy.config_file(TRAINER_JSON))["ppo"] == resolved["ppo"]


def test_success_threshold_maps_to_the_tasks_key_or_names_it(tmp_path):
    data = _trainer_layout()
    data["env"]["cfg"]["success_threshold"] = 0.1  # the seed's example env.cfg
    path = _write(tmp_path, data)
    env_keys = config.assemble("cartpole_balance", "ppo").fields["env"].fields
    if "success_threshold" in env_keys:
        assert config.resolve(path).env.success_threshold == 0.1
    else:
        with pytest.raises(ConfigError) as error:
            config.resolve(path)
        assert str(error.value).startswith(
            f"{path}: env.cfg.success_threshold (our env.success_threshold): unknown config key")


def _cuda(d):
    d["runtime"]["cuda"] = "yes"


def _headless(d):
    d["runtime"]["headless"] = False


def _events(d):
    d["runtime"]["events"] = {"eval": {"record_camera": {"func": "record_camera_data_async"}}}


def _pixels(d):
    d["env"]["cfg"]["obs_mode"] = "rgb"


def _env_key(d):
    d["env"]["episode_length"] = 100


def _task(d):
    d["env"]["id"] = "PushCubeRL"


def _vla(d):
    d["policy"]["name"] = "vla"


def _policy_cfg(d):
    d["policy"]["cfg"] = {"chunk": 4}


def _cnn(d):
    d["policy"]["actor"]["type"] = "cnn"


def _activations(d):
    d["policy"]["critic"]["activation"] = "tanh"


def _batch(d):
    d["algorithm"]["cfg"]["batch_size"] = 48  # 128 env steps per iteration: 2.67 minibatches


def _no_rollout(d):
    del d["runtime"]["rollout_steps"]


def _target_kl(d):
    d["algorithm"]["cfg"]["target_kl"] = 0.01


def _both_ways(d):
    d["run"] = {"seed": 7}


@pytest.mark.parametrize("change, expected", [
    (_cuda, "runtime.cuda (our run.device): expects true or false"),
    (_headless, "runtime.headless: only true has a meaning here (training never renders"),
    (_events, "runtime.events: no counterpart here (with algorithm ppo, runtime maps cuda,"),
    (_pixels, 'env.cfg.obs_mode: only "state" has a meaning here'),
    (_env_key, "env.episode_length: the trainer layout's env holds id, cfg; put "
               "episode_length under env.cfg"),
    (_task, "env.id (our env.task): unknown task 'PushCubeRL'; known tasks: cartpole_balance"),
    (_vla, 'policy.name: only "actor_critic" has a meaning here'),
    (_policy_cfg, "policy.cfg.chunk: no counterpart here"),
    (_cnn, 'policy.actor.type: only "mlp" has a meaning here'),
    (_activations, "policy.critic.activation (our network.activation): 'tanh' here, but "
                   "policy.actor.activation sets it to 'relu'; they must agree"),
    (_batch, "algorithm.cfg.batch_size (our ppo.num_minibatches): 48 does not divide the 128 "
             "env steps of an iteration"),
    (_no_rollout, "runtime.eval_freq (our run.eval_every): counts env steps, and without "
                  "env.cfg.num_envs and runtime.rollout_steps in the same file it has no "
                  "iteration count: set run.eval_every (iterations) instead"),
    (_target_kl, "algorithm.cfg.target_kl: no ppo setting of that name (algorithm ppo maps "
                 "batch_size, clip_coef,"),
    (_both_ways, "runtime.seed (our run.seed): 42 here, but this file's own run section sets "
                 "it to 7; they must agree"),
])
def test_each_part_without_a_meaning_here_is_one_line_naming_it(tmp_path, change, expected):
    data = copy.deepcopy(_trainer_layout())
    change(data)
    path = _write(tmp_path, data)
    with pytest.raises(ConfigError) as error:
        config.resolve(path)
    message = str(error.value)
    assert message.startswith(f"{path}: {expected}"), message
    assert "\n" not in message


def test_the_trainer_layout_is_told_from_ours():
    assert layout.is_trainer_layout(_trainer_layout())
    assert layout.is_trainer_layout({"env": {"id": "cartpole_balance"}})
    assert layout.is_trainer_layout({"algorithm": {"name": "ppo", "cfg": {}}})
    assert not layout.is_trainer_layout({"env": {"task": "cartpole_balance"},
                                         "algorithm": {"name": "ppo"}, "run": {"seed": 1}})


def test_a2c_and_sac_read_the_trainer_layout_too(tmp_path):
    data = _trainer_layout()
    data["algorithm"] = {"name": "a2c", "cfg": {
        "learning_rate": 0.001, "gamma": 0.98, "gae_lambda": 0.9, "ent_coef": 0.02,
        "vf_coef": 0.25, "max_grad_norm": 1.0}}
    cfg = config.resolve(_write(tmp_path, data))
    assert (cfg.algorithm.name, cfg.a2c.num_envs, cfg.a2c.unroll_length, cfg.a2c.num_iterations,
            cfg.a2c.learning_rate, cfg.a2c.discount, cfg.a2c.gae_lambda, cfg.a2c.entropy_coef,
            cfg.a2c.value_loss_coef, cfg.a2c.max_grad_norm) == (
        "a2c", 4, 32, 6, 0.001, 0.98, 0.9, 0.02, 0.25, 1.0)
    assert (cfg.network.policy_hidden, cfg.network.value_hidden) == ([32, 16], [64, 32])
    data["algorithm"]["cfg"]["clip_coef"] = 0.2  # PPO's, with no A2C counterpart
    with pytest.raises(ConfigError, match=r"algorithm.cfg.clip_coef.*no a2c setting of that name"):
        config.resolve(_write(tmp_path, data, "clip.json"))

    data["algorithm"] = {"name": "sac", "cfg": {
        "learning_rate": 0.0005, "gamma": 0.97, "batch_size": 64, "buffer_size": 4096,
        "learning_starts": 256, "tau": 0.01, "target_entropy": -2.0}}
    cfg = config.resolve(_write(tmp_path, data, "sac.json"))
    assert (cfg.sac.num_envs, cfg.sac.unroll_length, cfg.sac.num_iterations, cfg.sac.learning_rate,
            cfg.sac.discount, cfg.sac.batch_size, cfg.sac.buffer_size, cfg.sac.warmup_steps,
            cfg.sac.tau, cfg.sac.target_entropy) == (4, 32, 6, 0.0005, 0.97, 64, 4096, 256, 0.01, -2.0)
    assert (cfg.sac.policy_hidden, cfg.sac.q_hidden, cfg.sac.activation) == ([32, 16], [64, 32], "relu")
    config.derive(cfg)  # a schedule SAC accepts: 64 rows a multiple of 4 envs, 1024 rows per env
