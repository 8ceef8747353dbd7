"""Export parity: the numpy bundle and the ONNX model equal the JAX deterministic policy.

Params come from `make_networks(...).init` (no training); the normalizer statistics are
random (one std at the floor). Observations span one std, then 10x beyond the clip range;
a part of the actions sits on the squashing's rails.
"""

import json

import numpy as np
import pytest

from playground.deploy.export import ExportError, policy_layers, probe_observations, write_bundle
from playground.serve import bundle as bundle_lib
from playground.serve.spec import spec_hash

ATOL = 1e-5


#: name -> (task, overrides, output-layer gain). The gain pushes more actions onto the
#: squashing's rails where the initial network keeps them small; float32 rounding grows
#: with it, so it stays modest.
CASES = {
    "humanoid_shipped_net": ("humanoid_walk", [], 1.0),
    "humanoid_no_normalizer": ("humanoid_walk", [("ppo.normalize_observations", False),
                                                 ("network.policy_hidden", [64, 32])], 1.0),
    "cartpole_normal_relu": ("cartpole_balance", [("network.distribution", "normal"),
                                                  ("network.activation", "relu")], 1.0),
    "cartpole_elu": ("cartpole_balance", [("network.activation", "elu")], 1.0),
    "cartpole_tanh_no_norm": ("cartpole_balance", [("network.activation", "tanh"),
                                                   ("ppo.normalize_observations", False)], 8.0),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_numpy_and_onnx_equal_jax(tmp_path, name, policy_case):
    task, overrides, gain = CASES[name]
    spec, params, mean, std, jax_policy = policy_case(task, overrides, saturate=gain)
    out = write_bundle(tmp_path / "bundle", spec, policy_layers(params, spec), mean, std)
    bundle = bundle_lib.Bundle(out)
    numpy_policy = bundle_lib.NumpyPolicy(bundle)
    onnx_policy = bundle_lib.OnnxPolicy(bundle)

    obs = probe_observations(spec, mean, std, 1000, seed=1)
    if spec["normalizer"]["enabled"]:  # really 10x beyond the clip range
        assert np.abs((obs - mean) / std).max() > 9 * spec["normalizer"]["clip"]
    expected = jax_policy(obs)
    saturated = np.mean(np.abs(expected) > 0.999)
    assert 0.05 < saturated < 0.95  # both the squashing's rails and its linear part
    np.testing.assert_allclose(numpy_policy.batch(obs), expected, rtol=0, atol=ATOL)
    np.testing.assert_allclose(onnx_policy.batch(obs), expected, rtol=0, atol=ATOL)
    for row in range(len(obs)):  # the preallocated one-observation path
        np.testing.assert_allclose(numpy_policy(obs[row]), expected[row], rtol=0, atol=ATOL)
        np.testing.assert_allclose(onnx_policy(obs[row]), expected[row], rtol=0, atol=ATOL)


def test_bundle_files_and_refusals(tmp_path, policy_case):
    spec, params, mean, std, _ = policy_case("cartpole_balance")
    layers = policy_layers(params, spec)
    out = write_bundle(tmp_path / "b", spec, layers, mean, std)
    doc = json.loads((out / "policy_spec.json").read_text())
    assert doc["spec"] == json.loads(json.dumps(spec))  # the complete spec, as saved
    assert doc["spec_hash"] == spec_hash(spec) and doc["config_sha256"] == spec["config_sha256"]
    import onnx

    model = onnx.load(out / "policy.onnx")
    assert model.ir_version == 10 and model.opset_import[0].version == 17
    # the last layer keeps only the action mean: [64, 1] for the 1-actuator cart-pole
    assert layers[-1][0].shape == (64, 1) and len(layers) == 3

    with pytest.raises(ExportError, match="--force"):
        write_bundle(out, spec, layers, mean, std)
    write_bundle(out, spec, layers, mean, std, force=True)

    # tampering is caught at load: weights changed after export, or the spec edited
    with np.load(out / "policy.npz") as npz:
        arrays = dict(npz)
    arrays["layer_0/bias"] = arrays["layer_0/bias"] + 1
    np.savez(out / "policy.npz", **arrays)
    with pytest.raises(bundle_lib.BundleError, match="sha256"):
        bundle_lib.Bundle(out)
    write_bundle(out, spec, layers, mean, std, force=True)
    doc["spec"]["action_scale"] = 2.0
    (out / "policy_spec.json").write_text(json.dumps(doc))
    with pytest.raises(bundle_lib.BundleError, match="spec_hash"):
        bundle_lib.Bundle(out)
