"""python -m playground.serve --bundle DIR [--bind tcp://127.0.0.1:5555] [options]

Serves an exported policy bundle (playground/export.py) over ZMQ; the wire protocol is
in docs/serving.md. Binds to loopback unless another address is given. With
`--replay rec.npz` it serves the recording's `actions` open-loop instead (the bundle
still defines the contract: spec hash and observation size).

Exit codes: 0 stopped (SIGINT/SIGTERM), 2 bad input (one line on stderr, before anything
is bound): a malformed bundle, a key file that does not load, a port outside 1..65535, ...
"""

from __future__ import annotations

import os

# One BLAS thread, set before numpy loads: at batch 1 OpenBLAS's extra threads cost more
# to wake than they save (the humanoid forward pass: 23 -> 18 us per call, measured on
# 2 shared cores). An explicit setting in the environment wins.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import pathlib  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import threading  # noqa: E402

import zmq  # noqa: E402

from playground.serve import protocol  # noqa: E402
from playground.serve.bundle import BACKENDS, Bundle, BundleError, make_policy  # noqa: E402
from playground.serve.realtime import configure_process, freeze_gc, parse_cpus, rt_throttled  # noqa: E402
from playground.serve.server import (  # noqa: E402
    BUSY_REST,
    CurveConfig,
    PolicyServer,
    check_endpoint,
    load_replay,
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m playground.serve", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bundle", required=True, type=pathlib.Path, help="exported bundle directory")
    p.add_argument("--bind", default="tcp://127.0.0.1:5555",
                   help="ZMQ endpoint (default: %(default)s, loopback only)")
    p.add_argument("--backend", choices=sorted(BACKENDS), default="numpy",
                   help="forward pass: numpy (default) or onnx (needs onnxruntime)")
    p.add_argument("--max-message-bytes", type=int, default=protocol.DEFAULT_MAX_MESSAGE_BYTES,
                   help="larger requests get a too_large error reply (default: %(default)s)")
    p.add_argument("--curve-secret", type=pathlib.Path,
                   help="server secret key file (python -m playground.serve.keys); turns CURVE on")
    p.add_argument("--curve-clients", type=pathlib.Path,
                   help="folder of allowed client public key files (*.key)")
    p.add_argument("--no-reload", action="store_true", help="refuse reload requests")
    p.add_argument("--replay", type=pathlib.Path, help="serve this recording's actions open-loop")
    p.add_argument("--replay-episode", type=int, default=0,
                   help="which episode of a play.py recording (default: %(default)s)")
    p.add_argument("--replay-loop", action="store_true", help="start the recording over at its end")
    p.add_argument("--stats-every", type=float, default=0.0, metavar="S",
                   help="print a stats line every S seconds (default: off)")
    p.add_argument("--cpus", metavar="LIST",
                   help="pin the server (and ZMQ's I/O thread) to these CPUs, e.g. 3 or 2,3")
    p.add_argument("--rt-priority", type=int, metavar="P",
                   help="run under SCHED_FIFO at priority P (1-99; root or CAP_SYS_NICE); with "
                        "--busy-poll, ZMQ's I/O thread runs at P+1 so it preempts the spinner")
    p.add_argument("--busy-poll", action="store_true",
                   help="spin on the socket instead of sleeping: one core at 100 %%, for a "
                        "dedicated core (--cpus); cuts the wake-up cost of slow request rates")
    p.add_argument("--keep-warm", type=float, default=0.0, metavar="MS",
                   help="with --busy-poll: while idle, run the policy on a dummy observation "
                        "every MS milliseconds so its weights stay in the caches (default: off)")
    return p


def make_server(args) -> PolicyServer:
    if (args.curve_secret is None) != (args.curve_clients is None):
        raise BundleError("--curve-secret and --curve-clients go together")
    check_endpoint(args.bind)  # a bad port fails fast, before the bundle is read
    curve = None
    if args.curve_secret is not None:  # every key file is read before the bind
        curve = CurveConfig(args.curve_secret, args.curve_clients)
    if args.max_message_bytes < 256:
        raise BundleError("--max-message-bytes must be at least 256")
    bundle = Bundle(args.bundle)
    if args.replay is not None:
        policy = load_replay(args.replay, bundle.action_size, args.replay_loop, args.replay_episode)
        mode = "replay"
    else:
        policy, mode = make_policy(bundle, args.backend), "policy"
    return PolicyServer(bundle, policy, args.bind, backend=args.backend, mode=mode,
                        max_message_bytes=args.max_message_bytes, curve=curve,
                        allow_reload=not args.no_reload, **busy_options(args))


def busy_options(args) -> dict:
    """--busy-poll under SCHED_FIFO: ZMQ's I/O thread one priority above the spinner (a
    same-priority thread would wait for the spinner to yield), and rests that keep the
    spinner below real-time throttling (see server.serve_busy)."""
    if args.keep_warm < 0 or (args.keep_warm and (not args.busy_poll or args.replay)):
        raise ValueError("--keep-warm: a positive MS, with --busy-poll, not with --replay")
    if not args.busy_poll:
        return {}
    options = {"busy_poll": True, "keep_warm_s": args.keep_warm / 1000}
    if args.rt_priority is not None:
        if args.rt_priority >= 99:
            raise ValueError("--busy-poll: --rt-priority at most 98 (ZMQ's I/O thread runs one above)")
        options.update(io_priority=args.rt_priority + 1,
                       busy_rest=BUSY_REST if rt_throttled() else 0.0)
    return options


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        # before the ZMQ context exists: its I/O thread inherits CPUs and policy
        configure_process(None if args.cpus is None else parse_cpus(args.cpus), args.rt_priority)
        server = make_server(args)
    except (BundleError, OSError, ValueError) as exc:  # KeyFileError is a ValueError
        print("error: " + " ".join(str(exc).split()), file=sys.stderr)  # one line
        return 2
    except zmq.ZMQError as exc:
        print(f"error: cannot bind {args.bind}: {exc}", file=sys.stderr)
        return 2
    if args.busy_poll and args.cpus is None:
        print("warning: --busy-poll without --cpus: the spinning server competes with "
              "everything else for the CPUs", file=sys.stderr)
    if not check_endpoint(args.bind) and args.curve_secret is None:
        print(f"warning: {args.bind} is reachable from other machines and CURVE is off: "
              "anyone who can connect can drive this robot", file=sys.stderr)
    signal.signal(signal.SIGTERM, lambda *_: server.stop())
    signal.signal(signal.SIGINT, lambda *_: server.stop())
    if args.stats_every > 0:
        def report():
            while not server._stop.wait(args.stats_every):
                s = server.stats()
                print(f"stats: {s['counts']} errors {s['errors_by_code']} server_us "
                      f"p50 {s['server_us']['p50']} p99 {s['server_us']['p99']}", flush=True)

        threading.Thread(target=report, daemon=True).start()
    # what start-up built lives until exit: keep it out of every collection (before
    # "serving", so that no request waits behind this one full collection)
    freeze_gc()
    what = f"replay of {args.replay}" if args.replay else f"{args.backend} policy"
    print(f"serving {args.bundle} ({what}, spec {server.bundle.spec_hash[:12]}, obs "
          f"{server.bundle.obs_size}, action {server.bundle.action_size}) on {server.endpoint}"
          f"{' with CURVE' if args.curve_secret else ''}{', busy-polling' if args.busy_poll else ''}",
          flush=True)
    server.serve_forever()
    print("stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
