"""Joining Ray: start a local runtime or join a cluster, with errors that say what was wrong and what to do."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass

from reverie.models.errors import ReverieError

LOCAL = "local"  # `--ray` with no address: start a Ray runtime on this machine
INSTALL = 'pip install -e ".[ray]" (or pip install "ray==2.60.0")'
ADDRESSES = "auto (the cluster this machine joined with `ray start`), HOST:6379 or ray://HOST:10001"


def import_ray():
    """The ray module, or a ReverieError that says how to install it."""
    try:
        import ray
    except ImportError:
        raise ReverieError(f"--ray needs the ray package, which is not installed; {INSTALL}", field="ray") from None
    return ray


def check_address(address: str) -> str:
    """Catch the easy mistake `--ray a.toml` (the flag's optional value took a preset) before anything runs."""
    if address.endswith(".toml") or os.path.isfile(address):
        raise ReverieError(
            f"--ray {address}: that is a file, not a Ray address; put the presets before --ray "
            f"(render a.toml b.toml --ray) or give an address: {ADDRESSES}",
            field="ray",
        )
    return address


@dataclass
class Runtime:
    """The Ray runtime this process is attached to. `close` shuts down only what `connect` started or joined."""

    address: str
    owned: bool

    def close(self) -> None:
        if self.owned:
            import ray

            ray.shutdown()


def connect(address: str) -> Runtime:
    """Start a local Ray runtime (address LOCAL) or join the cluster at `address`.

    A process already attached to Ray (a test's runtime, a notebook) keeps its runtime: Ray allows one per
    process, and leaving it up is what its owner expects.
    """
    ray = import_ray()
    if address != LOCAL:
        check_address(address)
        _reachable(address)
    if ray.is_initialized():
        return Runtime(ray.get_runtime_context().gcs_address or address, owned=False)
    # Quiet: the renderer's own lines and progress bars are the output; workers' stderr still reaches us.
    options = dict(include_dashboard=False, logging_level=logging.WARNING, configure_logging=True)
    if address == LOCAL:
        try:
            ray.init(**options)
        except Exception as exc:
            raise ReverieError(f"--ray: could not start a local Ray runtime: {_reason(exc)}", field="ray") from None
        return Runtime(LOCAL, owned=True)
    try:
        ray.init(address=address, **({} if address.startswith("ray://") else options))
    except Exception as exc:  # ConnectionError, a timeout, a version mismatch: all mean "not there"
        raise ReverieError(
            f"--ray {address}: cannot join a Ray cluster at that address ({_reason(exc)}); start one with "
            f"`ray start --head` on the head node and give one of: {ADDRESSES}; or --ray alone for a local runtime",
            field="ray",
        ) from None
    return Runtime(address, owned=True)


def _reachable(address: str, timeout: float = 5.0) -> None:
    """Fail in seconds on a HOST:PORT nobody listens on (ray.init would retry for minutes)."""
    import socket

    if address == "auto":
        return  # ray.init reads the address `ray start` left on this machine and fails at once without one
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        raise ReverieError(f"--ray {address}: not a Ray address; allowed: {ADDRESSES}", field="ray")
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise ReverieError(
            f"--ray {address}: nothing answers at {host}:{port} ({exc.strerror or exc}); start the head node with "
            "`ray start --head` there (it prints the address to give), or --ray alone for a local runtime",
            field="ray",
        ) from None


RESTART_WAIT_S = 300.0  # a lost actor's restart, model load included, before it counts as gone


def await_ready(ray, actor, timeout: float, stopping=lambda: False):
    """The actor's `ready()`, waiting out a restart: while Ray restarts a lost actor (about 12 s with the
    model load) a call says "temporarily unavailable", so ask again until `timeout`. A dead actor raises
    at once, as does a caller that is `stopping()`."""
    unavailable = getattr(ray.exceptions, "ActorUnavailableError", ())
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if stopping() or left <= 0:
            raise TimeoutError(f"the worker did not come back within {timeout:g} s")
        try:
            return ray.get(actor.ready.remote(), timeout=min(2.0, left))
        except unavailable:
            time.sleep(0.2)
        except ray.exceptions.GetTimeoutError:
            continue


def capacity(threads: int) -> tuple[int, list[dict]]:
    """How many `threads`-CPU actors the alive nodes hold together, and each node (address, CPUs)."""
    ray = import_ray()
    nodes = [
        {"node": n["NodeManagerAddress"], "cpus": int(n.get("Resources", {}).get("CPU", 0))}
        for n in ray.nodes()
        if n.get("Alive")
    ]
    return sum(n["cpus"] // threads for n in nodes), nodes


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__
