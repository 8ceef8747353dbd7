"""python -m playground.serve.keys DIR [--name NAME]: a CurveZMQ key pair for the shim.

Writes DIR/NAME.key (public: give it to the other side) and DIR/NAME.key_secret
(secret: stays on this machine, mode 0600). Make one pair for the server and one per
client; put each client's NAME.key in the server's --curve-clients folder.

The files are ZeroMQ certificates (ZPL text, as czmq and pyzmq write them): lines
starting with '#' are comments, and the keys are the lines

    public-key = "<40 Z85 characters>"
    secret-key = "<40 Z85 characters>"     (the .key_secret file only)

each the Z85 encoding of a 32-byte Curve25519 key. `read_key_file` is the one reader of
them for the server and the client: a file without a well-formed key is refused.
"""

from __future__ import annotations

import argparse
import os
import pathlib
import re
import sys

import zmq
import zmq.auth
import zmq.utils.z85

#: A CURVE key in Z85 text: 32 bytes -> 40 characters.
Z85_KEY_CHARS = 40


class KeyFileError(ValueError):
    """A CURVE key file (or folder of them) that cannot be used; the message is one line."""


def _check_key(path: pathlib.Path, name: str, key: bytes | None) -> bytes:
    if key is None:
        raise KeyFileError(f"{path}: no {name} line (a public key file where the secret one "
                           "is needed?)")
    try:
        ok = len(key) == Z85_KEY_CHARS and len(zmq.utils.z85.decode(key)) == 32
    except (ValueError, KeyError, IndexError, TypeError):
        ok = False
    if not ok:
        raise KeyFileError(f"{path}: its {name} is not {Z85_KEY_CHARS} Z85 characters")
    return key


def read_key_file(path: str | pathlib.Path, secret: bool = False) -> tuple[bytes, bytes | None]:
    """(public, secret) Z85 keys of a key file; `secret` True: the secret key is required."""
    path = pathlib.Path(path)
    if not path.is_file():
        raise KeyFileError(f"{path}: no such key file")
    try:
        public, secret_key = zmq.auth.load_certificate(str(path))
    except OSError as exc:
        raise KeyFileError(f"{path}: unreadable key file ({exc.strerror or exc})") from None
    except ValueError:
        raise KeyFileError(f"{path}: no public-key line (not a CURVE key file)") from None
    public = _check_key(path, "public-key", public)
    return public, _check_key(path, "secret-key", secret_key) if secret else secret_key


def read_client_keys(directory: str | pathlib.Path) -> list[bytes]:
    """The public keys of the *.key files in `directory` (ZMQ's own rule); every one must load."""
    directory = pathlib.Path(directory)
    if not directory.is_dir():
        raise KeyFileError(f"{directory}: not a folder of client public key files")
    files = sorted(directory.glob("*.key"))
    if not files:
        raise KeyFileError(f"{directory}: no client public key files (*.key)")
    return [read_key_file(path)[0] for path in files]


def secure_server_socket(context: zmq.Context, socket: zmq.Socket,
                         server_secret_file: str | pathlib.Path,
                         allowed_clients_dir: str | pathlib.Path):
    """CURVE on the binding side: its key pair, and only the clients whose public keys are
    in `allowed_clients_dir`. Every key file is read first (one that does not load raises
    KeyFileError; ZMQ's authenticator would log it and then let nobody in). Returns the
    started authenticator: `.stop()` it when the socket closes."""
    from zmq.auth.thread import ThreadAuthenticator  # starts a thread: only with CURVE

    if not zmq.has("curve"):
        raise KeyFileError("this libzmq has no CURVE support")
    public, secret = read_key_file(server_secret_file, secret=True)
    read_client_keys(allowed_clients_dir)
    auth = ThreadAuthenticator(context)
    auth.start()
    auth.configure_curve(domain="*", location=str(allowed_clients_dir))
    socket.setsockopt(zmq.CURVE_SECRETKEY, secret)
    socket.setsockopt(zmq.CURVE_PUBLICKEY, public)
    socket.setsockopt(zmq.CURVE_SERVER, 1)
    return auth


def secure_client_socket(socket: zmq.Socket, server_public_file: str | pathlib.Path,
                         client_secret_file: str | pathlib.Path) -> None:
    """CURVE on the connecting side: the server's public key and the client's key pair."""
    server_public, _ = read_key_file(server_public_file)
    public, secret = read_key_file(client_secret_file, secret=True)
    socket.setsockopt(zmq.CURVE_SERVERKEY, server_public)
    socket.setsockopt(zmq.CURVE_PUBLICKEY, public)
    socket.setsockopt(zmq.CURVE_SECRETKEY, secret)


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
