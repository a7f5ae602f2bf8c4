"""bridge.Client: one method per op, NumPy audio in and out, typed errors.

    from reverie.bridge.client import Client
    with Client("tcp://127.0.0.1:5555") as c:
        out = c.inpaint(samples, 48000, start=3.2, end=4.5, progress=print)
        out.audio  # (channels, frames) float32 at 48 kHz, same shape as `samples`

A Client owns one DEALER socket. Methods may be called from several threads
(they share the socket under a lock, and replies are routed by request id),
so `cancel(job_id)` works from another thread while a call waits. A progress
callback that returns False cancels the job on the server; so does Ctrl-C
while a call waits: the client then waits (up to CANCEL_WAIT seconds) for the
job's final reply and raises `Interrupted`, a KeyboardInterrupt that says
whether the server cancelled the job or had already finished it.

This module needs only pyzmq and NumPy, not torch.
"""

from __future__ import annotations

import collections
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import zmq

from reverie.models.errors import ReverieError
from reverie.models.operations import OPERATIONS

from . import protocol as P
from .keys import load_public, load_secret

Progress = Callable[[int, int, Any], Any]  # (step, total, eta seconds or None) -> False to cancel

# A cancel takes effect at the end of the current step; a slow step on a busy
# server still ends well within this.
CANCEL_WAIT = 30.0
# How long a send waits for the connection (and CURVE handshake) to a server before saying none answers.
CONNECT_SECONDS = 5.0


class Interrupted(KeyboardInterrupt):
    """Ctrl-C while a call waited. `outcome` is what the server did with the job:
    "cancelled", "finished" (it completed before the cancel arrived; its result
    is dropped) or "unknown" (no final reply within CANCEL_WAIT seconds)."""

    def __init__(self, outcome: str, detail: str = ""):
        super().__init__(outcome)
        self.outcome = outcome
        self.detail = detail


class RemoteError(ReverieError):
    """An error reply from the server (or the client's own timeout): `code`, `message`, `field`."""

    def __init__(
        self, message: str, *, field: str | None = None, code: str = P.INTERNAL, request_id: str | None = None
    ):
        super().__init__(message, field=field, code=code)
        self.request_id = request_id

    def __str__(self) -> str:
        where = f" [{self.field}]" if self.field else ""
        return f"{self.code}{where}: {self.message}"


class InvalidRequest(RemoteError):
    """The request was malformed or a value was out of range; fix it and send again."""


class BusyError(RemoteError):
    """The server's job queue is full; try again later."""


class CancelledError(RemoteError):
    """The job was cancelled, by this client or because the server is shutting down."""


class ServerError(RemoteError):
    """The server failed on a valid request (`internal`)."""


class BridgeTimeout(RemoteError):
    """No reply within the timeout, or no server reachable (wrong endpoint or CURVE key)."""


_ERROR_TYPES = {
    P.BUSY: BusyError,
    P.CANCELLED: CancelledError,
    P.SHUTTING_DOWN: CancelledError,
    P.INTERNAL: ServerError,
    P.TIMEOUT: BridgeTimeout,
    P.UNREACHABLE: BridgeTimeout,
}


def error_from_reply(header: dict) -> RemoteError:
    code = str(header.get("code") or P.INTERNAL)
    cls = _ERROR_TYPES.get(code, InvalidRequest)
    return cls(str(header.get("message") or code), field=header.get("field"), code=code, request_id=header.get("id"))


@dataclass
class Result:
    header: dict
    audio: np.ndarray | None = None  # (channels, frames) float32
    sample_rate: int | None = None
    progress: list = field(default_factory=list)

    @property
    def seed(self) -> Any:
        return self.header.get("seed")

    @property
    def model_hash(self) -> str | None:
        return self.header.get("model_hash")

    @property
    def timings(self) -> dict:
        return self.header.get("timings", {})


class Client:
    """A bridge client. `timeout` is the longest silence tolerated from the server, in seconds.

    The server reports progress after every denoising step, so a long job does
    not trip the timeout; a dead or unreachable server does. (A job waiting in
    the queue is silent: after `timeout` the client asks `status` and keeps
    waiting while the server still has the job.)

    `server_key` (the server's public key, text or .key file) switches on
    CURVE; `client_key` (a .key_secret file) is this client's own pair, for a
    server that admits only known clients.
    """

    def __init__(
        self,
        endpoint: str = P.DEFAULT_ENDPOINT,
        server_key: str | bytes | None = None,
        timeout: float = 30.0,
        *,
        client_key: str | None = None,
        context: zmq.Context | None = None,
    ):
        self.endpoint = endpoint
        self.timeout = float(timeout)
        self._ctx = context or zmq.Context.instance()
        self._sock = self._ctx.socket(zmq.DEALER)
        self._sock.setsockopt(zmq.LINGER, 0)
        # Queue messages only on a finished connection (and CURVE handshake), so a send to a missing server
        # fails instead of waiting forever. libzmq connects and handshakes on its own I/O thread even while a
        # server computes, so a live server is connected within CONNECT_SECONDS: no need to wait `timeout`.
        self.connect_seconds = min(self.timeout, CONNECT_SECONDS)
        self._sock.setsockopt(zmq.IMMEDIATE, 1)
        self._sock.setsockopt(zmq.SNDTIMEO, max(1, int(self.connect_seconds * 1000)))
        # IPv6 endpoints (tcp://[::1]:5555) need it; IPv4 ones still connect with it on.
        self._sock.setsockopt(zmq.IPV6, 1)
        if client_key is not None and server_key is None:
            raise InvalidRequest("client_key goes with server_key (CURVE)", field="client_key", code=P.MISSING_FIELD)
        if server_key is not None:
            # The client's own pair: a .key_secret file for a server that admits only known
            # clients (serve --client-keys), else a fresh pair per connection.
            public, secret = load_secret(client_key) if client_key else zmq.curve_keypair()
            self._sock.curve_serverkey = load_public(server_key)
            self._sock.curve_publickey = public
            self._sock.curve_secretkey = secret
        self._sock.connect(endpoint)
        self._lock = threading.RLock()
        self._mail: dict[str, collections.deque] = {}
        self._limits: dict | None = None

    # --- lifecycle -------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if not self._sock.closed:
                self._sock.close(0)

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # --- ops -------------------------------------------------------------------

    def info(self) -> dict:
        header = self.request("info").header
        self._limits = header.get("limits")
        return header

    def status(self, job: str | None = None) -> dict:
        return self.request("status", {"job": job} if job else {}).header

    def cancel(self, job: str) -> dict:
        """Cancel one of this client's jobs by its id; the job's own call then raises CancelledError."""
        return self.request("cancel", {"job": job}).header

    # Every job method also takes, as keywords: midi= (a MIDI file's bytes) or hum= with hum_rate= (a
    # hummed take) for the melody, progress=(step, total, eta) callback, and job_id= (default: a new id).
    # Everything else is a parameter of the operation (reverie.models.operations), sent as is.

    def generate(self, seconds: float, sample_rate: int = 44100, channels: int = 2, **params: Any) -> Result:
        return self.job("generate", {}, dict(params, seconds=seconds, sample_rate=sample_rate, channels=channels))

    def transform(self, audio: np.ndarray, sample_rate: int, **params: Any) -> Result:
        return self.job("transform", {"audio": (audio, sample_rate)}, params)

    def inpaint(self, audio: np.ndarray, sample_rate: int, start: float, end: float, **params: Any) -> Result:
        return self.job("inpaint", {"audio": (audio, sample_rate)}, dict(params, start=start, end=end))

    def interpolate(
        self, a: np.ndarray, b: np.ndarray, sample_rate: int, *, b_rate: int | None = None, **params: Any
    ) -> Result:
        return self.job("interpolate", {"a": (a, sample_rate), "b": (b, b_rate or sample_rate)}, params)

    def continue_(self, audio: np.ndarray, sample_rate: int, seconds: float, **params: Any) -> Result:
        return self.job("continue", {"audio": (audio, sample_rate)}, dict(params, seconds=seconds))

    def run(self, op: str, progress: Progress | None = None, **kwargs: Any) -> Result:
        """Dispatch by op name, with the method's own keyword arguments (for CLI and pedal code)."""
        if op not in P.JOB_OPS:
            raise InvalidRequest(f"unknown op {op!r}; allowed: {', '.join(P.JOB_OPS)}", field="op", code=P.UNKNOWN_OP)
        return getattr(self, OPERATIONS[op].method)(progress=progress, **kwargs)

    def job(self, op: str, audio: dict[str, tuple[np.ndarray, int]], params: dict) -> Result:
        """Operation `op` with its audio inputs by name, each (samples, sample_rate), and its parameters."""
        params = dict(params)
        midi, hum, hum_rate = params.pop("midi", None), params.pop("hum", None), params.pop("hum_rate", None)
        progress, job_id = params.pop("progress", None), params.pop("job_id", None)
        entries, frames = [], []
        for name, (samples, rate) in audio.items():
            entry, frame = P.audio_entry(name, samples, rate, P.PLANAR)
            entries.append(entry)
            frames.append(frame)
        if midi is not None:
            entry, frame = P.bytes_entry("midi", midi)
            entries.append(entry)
            frames.append(frame)
        if hum is not None:
            if hum_rate is None:
                raise InvalidRequest(
                    "hum needs hum_rate, its sample rate in Hz", field="hum_rate", code=P.MISSING_FIELD
                )
            entry, frame = P.audio_entry("hum", hum, hum_rate, P.PLANAR)
            entries.append(entry)
            frames.append(frame)
        params = {k: _plain(v) for k, v in params.items() if v is not None}
        return self.request(op, params, entries, frames, progress=progress, request_id=job_id)

    # --- the exchange ------------------------------------------------------------

    def request(
        self,
        op: str,
        params: dict | None = None,
        payload: list | None = None,
        frames: list | None = None,
        *,
        progress: Progress | None = None,
        request_id: str | None = None,
        reply_layout: str = P.PLANAR,
    ) -> Result:
        """Send one request and wait for its final reply; raises RemoteError subclasses on error replies."""
        rid = request_id or uuid.uuid4().hex
        header = {"v": P.VERSION, "id": rid, "op": op, "params": params or {}}
        if payload:
            header["payload"] = payload
        if op in P.JOB_OPS:
            header["reply_layout"] = reply_layout
        message = P.encode(header, frames or [])
        self._check_size(message)
        with self._lock:
            self._mail[rid] = collections.deque()
        try:
            self._send(message)
            return self._wait(rid, progress)
        finally:
            with self._lock:
                self._mail.pop(rid, None)

    def _check_size(self, message: list) -> None:
        size = sum(memoryview(m).nbytes for m in message)
        if size < 1 << 20:
            return
        if self._limits is None:
            self.info()
        limit = int((self._limits or {}).get("max_message_bytes", 0) or 0)
        if limit and size > limit:
            # libzmq would drop an oversized frame and the connection; say why here instead.
            raise InvalidRequest(
                f"the request is {size} bytes; the server accepts at most {limit} per message",
                field="payload",
                code=P.TOO_LARGE,
            )

    def _send(self, message: list) -> None:
        with self._lock:
            try:
                self._sock.send_multipart(message, copy=False)
            except zmq.Again:
                raise BridgeTimeout(
                    f"no bridge server answered at {self.endpoint} within {self.connect_seconds:g} s "
                    "(is `reverie serve` running there, and is the server key right?)",
                    code=P.UNREACHABLE,
                ) from None

    def _wait(self, rid: str, progress: Progress | None) -> Result:
        steps: list = []
        cancel_sent = accepted = False
        deadline = time.monotonic() + self.timeout
        # Ctrl-C may land anywhere in this loop, in the caller's progress callback (a progress bar
        # drawing) as often as in the socket wait: wherever it lands, the job is cancelled on the server.
        try:
            while True:
                got = self._next(rid, deadline)
                if got is None:
                    # A queued job hears nothing until it starts: silence is only a dead server
                    # if the server does not know the job either.
                    if accepted and self._server_has(rid):
                        deadline = time.monotonic() + self.timeout
                        continue
                    raise BridgeTimeout(
                        f"no reply from {self.endpoint} for {self.timeout:g} s (request {rid})",
                        code=P.TIMEOUT,
                        request_id=rid,
                    )
                deadline = time.monotonic() + self.timeout
                header, frames = got
                kind = header.get("type")
                accepted = accepted or kind == P.ACCEPTED
                if kind == P.ERROR:
                    raise error_from_reply(header)
                if kind == P.RESULT:
                    return _result(header, frames, steps)
                if kind == P.PROGRESS:
                    step = (header.get("step"), header.get("total"), header.get("eta"))
                    steps.append(step)
                    if progress is not None and progress(*step) is False and not cancel_sent:
                        self._cancel_quietly(rid)
                        cancel_sent = True
        except KeyboardInterrupt:
            if not cancel_sent:
                self._cancel_quietly(rid)
            # Wait for the final reply: leaving at once could drop the unsent
            # cancel with the socket, and the job would run on unseen.
            raise self._settle(rid) from None

    def _settle(self, rid: str) -> Interrupted:
        """Drain request `rid`'s replies until its final one (or CANCEL_WAIT passes)."""
        deadline = time.monotonic() + CANCEL_WAIT
        while True:
            try:
                got = self._next(rid, deadline)
            except KeyboardInterrupt:  # a second Ctrl-C: stop waiting
                return Interrupted("unknown", "interrupted again before the server answered")
            if got is None:
                return Interrupted("unknown", f"the server did not confirm the cancel within {CANCEL_WAIT:g} s")
            header = got[0]
            if header.get("type") == P.RESULT:
                return Interrupted("finished", "the job had already finished on the server")
            if header.get("type") == P.ERROR:
                error = error_from_reply(header)
                if isinstance(error, CancelledError):
                    return Interrupted("cancelled", error.message)
                return Interrupted("unknown", str(error))

    def _server_has(self, rid: str) -> bool:
        try:
            return self.status(rid).get("state") in ("queued", "running")
        except RemoteError:
            return False

    def _cancel_quietly(self, rid: str) -> None:
        header = {"v": P.VERSION, "id": f"cancel-{uuid.uuid4().hex}", "op": "cancel", "params": {"job": rid}}
        try:
            self._send(P.encode(header))  # its reply has an id nobody waits for and is dropped
        except RemoteError:
            pass

    def _next(self, rid: str, deadline: float) -> tuple[dict, list] | None:
        """The next reply for request `rid`; replies for other waiting requests go to their mailboxes."""
        while True:
            with self._lock:
                box = self._mail.get(rid)
                if box:
                    return box.popleft()
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                if self._sock.poll(min(left, 0.05) * 1000, zmq.POLLIN):
                    frames = self._sock.recv_multipart(copy=False)
                    try:
                        header = P.loads_header(frames[0].buffer)
                    except P.ProtocolError:
                        continue
                    target = self._mail.get(header.get("id"))
                    if target is not None:
                        target.append((header, frames[1:]))
                    # replies to ids nobody waits for (timed out, fire-and-forget cancels) are dropped
            time.sleep(0)  # let another thread waiting on the lock have a turn


def _result(header: dict, frames: list, steps: list) -> Result:
    result = Result(header=header, progress=steps)
    for entry, frame in zip(header.get("payload") or [], frames):
        if entry.get("kind") == P.AUDIO and entry.get("name") == "audio":
            result.audio = P.decode_audio(entry, frame.buffer)
            result.sample_rate = int(entry["sample_rate"])
    return result


def _plain(value: Any) -> Any:
    """NumPy scalars to the JSON types the server expects."""
    if isinstance(value, np.generic):
        return value.item()
    return value
