"""The bridge server: one ROUTER socket, one model in memory, a bounded queue and worker threads.

Threads and sockets:

- The I/O thread (the one that calls `serve()`) owns the ROUTER socket. It
  validates every message, answers info/status/cancel at once, queues jobs
  and forwards what workers publish. No other thread touches the ROUTER.
- Each worker thread takes jobs from the queue, runs each on the server's
  runner (runners.py: here on the pipeline, `pipe.run(op, **kwargs)`, or on a
  Ray actor) with a progress callback, and publishes progress, the result or
  the error on its own PUSH socket to an inproc PULL socket that the I/O
  thread polls.

Every message gets an answer: the I/O loop wraps each message in a catch-all
that turns anything unexpected into an `internal` error reply.

A client that goes away (closed socket, crashed process, lost host) must not
hold a worker. The ROUTER is ROUTER_MANDATORY, so a send to a peer that is no
longer connected fails with EHOSTUNREACH instead of vanishing; a running job
sends progress after every step, so its peer's departure is seen within one
step, and then that peer's running and queued jobs are all cancelled. ZMTP
heartbeats turn a silent peer (a host that died without closing TCP) into a
disconnect after HEARTBEAT_TIMEOUT_MS.

This module is the socket loop: binding, polling, routing and shutting down.
What the workers do is in workers.py (`Workers`), the info/status/cancel
answers in replies.py (`Replies`); `Server` is made of the three.
"""

from __future__ import annotations

import errno
import itertools
import logging
import threading
import time
import traceback
from typing import Any

import zmq
from zmq.auth import CURVE_ALLOW_ANY
from zmq.auth.thread import ThreadAuthenticator

from reverie.models.errors import ReverieError

from . import protocol as P
from .jobs import RUNNING, Busy, Job, JobQueue
from .keys import is_local_endpoint
from .protocol import ProtocolError
from .replies import Replies, log_line
from .runners import LocalRunner, Runner
from .validate import Limits, Request, parse
from .workers import DISCONNECTED, Workers

log = logging.getLogger("reverie.bridge")

SHUTDOWN_MODES = ("cancel", "finish")
POLL_MS = 50
HEARTBEAT_IVL_MS = 1000
HEARTBEAT_TIMEOUT_MS = 5000
_server_ids = itertools.count()


class Server(Replies, Workers):
    """Serve one pipeline over ZeroMQ.

    `serve()` blocks until `stop()` (thread-safe; the CLI calls it from its
    SIGINT/SIGTERM handler), then shuts down: queued jobs are answered with
    `shutting_down`, running jobs are cancelled at their next step
    (on_shutdown="cancel") or allowed `grace` seconds to finish
    (on_shutdown="finish"), every client is answered, and `serve()` returns.
    """

    def __init__(
        self,
        pipe: Any,
        bind: str = P.DEFAULT_ENDPOINT,
        *,
        workers: int = 1,
        limits: Limits | None = None,
        curve_keys: tuple[bytes, bytes] | None = None,
        client_keys_dir: str | None = None,
        on_shutdown: str = "cancel",
        grace: float = 10.0,
        context: zmq.Context | None = None,
        runner: Runner | None = None,
    ):
        if workers < 1:
            raise ReverieError(f"workers must be at least 1, got {workers}", field="workers")
        if on_shutdown not in SHUTDOWN_MODES:
            raise ReverieError(f"on_shutdown must be cancel or finish, got {on_shutdown!r}", field="on_shutdown")
        if curve_keys is None and not is_local_endpoint(bind):
            raise ReverieError(
                f"{bind} is not a loopback address; a network-facing bridge needs CURVE keys. "
                "Make a pair with `reverie keys DIR` and start with --secret-key DIR/server.key_secret",
                field="bind",
            )
        self.pipe = pipe  # the model's facts for `info` and results; jobs run on `runner`
        self.runner = runner  # None: LocalRunner(pipe), made when serving starts (the CLI sets pipe late)
        self.limits = limits or Limits()
        self.workers = workers
        self.on_shutdown = on_shutdown
        self.grace = grace
        self._ctx = context or zmq.Context()
        self._own_ctx = context is None
        self._curve_keys = curve_keys
        self._client_keys_dir = client_keys_dir
        self._bind = bind
        self._inproc = f"inproc://reverie-bridge-{id(self)}-{next(_server_ids)}"
        self._stop = threading.Event()
        self._ready = threading.Event()
        self._lock = threading.Lock()
        self._live: dict[tuple[bytes, str], Job] = {}
        self._queue = JobQueue(self.limits.max_queue)
        self._threads: list[threading.Thread] = []
        self._auth: ThreadAuthenticator | None = None
        self._started = time.monotonic()
        self.endpoint: str | None = None
        self._router: zmq.Socket | None = None
        self._pull: zmq.Socket | None = None

    # --- lifecycle ----------------------------------------------------------

    def bind(self) -> str:
        """Bind the sockets (before serve(), so a caller can learn an ephemeral port)."""
        if self._router is not None:
            return self.endpoint
        router = self._ctx.socket(zmq.ROUTER)
        router.setsockopt(zmq.MAXMSGSIZE, self.limits.max_message_bytes)
        router.setsockopt(zmq.LINGER, 2000)
        router.setsockopt(zmq.SNDHWM, 10000)
        router.setsockopt(zmq.ROUTER_MANDATORY, 1)
        router.setsockopt(zmq.HEARTBEAT_IVL, HEARTBEAT_IVL_MS)
        router.setsockopt(zmq.HEARTBEAT_TIMEOUT, HEARTBEAT_TIMEOUT_MS)
        # ZeroMQ binds IPv4 only unless told: tcp://[::1]:PORT fails with "No such device" without it.
        router.setsockopt(zmq.IPV6, int("[" in self._bind))
        if self._curve_keys is not None:
            self._auth = ThreadAuthenticator(self._ctx)
            self._auth.start()
            self._auth.configure_curve(domain="*", location=self._client_keys_dir or CURVE_ALLOW_ANY)
            public, secret = self._curve_keys
            router.curve_publickey = public
            router.curve_secretkey = secret
            router.curve_server = True
        try:
            router.bind(self._bind)
        except zmq.ZMQError as exc:
            router.close(0)
            self._stop_auth()
            raise ReverieError(f"cannot bind {self._bind}: {exc}", field="bind") from None
        self.endpoint = router.getsockopt_string(zmq.LAST_ENDPOINT)
        pull = self._ctx.socket(zmq.PULL)
        pull.bind(self._inproc)
        self._router, self._pull = router, pull
        return self.endpoint

    def stop(self) -> None:
        """Ask serve() to shut down; safe from any thread and from a signal handler."""
        self._stop.set()

    def wait_ready(self, timeout: float | None = None) -> bool:
        return self._ready.wait(timeout)

    def serve(self) -> None:
        self.bind()
        if self.runner is None:
            self.runner = LocalRunner(self.pipe)
        for index in range(self.workers):
            thread = threading.Thread(target=self._worker, name=f"reverie-worker-{index}", daemon=True)
            thread.start()
            self._threads.append(thread)
        secure = "CURVE" if self._curve_keys else "plain (loopback only)"
        log.info(
            "listening on %s (%s), model %s, %d worker(s), queue %d, max %g s and %d bytes per request",
            self.endpoint,
            secure,
            getattr(self.pipe, "model_hash", "?"),
            self.workers,
            self.limits.max_queue,
            self.limits.max_seconds,
            self.limits.max_message_bytes,
        )
        poller = zmq.Poller()
        poller.register(self._router, zmq.POLLIN)
        poller.register(self._pull, zmq.POLLIN)
        self._ready.set()
        try:
            while not self._stop.is_set():
                try:
                    self._poll_once(poller)
                except zmq.ContextTerminated:
                    raise
                except Exception:  # a failed forward or a bug: log it, keep serving
                    log.error("I/O loop error: %s", traceback.format_exc())
            self._shutdown(poller)
        finally:
            self._close()

    def _poll_once(self, poller: zmq.Poller, timeout: int = POLL_MS) -> None:
        events = dict(poller.poll(timeout))
        if self._pull in events:
            self._forward_published()
        if self._router in events:
            for _ in range(100):  # bounded burst, then give worker output a turn
                try:
                    frames = self._router.recv_multipart(zmq.NOBLOCK, copy=False)
                except zmq.Again:
                    break
                self._handle(frames)

    def _forward_published(self) -> None:
        """Forward everything the workers published (progress, results, errors) to its client."""
        while True:
            try:
                frames = self._pull.recv_multipart(zmq.NOBLOCK, copy=False)
            except zmq.Again:
                return
            self._route(frames)

    def _shutdown(self, poller: zmq.Poller) -> None:
        drained = self._queue.close()
        for job in drained:
            reply = P.error_reply(
                job.request.id, P.SHUTTING_DOWN, "the server is shutting down; the job was not started"
            )
            self._finish(job, reply, P.SHUTTING_DOWN, send=self._send)
        with self._lock:
            running = [job for job in self._live.values() if job.state == RUNNING]
        if self.on_shutdown == "cancel":
            for job in running:
                job.request_cancel(P.SHUTTING_DOWN)
        log.info(
            "shutting down: %d queued job(s) refused, %d running job(s) %s",
            len(drained),
            len(running),
            "cancelled at their next step" if self.on_shutdown == "cancel" else f"given {self.grace:g} s to finish",
        )
        deadline = time.monotonic() + (self.grace if self.on_shutdown == "finish" else 0.0)
        hard = deadline + 5.0
        cancelled_late = False
        while any(t.is_alive() for t in self._threads) and time.monotonic() < hard:
            if not cancelled_late and time.monotonic() >= deadline:
                with self._lock:
                    late = list(self._live.values())
                for job in late:
                    job.request_cancel(P.SHUTTING_DOWN)
                if late and self.on_shutdown == "finish":
                    log.info("grace of %g s is over: cancelling %d running job(s)", self.grace, len(late))
                cancelled_late = True
            self._poll_once(poller, 20)
        # A worker's last reply can still be on its way over the inproc pipe when the worker has exited,
        # and a poll with no timeout may not see it yet (a job's final reply was lost that way): drain
        # until the pipe stays quiet.
        while self._pull.poll(100, zmq.POLLIN):
            self._forward_published()
        with self._lock:
            stuck = list(self._live.values())
            self._live.clear()
        for job in stuck:  # a worker that did not reach a step boundary in time
            reply = P.error_reply(job.request.id, P.SHUTTING_DOWN, "the server shut down before the job could stop")
            self._send(job.identity, reply)
            log.warning("id=%s op=%s did not stop in time; answered shutting_down", job.request.id, job.request.op)

    def _close(self) -> None:
        alive = [t for t in self._threads if t.is_alive()]
        if self._pull is not None:
            self._pull.close(0)
        if self._router is not None:
            self._router.close(2000)
        self._stop_auth()
        if self._own_ctx and not alive:
            self._ctx.term()
        log.info("stopped")

    def _stop_auth(self) -> None:
        if self._auth is not None:
            self._auth.stop()
            self._auth = None

    # --- I/O thread: requests -------------------------------------------------

    def _send(self, identity: bytes, header: dict, frames: list = ()) -> None:
        self._route([identity, P.dumps_header(header), *frames])

    def _route(self, frames: list) -> None:
        """Send one message to the peer named by frames[0]; a peer that is gone loses its jobs."""
        try:
            self._router.send_multipart(frames, flags=zmq.NOBLOCK, copy=False)
        except zmq.Again:  # the peer is connected but reads nothing: drop, as ZeroMQ does at the HWM
            log.warning("client=%s is not reading; a reply was dropped", _peer(frames[0]).hex()[:10])
        except zmq.ZMQError as exc:
            if exc.errno != errno.EHOSTUNREACH:
                raise
            self._peer_gone(_peer(frames[0]))

    def _peer_gone(self, identity: bytes) -> None:
        """Cancel every job of a client that disconnected: queued ones now, running ones at their next step."""
        with self._lock:
            jobs = [job for job in self._live.values() if job.identity == identity]
        for job in jobs:
            if self._queue.remove(job):
                self._finish(job, {}, DISCONNECTED, send=lambda *args: None)
            else:
                job.request_cancel(DISCONNECTED)
        if jobs:
            log.info("client=%s disconnected: cancelled its %d job(s)", identity.hex()[:10], len(jobs))

    def _handle(self, frames: list) -> None:
        identity = frames[0].bytes
        received = time.monotonic()
        rid = op = None
        try:
            req = parse(frames[1:], self.limits)
            rid, op = req.id, req.op
            if req.op in P.JOB_OPS:
                self._submit(identity, req)
            else:
                self._immediate(identity, req, received)
        except (ProtocolError, ReverieError) as exc:
            rid = rid if rid is not None else getattr(exc, "request_id", None)
            self._send(identity, P.error_reply(rid, exc.code, exc.message, exc.field))
            log_line(
                rid,
                op or getattr(exc, "op", None),
                0.0,
                0.0,
                time.monotonic() - received,
                f"error:{exc.code}",
                identity,
                exc.field,
            )
        except Exception as exc:  # never let one message take the server down
            log.error("internal error handling a message: %s", traceback.format_exc())
            self._send(identity, P.error_reply(rid, P.INTERNAL, f"internal error: {type(exc).__name__}: {exc}"))

    def _submit(self, identity: bytes, req: Request) -> None:
        if self._stop.is_set():
            raise ProtocolError(P.SHUTTING_DOWN, "the server is shutting down and takes no new jobs")
        job = Job(identity, req)
        with self._lock:
            if job.key in self._live:
                raise ProtocolError(
                    P.DUPLICATE_ID, f"you already have a job with id {req.id!r} queued or running", "id"
                )
            try:
                position = self._queue.put(job)
            except Busy:
                raise ProtocolError(
                    P.BUSY, f"the job queue is full ({self.limits.max_queue} waiting); try again later"
                ) from None
            self._live[job.key] = job
        self._send(identity, P.reply(P.ACCEPTED, req.id, position=position))


def _peer(frame: Any) -> bytes:
    return frame.bytes if isinstance(frame, zmq.Frame) else bytes(frame)
