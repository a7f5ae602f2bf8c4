"""Helpers for tests and the benchmark: a server in a thread, a server process, raw exchanges."""

from __future__ import annotations

import contextlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

import zmq

from reverie.bridge import protocol as P

REPO = Path(__file__).resolve().parents[1]
LOOPBACK_ANY_PORT = "tcp://127.0.0.1:*"


@contextlib.contextmanager
def running_server(pipe: Any, **kwargs: Any) -> Iterator[Any]:
    """A Server on an ephemeral loopback port, served by a thread; stopped on exit."""
    from reverie.bridge.server import Server

    server = Server(pipe, kwargs.pop("bind", LOOPBACK_ANY_PORT), **kwargs)
    server.bind()
    thread = threading.Thread(target=server.serve, name="reverie-bridge-io", daemon=True)
    thread.start()
    if not server.wait_ready(30):
        raise RuntimeError("bridge server did not start")
    try:
        yield server
    finally:
        server.stop()
        thread.join(30)


def reverie_command(*args: str) -> list[str]:
    """The `reverie` command line, run from this checkout whether or not it is pip-installed."""
    return [sys.executable, "-c", "import sys; from reverie.cli.main import cli; sys.exit(cli())", *args]


def cli_answer(folder: Path, op: str, audio, rate: int, *args: str):
    """`reverie OP IN -o OUT ... --model TINY` on a float WAV of `audio` (channels, frames) in `folder`: the
    local answer, no server, as (channels, frames) at `rate`."""
    import soundfile as sf
    from dummy_models import TINY

    src, dst = folder / f"{op}_in.wav", folder / f"{op}_out.wav"
    sf.write(src, audio.T, rate, subtype="FLOAT")
    done = subprocess.run(
        reverie_command(op, str(src), "-o", str(dst), "--model", TINY, *args),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    out, out_rate = sf.read(dst, dtype="float32", always_2d=True)
    assert out_rate == rate
    return out.T


class ServeProcess:
    """`reverie serve` in a subprocess; collects its stderr lines and learns its endpoint."""

    def __init__(self, *args: str, startup_timeout: float = 120.0):
        env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONPATH=str(REPO))
        self.proc = subprocess.Popen(
            reverie_command("serve", *args),
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.endpoint = self._wait_endpoint(startup_timeout)

    def _read(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def _wait_endpoint(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                found = re.search(r"listening on (\S+)", line)
                if found:
                    return found.group(1)
            if self.proc.poll() is not None:
                time.sleep(0.2)
                raise RuntimeError(f"reverie serve exited with {self.proc.returncode}: {self.log()}")
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"reverie serve did not start in {timeout} s: {self.log()}")

    def log(self) -> str:
        return "\n".join(self.lines)

    def wait_for_line(self, pattern: str, timeout: float = 60.0) -> str | None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in list(self.lines):
                if re.search(pattern, line):
                    return line
            time.sleep(0.02)
        return None

    def peak_rss_bytes(self) -> int | None:
        """The process's peak resident memory (VmHWM), Linux only."""
        try:
            text = Path(f"/proc/{self.proc.pid}/status").read_text()
        except OSError:
            return None
        found = re.search(r"VmHWM:\s+(\d+) kB", text)
        return int(found.group(1)) * 1024 if found else None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._reader.join(5)


def raw_socket(endpoint: str, context: zmq.Context | None = None) -> zmq.Socket:
    sock = (context or zmq.Context.instance()).socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    return sock


def exchange(sock: zmq.Socket, frames: list, timeout: float = 30.0) -> list[tuple[dict, list]]:
    """Send raw frames and collect replies until a final one (result or error) or the timeout."""
    sock.send_multipart(frames, copy=True)
    return collect(sock, timeout)


def collect(sock: zmq.Socket, timeout: float = 30.0) -> list[tuple[dict, list]]:
    replies = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not sock.poll(max(1, int((deadline - time.monotonic()) * 1000)), zmq.POLLIN):
            break
        first, *rest = sock.recv_multipart()
        header = json.loads(first)
        replies.append((header, rest))
        if header.get("type") in (P.RESULT, P.ERROR):
            break
    return replies


def cancel_a_long_job(client: Any, audio: Any, sample_rate: int) -> tuple[dict, Exception | None]:
    """Start a 1000-step transform as job "long", cancel it once it has reported step 3, and return the
    cancel's reply and the error the job ended with (None if it finished instead)."""
    from reverie.models.errors import ReverieError

    outcome: dict = {}

    def long_job() -> None:
        try:
            outcome["result"] = client.transform(audio, sample_rate, strength=1.0, steps=1000, job_id="long")
        except ReverieError as exc:
            outcome["error"] = exc

    worker = threading.Thread(target=long_job)
    worker.start()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if client.status("long")["step"] >= 3:
                break
        except ReverieError:  # not_found until the request is in
            pass
        time.sleep(0.01)
    reply = client.cancel("long")
    worker.join(30)
    return reply, outcome.get("error")
