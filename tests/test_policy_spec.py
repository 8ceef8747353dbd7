"""The spec hash identifies the deploy contract, not the run that produced it."""

import copy

from playground.policy_spec import spec_hash

SPEC = {
    "spec_version": 1,
    "observation": {"frame": [{"name": "gyro", "start": 0, "size": 3}], "history": 1},
    "action": {"size": 17, "scale": 0.3},
    "joint_names": ["a", "b"],
    "robot_xml": "/home/someone/robot.xml",
    "normalizer": {"enabled": True, "eps": 1e-6, "clip": 10.0, "mean": [0.0], "std": [1.0]},
    "provenance": {"git_commit": "abc"},
    "config_sha256": "123",
}


def test_hash_ignores_statistics_paths_and_provenance():
    other = copy.deepcopy(SPEC)
    other["normalizer"]["mean"] = [5.0]
    other["robot_xml"] = "/elsewhere/robot.xml"
    other["provenance"] = {"git_commit": "def"}
    other["config_sha256"] = "456"
    assert spec_hash(other) == spec_hash(SPEC)


def test_hash_changes_with_the_contract():
    for mutate in (
        lambda s: s["observation"]["frame"][0].update(size=4),
        lambda s: s["action"].update(scale=0.25),
        lambda s: s["joint_names"].reverse(),
        lambda s: s["normalizer"].update(clip=5.0),
    ):
        other = copy.deepcopy(SPEC)
        mutate(other)
        assert spec_hash(other) != spec_hash(SPEC)
