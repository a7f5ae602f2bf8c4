"""The bridge server's worker threads: each takes jobs from the queue, runs each on the server's runner with a
progress callback, and publishes progress and the job's one final reply on its own PUSH socket to the I/O
thread. `Workers` is a part of `Server` (server.py), whose state it reads."""

from __future__ import annotations

import logging
import time
import traceback
from typing import Any, Callable

import zmq

from reverie.models.errors import Cancelled, ReverieError

from . import protocol as P
from .jobs import DONE, Job, pipeline_kwargs
from .replies import log_line

log = logging.getLogger("reverie.bridge")

DISCONNECTED = "disconnected"  # a cancel reason only: its peer cannot be answered


class Workers:
    """The worker threads' side of the server: run a job, answer it once, forget it."""

    def _worker(self) -> None:
        push = self._ctx.socket(zmq.PUSH)
        push.setsockopt(zmq.LINGER, 1000)
        push.connect(self._inproc)

        def send(identity: bytes, header: dict, frames: list = ()) -> None:
            push.send_multipart([identity, P.dumps_header(header), *frames], copy=False)

        try:
            while True:
                job = self._queue.get()
                if job is None:
                    return
                try:
                    self._run(job, send)
                except Exception:  # even the error reply failed: keep the worker alive
                    log.error("id=%s: could not answer: %s", job.request.id, traceback.format_exc())
                    with self._lock:
                        self._live.pop(job.key, None)
        finally:
            push.close()

    def _run(self, job: Job, send: Callable) -> None:
        req = job.request
        started = job.started_at

        def progress(step: int, total: int) -> bool:
            """Called by the pipeline after every denoising step; False stops the run there."""
            job.step, job.total = int(step), int(total)
            elapsed = time.monotonic() - started
            eta = elapsed / step * (total - step) if step > 0 else None
            send(job.identity, P.reply(P.PROGRESS, req.id, step=job.step, total=job.total, eta=_round(eta)))
            return not job.cancel.is_set()

        try:
            if job.cancel.is_set():
                raise Cancelled()
            kwargs = pipeline_kwargs(req, self.limits.max_seconds)
            out = self.runner.run(req.op, kwargs, progress, job.cancel)
            compute = time.monotonic() - started
            entry, frame = P.audio_entry("audio", out.samples, out.sample_rate, req.reply_layout)
            header = P.reply(
                P.RESULT,
                req.id,
                op=req.op,
                seed=req.params.get("seed", self._default_seed()),
                model_hash=self.pipe.model_hash,
                timings={"queue_s": _round(started - job.accepted_at), "compute_s": _round(compute)},
                payload=[entry],
            )
            self._finish(job, header, "ok", send=send, frames=[frame])
        except Cancelled as exc:
            if job.cancel_reason == DISCONNECTED:
                self._finish(job, {}, DISCONNECTED, send=lambda *args: None)
                return
            if job.cancel_reason == P.SHUTTING_DOWN:
                message = "the server is shutting down; the job was cancelled"
            else:
                message = "cancelled by the client"
            message = f"{message} at step {job.step} of {job.total}"
            if exc.heard_at is not None:
                message += f" (the worker had the cancel after step {exc.heard_at})"
            reply = P.error_reply(req.id, job.cancel_reason, message)
            self._finish(job, reply, job.cancel_reason, send=send)
        except ReverieError as exc:
            self._finish(job, P.error_reply(req.id, exc.code, exc.message, exc.field), exc.code, send=send)
        except Exception as exc:
            log.error("id=%s op=%s failed: %s", req.id, req.op, traceback.format_exc())
            reply = P.error_reply(req.id, P.INTERNAL, f"internal error: {type(exc).__name__}: {exc}")
            self._finish(job, reply, P.INTERNAL, send=send)

    def _default_seed(self) -> Any:
        return (self.pipe.defaults or {}).get("seed", 0)

    def _finish(self, job: Job, header: dict, outcome: str, *, send: Callable, frames: list = ()) -> None:
        """Send a job's one final reply, forget it, and write its log line."""
        with self._lock:
            if self._live.get(job.key) is not job:
                return  # already answered (e.g. by a shutdown that gave up waiting)
            del self._live[job.key]
            job.state = DONE
        now = time.monotonic()
        start = job.started_at or now
        log_line(
            job.request.id,
            job.request.op,
            job.request.seconds,
            start - job.accepted_at,
            now - start,
            "ok" if outcome == "ok" else f"error:{outcome}",
            job.identity,
        )
        # Send last: the I/O thread forwards the reply as soon as this thread blocks again.
        send(job.identity, header, frames)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
