"""python -m playground.serve.keys DIR [--name NAME]: a CurveZMQ key pair for the shim.

Writes DIR/NAME.key (public: give it to the other side) and DIR/NAME.key_secret
(secret: stays on this machine, mode 0600). Make one pair for the server and one per
client; put each client's NAME.key in the server's --curve-clients folder.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import sys

import zmq
import zmq.auth


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m playground.serve.keys", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("directory", type=pathlib.Path)
    p.add_argument("--name", default="server", help="file name stem (default: %(default)s)")
    p.add_argument("--force", action="store_true", help="overwrite an existing pair")
    args = p.parse_args(argv)
    if not re.fullmatch(r"[A-Za-z0-9_.-]+", args.name):
        print(f"error: --name {args.name!r}: letters, digits, '_', '-', '.' only", file=sys.stderr)
        return 2
    if not zmq.has("curve"):
        print("error: this libzmq was built without CURVE", file=sys.stderr)
        return 2
    public = args.directory / f"{args.name}.key"
    secret = args.directory / f"{args.name}.key_secret"
    if (public.exists() or secret.exists()) and not args.force:
        print(f"error: {public} exists; pass --force to overwrite", file=sys.stderr)
        return 2
    try:
        args.directory.mkdir(parents=True, exist_ok=True)
        public_file, secret_file = zmq.auth.create_certificates(str(args.directory), args.name)
        os.chmod(secret_file, 0o600)
    except OSError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"public key {public_file}\nsecret key {secret_file}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
