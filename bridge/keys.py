"""CURVE keys for a non-loopback bridge: make a pair, load a pair, decide when keys are needed.

Key files are the ZeroMQ certificate files that zmq.auth writes and reads:
NAME.key holds the public key, NAME.key_secret the public and secret keys.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from urllib.parse import urlsplit

import zmq
import zmq.auth
import zmq.utils.z85

from reverie.models.errors import ReverieError

LOOPBACK_NAMES = {"localhost", "ip6-localhost", "ip6-loopback"}


def make_keypair(directory: str | os.PathLike, name: str = "server") -> tuple[Path, Path]:
    """Write NAME.key and NAME.key_secret (readable by the owner only) and return their paths."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    for path in (directory / f"{name}.key", directory / f"{name}.key_secret"):
        if path.exists():
            raise ReverieError(f"{path} exists already; remove it or choose another --name", field="name")
    public, secret = zmq.auth.create_certificates(str(directory), name)
    os.chmod(secret, 0o600)
    return Path(public), Path(secret)


def load_secret(path: str | os.PathLike) -> tuple[bytes, bytes]:
    """(public, secret) from a .key_secret file."""
    public, secret = _load(path, "secret_key")
    if secret is None:
        raise ReverieError(
            f"{path} holds no secret key; give the .key_secret file that `reverie keys` wrote", field="secret_key"
        )
    return public, secret


def load_public(value: str | bytes | os.PathLike) -> bytes:
    """A server public key given as a .key / .key_secret file path or as the 40-character Z85 text."""
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    text = str(value)
    if len(text) == 40 and not Path(text).exists():
        try:
            zmq.utils.z85.decode(text.encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise ReverieError(f"server key {text!r} is not a Z85 CURVE key", field="server_key") from None
        return text.encode("ascii")
    public, _ = _load(text, "server_key")
    return public


def _load(path: str | os.PathLike, field: str) -> tuple[bytes, bytes | None]:
    path = Path(path)
    if not path.is_file():
        raise ReverieError(f"key file not found: {path}", field=field)
    try:
        return zmq.auth.load_certificate(str(path))
    except (ValueError, OSError) as exc:
        raise ReverieError(f"{path} is not a ZeroMQ certificate file: {exc}", field=field) from None


def is_local_endpoint(endpoint: str) -> bool:
    """True for ipc://, inproc:// and tcp:// on a loopback address; those may run without CURVE."""
    scheme, _, rest = endpoint.partition("://")
    if scheme in ("ipc", "inproc"):
        return True
    if scheme != "tcp" or not rest:
        return False
    host = urlsplit(f"//{rest}").hostname or ""
    if ";" in rest:  # tcp://source;destination: what matters is where we listen
        return False
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # "*", an interface name or a host name: may face the network
