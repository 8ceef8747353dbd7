"""Robot-side latency: the policy forward pass per backend, and the ZMQ request path.

1. Per-call latency of the shipped humanoid actor at batch 1 (its network from the
   config, random init and normalizer statistics, or a real `--checkpoint`): the numpy
   shim (`NumpyPolicy`), onnxruntime on the exported `policy.onnx` (1 thread), and the
   trainer's deterministic policy under `jax.jit` on CPU (host array in, host array
   out). Calls alternate between backends in rounds, so machine noise hits all three.
2. The request path on loopback, as the robot runs it: `PolicyClient.act` (encode,
   send, server checks + numpy policy, reply, decode) against a `python -m
   playground.serve` process, at 50 Hz and 1 kHz for `--seconds` each; a deadline miss
   is a round trip longer than the period (or no reply). A bare ZMQ DEALER/ROUTER echo
   at 1 kHz is measured the same way as the floor.

Goals: numpy within 1.5x of onnxruntime; request path p99 <= 1 ms, no errors, no missed
50 Hz deadline.

    .venv/bin/python benchmarks/serve_latency.py                 # ~2.5 min
    .venv/bin/python benchmarks/serve_latency.py --seconds 5 --calls 2000   # smoke
"""

from __future__ import annotations

import argparse
import os
import pathlib
import subprocess
import sys
import tempfile
import time
from typing import Any

import common
import numpy as np

GOALS = {"numpy_over_onnx": 1.5, "p99_ms": 1.0}
ECHO_SERVER = """
import sys, zmq
sock = zmq.Context().socket(zmq.ROUTER)
sock.bind(sys.argv[1])
print("serving", flush=True)
while True:
    sock.send_multipart(sock.recv_multipart())
"""


def make_bundle(out: pathlib.Path, config_file: str, checkpoint: str | None, seed: int):
    """Export the policy to `out`; returns (bundle, jax policy obs[1, n] -> host action)."""
    import jax

    from playground.export import make_jax_policy, policy_layers, write_bundle

    if checkpoint:
        from playground import training

        loaded = training.load_checkpoint(checkpoint, log=common.log)
        spec, params, norm = loaded.spec, loaded.carry.params.policy, loaded.carry.normalizer
        jax_policy = make_jax_policy(loaded)
    else:
        from playground import config
        from playground.agents.ppo import networks as ppo_networks
        from playground.envs.registry import get_task
        from playground.policy_spec import make_policy_spec

        cfg = common.resolve_config(config_file, [])
        env = get_task(cfg.env.task).make_env(cfg)
        networks = ppo_networks.make_networks(cfg, env.observation_size, env.action_size)
        key_params, key_mean, key_std = jax.random.split(jax.random.PRNGKey(seed), 3)
        params = ppo_networks.init_params(networks, key_params).policy
        norm = ppo_networks.init_normalizer(env.observation_size)
        n = env.observation_size["state"]
        norm = norm.replace(
            mean={**norm.mean, "state": jax.random.normal(key_mean, (n,))},
            std={**norm.std, "state": jax.random.uniform(key_std, (n,), minval=0.1, maxval=2.0)})
        spec = make_policy_spec(env, cfg, config.to_dict(cfg), norm, {"benchmark": True})
        deterministic = ppo_networks.make_deterministic_policy(networks)
        # params closed over (constants of the program), as export.make_jax_policy does
        policy = jax.jit(lambda obs: deterministic(norm, params, {"state": obs}))

        def jax_policy(obs):
            return np.asarray(policy(obs))

    write_bundle(out, spec, policy_layers(params, spec), np.asarray(norm.mean["state"]),
                 np.asarray(norm.std["state"]), force=True)
    from playground.serve.bundle import Bundle

    return Bundle(out), jax_policy


def time_backends(backends: dict[str, Any], obs: np.ndarray, calls: int, rounds: int = 10
                  ) -> dict[str, dict[str, float]]:
    """Per-call microseconds of each backend, interleaved in `rounds` rounds."""
    samples: dict[str, list[float]] = {name: [] for name in backends}
    for fn in backends.values():  # warm-up (compiles, caches)
        for _ in range(200):
            fn(obs)
    per_round = max(1, calls // rounds)
    clock = time.perf_counter_ns
    for _ in range(rounds):
        for name, fn in backends.items():
            out = samples[name]
            for _ in range(per_round):
                t = clock()
                fn(obs)
                out.append((clock() - t) / 1e3)
    return {name: summarize(np.array(v)) for name, v in samples.items()}


def summarize(us: np.ndarray) -> dict[str, float]:
    if us.size == 0:
        return {"n": 0}
    p50, p99, p999 = np.percentile(us, [50, 99, 99.9])
    return {"n": int(us.size), "p50_us": float(p50), "p99_us": float(p99),
            "p99.9_us": float(p999), "max_us": float(us.max()), "mean_us": float(us.mean())}


def free_endpoint() -> str:
    import zmq

    with zmq.Context.instance().socket(zmq.REP) as probe:
        port = probe.bind_to_random_port("tcp://127.0.0.1")
    return f"tcp://127.0.0.1:{port}"


def start(cmd: list[str]) -> subprocess.Popen:
    proc = subprocess.Popen(cmd, cwd=common.REPO_ROOT, stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.startswith("serving"):
        proc.kill()
        raise RuntimeError(f"server did not start: {line!r}")
    return proc


def paced_loop(call, rate_hz: float, seconds: float) -> dict[str, Any]:
    """Call `call()` at `rate_hz` for `seconds`: round-trip stats, misses, failures."""
    period = 1.0 / rate_hz
    n = int(rate_hz * seconds)
    rtt = np.zeros(n)
    failed = np.zeros(n, bool)
    late_starts = 0
    next_t = time.perf_counter() + period
    for i in range(n):
        while True:  # sleep most of the wait, spin the last 0.3 ms
            left = next_t - time.perf_counter()
            if left <= 0:
                break
            if left > 0.0004:
                time.sleep(left - 0.0003)
        start_t = time.perf_counter()
        if start_t - next_t > period:
            late_starts += 1
        failed[i] = not call()
        rtt[i] = time.perf_counter() - start_t
        next_t += period
        if start_t > next_t:  # fell behind (the machine was busy): re-anchor, count it
            next_t = start_t + period
    us = rtt * 1e6
    stats = summarize(us)
    stats.update(rate_hz=rate_hz, seconds=seconds, requests=n, failures=int(failed.sum()),
                 deadline_misses=int(np.sum((rtt > period) | failed)), late_starts=late_starts)
    return stats


def measure_request_path(bundle, rate_hz: float, seconds: float) -> dict[str, Any]:
    from playground.serve.client import PolicyClient

    endpoint = free_endpoint()
    proc = start([sys.executable, "-m", "playground.serve", "--bundle", str(bundle.directory),
                  "--bind", endpoint])
    try:
        client = PolicyClient(endpoint, bundle.spec, timeout_s=1.0 / rate_hz)
        client.check()
        obs = np.random.default_rng(0).normal(size=bundle.obs_size).astype(np.float32)
        stats = paced_loop(lambda: client.act(obs) is not None, rate_hz, seconds)
        server = client.call("stats", 2.0)
        stats["client_counters"] = dict(client.counters)
        stats["server_us"] = server["server_us"] if server else None
        stats["server_errors"] = server["counts"]["errors"] if server else None
        client.close()
    finally:
        proc.terminate()
        proc.wait(10)
    return stats


def measure_echo(rate_hz: float, seconds: float, size: int) -> dict[str, Any]:
    import zmq

    endpoint = free_endpoint()
    proc = start([sys.executable, "-c", ECHO_SERVER, endpoint])
    try:
        sock = zmq.Context.instance().socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(endpoint)
        seq = [0]
        period = 1.0 / rate_hz

        def call():
            # numbered like the client's requests: a late echo of an earlier request is
            # dropped, not taken for this one's (which would flatter the figures)
            seq[0] += 1
            tag = seq[0].to_bytes(8, "little")
            sock.send_multipart([b"", tag + b"x" * (size - 8)])
            deadline = time.perf_counter() + period
            while (left_ms := (deadline - time.perf_counter()) * 1e3) > 0:
                if sock.poll(max(1, int(left_ms))) and sock.recv_multipart()[-1][:8] == tag:
                    return time.perf_counter() <= deadline
            return False

        for _ in range(100):
            call()
        stats = paced_loop(call, rate_hz, seconds)
        sock.close()
    finally:
        proc.kill()
        proc.wait(10)
    return stats


def to_markdown(result: dict[str, Any]) -> str:
    pol = result["policy"]
    rows = [[name, f"{s['p50_us']:.1f}", f"{s['p99_us']:.1f}", f"{s['mean_us']:.1f}", s["n"]]
            for name, s in pol.items()]
    ranking = " < ".join(sorted(pol, key=lambda k: pol[k]["p50_us"]))
    ratio = pol["numpy"]["p50_us"] / pol["onnxruntime"]["p50_us"]
    zrows = []
    for r in result["request_path"] + [result["echo"]]:
        zrows.append([
            r["what"], f"{r['rate_hz']:g} Hz x {r['seconds']:g} s", r["requests"],
            f"{r['p50_us']:.0f}", f"{r['p99_us']:.0f}", f"{r['max_us']:.0f}",
            r["deadline_misses"], r["failures"],
            "-" if not r.get("server_us") else f"{r['server_us']['p50']:.0f} / {r['server_us']['p99']:.0f}",
        ])
    kilo = next(r for r in result["request_path"] if r["rate_hz"] == 1000)
    fifty = next(r for r in result["request_path"] if r["rate_hz"] == 50)
    met = "met" if ratio <= GOALS["numpy_over_onnx"] else "NOT met"
    p99_met = "met" if max(r["p99_us"] for r in result["request_path"]) <= 1000 else "NOT met"
    return "\n".join([
        f"Policy: {result['policy_source']}; observation {result['obs_size']}, action "
        f"{result['action_size']}, hidden {result['hidden']} {result['activation']}, batch 1.",
        "",
        common.markdown_table(["backend", "p50 us", "p99 us", "mean us", "calls"], rows),
        "",
        f"- ranking by p50: {ranking}; numpy / onnxruntime = {ratio:.2f}x "
        f"(goal <= {GOALS['numpy_over_onnx']}x: {met})",
        "",
        "Request path on loopback (`PolicyClient.act` against `python -m playground.serve`, "
        "numpy backend; round trip = encode, send, checks, policy, reply, decode):",
        "",
        common.markdown_table(["path", "rate x time", "requests", "p50 us", "p99 us", "max us",
                               "deadline misses", "errors/timeouts", "server p50 / p99 us"],
                              zrows),
        "",
        f"- p99 <= 1 ms: {p99_met}; errors at 1 kHz: {kilo['failures']}; missed 50 Hz "
        f"deadlines: {fifty['deadline_misses']} (goal 0)",
        f"- load average (1, 5, 15 min) at the end: "
        f"{', '.join(f'{x:.1f}' for x in result['load_average_end'])} on "
        f"{result['machine']['nproc']} cores: other processes share the CPU",
    ])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(common.CONFIG_DIR / "humanoid_walk.yaml"),
                   help="the network comes from this config (default: the shipped humanoid)")
    p.add_argument("--checkpoint", help="time a real checkpoint's policy instead")
    p.add_argument("--calls", type=int, default=20_000, help="timed calls per backend")
    p.add_argument("--seconds", type=float, default=60.0, help="per request-path rate")
    p.add_argument("--echo-seconds", type=float, default=20.0, help="bare echo at 1 kHz")
    p.add_argument("--json", help="write the result (and its markdown) here")
    args = p.parse_args(argv)
    common.configure_cache(common.DEFAULT_CACHE)

    from playground.serve.bundle import NumpyPolicy, OnnxPolicy
    from playground.serve.protocol import act_request

    with tempfile.TemporaryDirectory(prefix="serve_latency_") as tmp:
        common.log("building and exporting the policy")
        bundle, jax_policy = make_bundle(pathlib.Path(tmp) / "bundle", args.config,
                                         args.checkpoint, seed=0)
        obs = np.random.default_rng(1).normal(size=bundle.obs_size).astype(np.float32)
        numpy_policy, onnx_policy = NumpyPolicy(bundle), OnnxPolicy(bundle)
        obs_batch = obs[None]
        common.log(f"timing the forward pass, {args.calls} calls per backend")
        policy = time_backends({"numpy": numpy_policy, "onnxruntime": onnx_policy,
                                "jax.jit": lambda o: jax_policy(obs_batch)}, obs, args.calls)
        paths = []
        for rate in (50.0, 1000.0):
            common.log(f"request path at {rate:g} Hz for {args.seconds:g} s")
            r = measure_request_path(bundle, rate, args.seconds)
            r["what"] = "policy server"
            paths.append(r)
            common.log(f"  p50 {r['p50_us']:.0f} us p99 {r['p99_us']:.0f} us max "
                        f"{r['max_us']:.0f} us misses {r['deadline_misses']}")
        common.log(f"bare ZMQ echo at 1 kHz for {args.echo_seconds:g} s")
        request_size = len(act_request(1, bundle.spec_hash, obs))
        echo = measure_echo(1000.0, args.echo_seconds, request_size)
        echo["what"] = f"bare echo ({request_size} B)"
        net = bundle.spec["network"]
        result: dict[str, Any] = {
            "benchmark": "serve_latency",
            "command": common.command_line("serve_latency.py"),
            "machine": common.machine_info(),
            "policy_source": args.checkpoint or f"random init of {pathlib.Path(args.config).name}",
            "obs_size": bundle.obs_size, "action_size": bundle.action_size,
            "hidden": net["hidden"], "activation": net["activation"],
            "policy": policy, "request_path": paths, "echo": echo,
            "load_average_end": list(os.getloadavg()),  # other work on the machine
        }
    return common.publish(result, to_markdown, args.json)


if __name__ == "__main__":
    main()
