"""Robot-side latency: the policy forward pass per backend, and the ZMQ request path.

1. Per-call latency of the shipped humanoid actor at batch 1 (its network from the
   config, random init and normalizer statistics, or a real `--checkpoint`): the numpy
   shim (`NumpyPolicy`), onnxruntime on the exported `policy.onnx` (1 thread), and the
   trainer's deterministic policy under `jax.jit` on CPU (host array in, host array
   out). numpy runs with one BLAS thread, as the server does. Calls alternate between
   backends in rounds, so machine noise hits all three; `--repeats` independent
   repeats give the numpy / onnxruntime ratio as a median and its spread.
2. The request path on loopback, as the robot runs it: a robot-loop process that
   imports no JAX calls `PolicyClient.act` (encode, send, server checks + numpy policy,
   reply, decode) against a `python -m playground.serve` process at 50 Hz and 1 kHz
   for `--seconds` each; a deadline miss is a round trip longer than the period (or no
   reply). The floor is a bare ZMQ ROUTER echo of the same request through the same
   client code, measured side by side: policy and echo alternate in `--blocks` blocks,
   so load on this shared machine hits both alike and the ratio policy / echo means
   something under load. Three settings: `plain` (no tuning at all), `rt` (server,
   echo and robot loop pinned to one CPU under SCHED_FIFO, robot loop's GC frozen: the
   deployment advice of docs/serving.md; `--rt-cpu`, `--rt-priority`) and `busy`
   (server and echo busy-polling on `--rt-cpu`, the server keeping its weights warm,
   the robot loop on `--loop-cpu` spinning for its reply and for the last
   `--busy-spin-ms` before each period, and at 50 Hz sending a ping `--ping-ms` before
   each request (`PolicyClient.warm`); all under SCHED_FIFO, ZMQ's I/O threads one
   priority above; the echo is stopped (SIGSTOP) while the server is measured and the
   other way round, so the two spinners never share the core).

Goals: numpy within 1.5x of onnxruntime; request path p99 <= 1 ms, no errors, no missed
50 Hz deadline.

    .venv/bin/python benchmarks/serve_latency.py                 # ~10 min
    .venv/bin/python benchmarks/serve_latency.py --seconds 5 --calls 2000   # smoke
"""

from __future__ import annotations

import os

# one BLAS thread, as `python -m playground.serve` sets it (before numpy loads)
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import pathlib  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from typing import Any  # noqa: E402

import common  # noqa: E402
import numpy as np  # noqa: E402

GOALS = {"numpy_over_onnx": 1.5, "p99_ms": 1.0}
RATES = (50.0, 1000.0)
SETTINGS = ("plain", "rt", "busy")
#: The floor: echoes every request, with the same real-time settings as the server.
#: Busy: the same loop as `python -m playground.serve --busy-poll` (no policy to keep warm).
ECHO_SERVER = """
import sys, zmq
from playground.serve.protocol import pack
from playground.serve.realtime import configure_process, fifo_io_threads, freeze_gc, parse_cpus
from playground.serve.realtime import rt_throttled
from playground.serve.server import BUSY_REST, serve_busy
cpus, priority = (parse_cpus(sys.argv[2]), int(sys.argv[3])) if len(sys.argv) > 2 else (None, None)
busy = sys.argv[4:] == ["busy"]
configure_process(cpus, priority)
context = zmq.Context()
if busy:
    fifo_io_threads(context, priority + 1)
sock = context.socket(zmq.ROUTER)
sock.bind(sys.argv[1])
freeze_gc()
print("serving", flush=True)
PING = pack("type") + pack("ping")

def echo(frames):  # as the policy server: no rest between a ping and its request
    sock.send_multipart(frames)
    return PING in frames[-1]

if busy:
    serve_busy(sock, echo, lambda: False, BUSY_REST if rt_throttled() else 0.0)
while True:
    sock.send_multipart(sock.recv_multipart())
"""
#: Busy: the server refreshes its weights in the caches this often while idle (ms).
KEEP_WARM_MS = 0.5
#: Busy: pings only where the period is this many ping leads or more (50 Hz, not 1 kHz).
PING_MIN_PERIODS = 5


def make_bundle(out: pathlib.Path, config_file: str, checkpoint: str | None, seed: int):
    """Export the policy to `out`; returns (bundle, jax policy obs[1, n] -> host action)."""
    import jax

    from playground.deploy.export import policy_layers, write_bundle

    if checkpoint:
        from playground import policy as policy_lib

        loaded = policy_lib.load(checkpoint)
        spec, params, norm = loaded.spec, loaded.params, loaded.normalizer
        jax_policy = loaded.act()
    else:
        from playground import config
        from playground.algorithms.ppo import networks as ppo_networks
        from playground.policy_spec import make_policy_spec
        from playground.tasks.registry import get_task

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
        # params closed over (constants of the program), as playground.policy does
        policy = jax.jit(lambda obs: deterministic(norm, params, {"state": obs}))

        def jax_policy(obs):
            return np.asarray(policy(obs))

    write_bundle(out, spec, policy_layers(params, spec), np.asarray(norm.mean["state"]),
                 np.asarray(norm.std["state"]), force=True)
    from playground.serve.bundle import Bundle

    return Bundle(out), jax_policy


def time_backends(backends: dict[str, Any], obs: np.ndarray, calls: int, rounds: int = 10
                  ) -> dict[str, np.ndarray]:
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
    return {name: np.array(v) for name, v in samples.items()}


def time_repeats(backends: dict[str, Any], obs: np.ndarray, calls: int, repeats: int
                 ) -> dict[str, Any]:
    """`repeats` independent interleaved timings: pooled stats, per-repeat p50s, and the
    numpy / onnxruntime ratio of p50s as median, min and max over the repeats."""
    per_repeat: list[dict[str, float]] = []
    pooled: dict[str, list[np.ndarray]] = {name: [] for name in backends}
    for r in range(repeats):
        samples = time_backends(backends, obs, max(1, calls // repeats))
        per_repeat.append({name: float(np.percentile(v, 50)) for name, v in samples.items()})
        for name, v in samples.items():
            pooled[name].append(v)
        common.log(f"  repeat {r + 1}/{repeats}: " + ", ".join(
            f"{name} {p50:.1f} us" for name, p50 in per_repeat[-1].items()))
    ratios = [p["numpy"] / p["onnxruntime"] for p in per_repeat]
    return {"backends": {name: summarize(np.concatenate(v)) for name, v in pooled.items()},
            "repeats": per_repeat, "numpy_over_onnx": ratios,
            "numpy_over_onnx_median": common.median(ratios),
            "numpy_over_onnx_min": min(ratios), "numpy_over_onnx_max": max(ratios)}


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


class PacedSamples:
    """Round trips of calls made at a fixed rate, gathered over several blocks."""

    def __init__(self):
        self.rtt_s: list[np.ndarray] = []
        self.failed: list[np.ndarray] = []
        self.late_starts = 0

    def run(self, call, rate_hz: float, seconds: float, spin_s: float = 0.0003,
            warm=None, warm_lead_s: float = 0.0) -> None:
        """Call `call()` (True: a valid reply in time) at `rate_hz` for `seconds`, sleeping
        between calls but for the last `spin_s` before each; `warm()` (a ping) that long
        before each call when given."""
        period = 1.0 / rate_hz
        n = max(1, int(rate_hz * seconds))
        rtt = np.zeros(n)
        failed = np.zeros(n, bool)
        clock = time.perf_counter

        def wait_until(t: float) -> None:  # sleep most of the wait, spin the last spin_s
            while True:
                left = t - clock()
                if left <= 0:
                    return
                if left > spin_s + 0.0001:
                    time.sleep(left - spin_s)

        next_t = clock() + period
        for i in range(n):
            if warm is not None:
                wait_until(next_t - warm_lead_s)
                warm()
            wait_until(next_t)
            start_t = clock()
            if start_t - next_t > period:
                self.late_starts += 1
            failed[i] = not call()
            rtt[i] = clock() - start_t
            next_t += period
            if start_t > next_t:  # fell behind (the machine was busy): re-anchor, count it
                next_t = start_t + period
        self.rtt_s.append(rtt)
        self.failed.append(failed)

    def stats(self, rate_hz: float) -> dict[str, Any]:
        rtt, failed = np.concatenate(self.rtt_s), np.concatenate(self.failed)
        out = summarize(rtt * 1e6)
        out.update(rate_hz=rate_hz, seconds=rtt.size / rate_hz, requests=int(rtt.size),
                   blocks=len(self.rtt_s), failures=int(failed.sum()),
                   deadline_misses=int(np.sum((rtt > 1.0 / rate_hz) | failed)),
                   late_starts=self.late_starts)
        return out


def robot_loop(bundle_dir: str, seconds: float, echo_seconds: float, blocks: int,
               setting: str, cpu: int, loop_cpu: int, priority: int, busy_spin_s: float,
               warm_lead_s: float) -> dict[str, Any]:
    """The request path from a process that, like the robot's, never imports JAX.

    `rt`: this process, the server and the echo run on `cpu` under SCHED_FIFO `priority`,
    and this process's GC is frozen before the loop. `busy`: the same, but this process
    runs on `loop_cpu`, and all three spin (module docstring).
    """
    import signal

    import zmq

    from playground.serve.bundle import Bundle
    from playground.serve.realtime import configure_process, fifo_io_threads

    tuned, busy = setting != "plain", setting == "busy"
    # before any ZMQ context: its I/O thread inherits the CPU set and the policy
    settings = configure_process({loop_cpu if busy else cpu}, priority) if tuned else None
    context = zmq.Context()
    if busy:
        fifo_io_threads(context, priority + 1)
    rt_args = [str(cpu), str(priority)] if tuned else []
    bundle = Bundle(bundle_dir)
    server_ep, echo_ep = free_endpoint(), free_endpoint()
    server = start([sys.executable, "-m", "playground.serve", "--bundle", bundle_dir,
                    "--bind", server_ep]
                   + (["--cpus", str(cpu), "--rt-priority", str(priority)] if tuned else [])
                   + (["--busy-poll", "--keep-warm", str(KEEP_WARM_MS)] if busy else []))
    echo = start([sys.executable, "-c", ECHO_SERVER, echo_ep, *rt_args]
                 + (["busy"] if busy else []))
    obs = np.random.default_rng(0).normal(size=bundle.obs_size).astype(np.float32)
    result: dict[str, Any] = {"settings": settings or "none", "rates": []}
    if busy:
        result["settings"] = {**settings, "loop_cpu": loop_cpu, "server_cpu": cpu,
                              "io_threads_priority": priority + 1, "busy_spin_ms": busy_spin_s * 1e3,
                              "keep_warm_ms": KEEP_WARM_MS, "ping_lead_ms": warm_lead_s * 1e3,
                              "ping_when_period_ms_at_least": PING_MIN_PERIODS * warm_lead_s * 1e3}

    def switch(to: str) -> None:  # busy: only the measured server spins on its core
        if busy:
            running, stopped = (server, echo) if to == "policy" else (echo, server)
            stopped.send_signal(signal.SIGSTOP)
            running.send_signal(signal.SIGCONT)

    try:
        for rate in RATES:
            entry = measure_rate(bundle, context, server_ep, echo_ep, obs, rate, seconds,
                                 echo_seconds, blocks, freeze=tuned, busy=busy, switch=switch,
                                 spin_s=min(busy_spin_s, 0.5 / rate) if busy else 0.0003,
                                 warm_lead_s=warm_lead_s if busy and warm_lead_s
                                 and 1.0 / rate >= PING_MIN_PERIODS * warm_lead_s else 0.0)
            result["rates"].append(entry)
            common.log(f"  {rate:g} Hz: policy p50 {entry['policy']['p50_us']:.0f} p99 "
                       f"{entry['policy']['p99_us']:.0f} us, misses "
                       f"{entry['policy']['deadline_misses']}; echo p50 "
                       f"{entry['echo']['p50_us']:.0f} p99 {entry['echo']['p99_us']:.0f} us")
    finally:
        for proc in (server, echo):
            proc.send_signal(signal.SIGCONT)
            proc.kill()
            proc.wait(10)
    return result


def measure_rate(bundle, context, server_ep: str, echo_ep: str, obs: np.ndarray, rate: float,
                 seconds: float, echo_seconds: float, blocks: int, freeze: bool, busy: bool,
                 switch, spin_s: float, warm_lead_s: float) -> dict[str, Any]:
    """Policy and echo at `rate`, alternating in `blocks` blocks (`switch(to)` before
    each; busy: a discarded 0.1 s warm-up after it, for the resumed process). With
    `warm_lead_s`, each request follows a ping (`PolicyClient.warm`) by that long."""
    from playground.serve import protocol
    from playground.serve.client import PolicyClient
    from playground.serve.realtime import freeze_gc

    period = 1.0 / rate
    obs_bytes = obs.tobytes()
    client = PolicyClient(server_ep, bundle.spec, timeout_s=period, context=context,
                          busy_poll=busy)
    switch("policy")
    client.check()
    # the echo answers with the request itself: same size, same seq, same client code
    floor = PolicyClient(echo_ep, bundle.spec, timeout_s=period, context=context,
                         busy_poll=busy)

    def act():
        return client.act(obs) is not None

    def bounce():
        return floor.call("act", period, obs=obs_bytes) is not None

    pings = {act: client.warm, bounce: floor.warm} if warm_lead_s else {}

    def paced(samples: PacedSamples, fn, span: float) -> None:
        samples.run(fn, rate, span, spin_s, pings.get(fn), warm_lead_s)

    for to, fn in (("echo", bounce), ("policy", act)):  # warm-up: connections, caches
        switch(to)
        paced(PacedSamples(), fn, 0.2)
    if freeze:
        freeze_gc()
    ours, bare = PacedSamples(), PacedSamples()
    for _ in range(blocks):
        for to, fn, samples, span in (("policy", act, ours, seconds),
                                      ("echo", bounce, bare, echo_seconds)):
            if busy:
                switch(to)
                paced(PacedSamples(), fn, 0.1)
            paced(samples, fn, span / blocks)
    switch("policy")
    server = client.call("stats", 2.0)
    entry = {"rate_hz": rate, "policy": ours.stats(rate), "echo": bare.stats(rate),
             "client_counters": dict(client.counters),
             "server_us": server["server_us"] if server else None,
             "server_policy_us": server["policy_us"] if server else None,
             "server_errors": server["counts"]["errors"] if server else None,
             "request_bytes": len(protocol.act_request(1, bundle.spec_hash, obs))}
    client.close()
    floor.close()
    return entry


def measure_request_path(bundle_dir: pathlib.Path, args, setting: str) -> dict[str, Any]:
    """Run `robot_loop` in a fresh process (no JAX in it); its JSON result."""
    cmd = [sys.executable, str(pathlib.Path(__file__).resolve()), "--robot-loop", str(bundle_dir),
           "--seconds", str(args.seconds), "--echo-seconds", str(args.echo_seconds),
           "--blocks", str(args.blocks)]
    cmd += ["--setting", setting, "--rt-cpu", str(args.rt_cpu), "--loop-cpu", str(args.loop_cpu),
            "--rt-priority", str(args.rt_priority), "--busy-spin-ms", str(args.busy_spin_ms),
            "--ping-ms", str(args.ping_ms)]
    load_before = list(os.getloadavg())
    done = subprocess.run(cmd, cwd=common.REPO_ROOT, stdout=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"robot loop failed (exit {done.returncode})")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["load_average_before"], result["load_average_after"] = load_before, list(os.getloadavg())
    return result


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    except OSError:
        return "load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg())


def to_markdown(result: dict[str, Any]) -> str:
    pol = result["policy"]
    backends = pol["backends"]
    rows = [[name, f"{s['p50_us']:.1f}", f"{s['p99_us']:.1f}", f"{s['mean_us']:.1f}", s["n"]]
            for name, s in backends.items()]
    ranking = " < ".join(sorted(backends, key=lambda k: backends[k]["p50_us"]))
    ratio = pol["numpy_over_onnx_median"]
    met = "met" if ratio <= GOALS["numpy_over_onnx"] else "NOT met"
    lines = [
        f"Policy: {result['policy_source']}; observation {result['obs_size']}, action "
        f"{result['action_size']}, hidden {result['hidden']} {result['activation']}, batch 1; "
        f"numpy with OPENBLAS_NUM_THREADS={result['openblas_threads']}, onnxruntime 1 thread.",
        "",
        common.markdown_table(["backend", "p50 us", "p99 us", "mean us", "calls"], rows),
        "",
        f"- ranking by pooled p50: {ranking}",
        f"- numpy / onnxruntime (ratio of p50s) over {len(pol['numpy_over_onnx'])} repeats: "
        f"median {ratio:.2f}x, min {pol['numpy_over_onnx_min']:.2f}x, max "
        f"{pol['numpy_over_onnx_max']:.2f}x (goal <= {GOALS['numpy_over_onnx']}x: {met}); "
        f"load during the repeats: {result['load_policy']}",
        "",
        "Request path on loopback: a robot-loop process without JAX calls `PolicyClient.act` "
        "against `python -m playground.serve` (numpy backend; round trip = encode, send, checks, "
        "policy, reply, decode); the echo is a bare ZMQ ROUTER that returns the same request "
        "through the same client code, alternated with the policy in blocks. `plain`: no tuning; "
        "`rt`: all three processes on one CPU under SCHED_FIFO, the loop's GC frozen; `busy`: "
        "as rt, but the server (keeping its weights warm) and the echo busy-poll on that CPU, "
        "each stopped while the other is measured, and the loop runs on the other CPU, "
        "spinning for its reply and before each period, at 50 Hz with a ping 1 ms before each "
        "request (both paths); ZMQ's I/O threads one priority above.",
        "",
    ]
    rows, verdicts = [], []
    for name, run in result["request_path"].items():
        for entry in run["rates"]:
            rate = entry["rate_hz"]
            server = entry["server_us"]
            for path in ("policy", "echo"):
                r = entry[path]
                rows.append([
                    name, f"{rate:g} Hz x {r['seconds']:g} s", path, r["requests"],
                    f"{r['p50_us']:.0f}", f"{r['p99_us']:.0f}", f"{r['max_us']:.0f}",
                    r["deadline_misses"], r["failures"],
                    f"{server['p50']:.0f} / {server['p99']:.0f}" if path == "policy" and server
                    else "-"])
            p, e = entry["policy"], entry["echo"]
            ok = p["p99_us"] <= 1000 * GOALS["p99_ms"] and p["failures"] == 0 and \
                (rate != 50 or p["deadline_misses"] == 0) and not entry["server_errors"]
            verdicts.append(
                f"- {name} {rate:g} Hz: policy / echo p50 {p['p50_us'] / e['p50_us']:.2f}x, p99 "
                f"{p['p99_us'] / e['p99_us']:.2f}x; p99 {p['p99_us'] / 1000:.2f} ms, "
                f"{p['failures']} errors/timeouts, {p['deadline_misses']} missed deadlines, "
                f"{entry['server_errors']} server errors: goal {'met' if ok else 'NOT met'}")
        verdicts.append(f"- {name}: load average before {fmt_load(run['load_average_before'])}, "
                        f"after {fmt_load(run['load_average_after'])}; settings {run['settings']}")
    lines += [
        common.markdown_table(["setting", "rate x time", "path", "requests", "p50 us", "p99 us",
                               "max us", "deadline misses", "errors/timeouts",
                               "server p50 / p99 us"], rows),
        "",
        *verdicts,
        f"- `uptime` at the start: {result['uptime_start']}",
        f"- `uptime` at the end: {result['uptime_end']} ({result['machine']['nproc']} cores, "
        f"shared with other work); benchmark niceness {result['nice']}",
    ]
    return "\n".join(lines)


def fmt_load(load: list[float]) -> str:
    return ", ".join(f"{x:.1f}" for x in load)


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default=str(common.CONFIG_DIR / "humanoid_walk.yaml"),
                   help="the network comes from this config (default: the shipped humanoid)")
    p.add_argument("--checkpoint", help="time a real checkpoint's policy instead")
    p.add_argument("--calls", type=int, default=30_000, help="timed calls per backend, in all")
    p.add_argument("--repeats", type=int, default=5, help="independent forward-pass repeats")
    p.add_argument("--seconds", type=float, default=60.0, help="policy requests per rate")
    p.add_argument("--echo-seconds", type=float, default=None,
                   help="echo requests per rate (default: as --seconds)")
    p.add_argument("--blocks", type=int, default=12, help="policy / echo alternations per rate")
    p.add_argument("--settings", default=",".join(SETTINGS),
                   help="a comma list of plain, rt, busy (default: all three)")
    p.add_argument("--rt-cpu", type=int, default=(os.cpu_count() or 1) - 1,
                   help="the CPU of rt, and the servers' CPU of busy (default: the last one)")
    p.add_argument("--loop-cpu", type=int, default=max(0, (os.cpu_count() or 1) - 2),
                   help="the robot loop's CPU of busy (default: the one before --rt-cpu)")
    p.add_argument("--rt-priority", type=int, default=50, help="SCHED_FIFO priority of rt, busy")
    p.add_argument("--busy-spin-ms", type=float, default=2.0,
                   help="busy: the robot loop spins this long before each period (at most "
                        "half the period; default: %(default)s)")
    p.add_argument("--ping-ms", type=float, default=1.0,
                   help="busy: a ping this long before each request, at rates whose period "
                        f"is at least {PING_MIN_PERIODS}x as long (0: none; default: %(default)s)")
    p.add_argument("--robot-loop", metavar="BUNDLE", help=argparse.SUPPRESS)
    p.add_argument("--setting", choices=SETTINGS, default="plain",
                   help=argparse.SUPPRESS)  # of --robot-loop
    p.add_argument("--json", help="write the result (and its markdown) here")
    args = p.parse_args(argv)
    if args.echo_seconds is None:
        args.echo_seconds = args.seconds
    settings = [s.strip() for s in args.settings.split(",") if s.strip()]
    if not settings or set(settings) - set(SETTINGS) or min(args.seconds, args.echo_seconds,
                                                          args.blocks, args.repeats) <= 0:
        p.error("--settings: plain, rt, busy; --seconds, --echo-seconds, --blocks, --repeats > 0")
    if args.robot_loop:  # the child process: JSON on stdout's last line
        print(json.dumps(robot_loop(args.robot_loop, args.seconds, args.echo_seconds,
                                    args.blocks, args.setting, args.rt_cpu, args.loop_cpu,
                                    args.rt_priority, args.busy_spin_ms / 1000,
                                    args.ping_ms / 1000)))
        return None
    common.configure_cache(common.DEFAULT_CACHE)

    from playground.serve.bundle import NumpyPolicy, OnnxPolicy

    uptime_start = uptime()
    with tempfile.TemporaryDirectory(prefix="serve_latency_") as tmp:
        common.log("building and exporting the policy")
        bundle, jax_policy = make_bundle(pathlib.Path(tmp) / "bundle", args.config,
                                         args.checkpoint, seed=0)
        obs = np.random.default_rng(1).normal(size=bundle.obs_size).astype(np.float32)
        numpy_policy, onnx_policy = NumpyPolicy(bundle), OnnxPolicy(bundle)
        obs_batch = obs[None]
        common.log(f"timing the forward pass: {args.repeats} repeats, {args.calls} calls per "
                   "backend in all")
        load_policy = uptime()
        policy = time_repeats({"numpy": numpy_policy, "onnxruntime": onnx_policy,
                               "jax.jit": lambda o: jax_policy(obs_batch)},
                              obs, args.calls, args.repeats)
        paths = {}
        for name in settings:
            common.log(f"request path, setting {name}: {len(RATES)} rates x ({args.seconds:g} s "
                       f"policy + {args.echo_seconds:g} s echo) in {args.blocks} blocks")
            paths[name] = measure_request_path(bundle.directory, args, name)
        net = bundle.spec["network"]
        result: dict[str, Any] = {
            "benchmark": "serve_latency",
            "command": common.command_line("serve_latency.py"),
            "machine": common.machine_info(),
            "policy_source": args.checkpoint or f"random init of {pathlib.Path(args.config).name}",
            "obs_size": bundle.obs_size, "action_size": bundle.action_size,
            "hidden": net["hidden"], "activation": net["activation"],
            "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS"),
            "nice": os.nice(0),  # the plain setting's processes inherit it
            "policy": policy, "load_policy": load_policy, "request_path": paths,
            "uptime_start": uptime_start, "uptime_end": uptime(),
        }
    common.publish(result, to_markdown, args.json)
    if args.json:  # the same section as markdown beside the JSON
        pathlib.Path(args.json).with_suffix(".md").write_text("\n\n".join([
            "## Robot side: policy latency and the ZMQ request path", f"Command: `{result['command']}`",
            common.machine_line(result["machine"]), result["markdown"]]) + "\n")
    return result


if __name__ == "__main__":
    main()
