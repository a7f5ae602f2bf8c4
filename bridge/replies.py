"""What the bridge server's I/O thread answers at once: info, status and cancel, and the one log line every
request gets, whoever answers it. `Replies` is a part of `Server` (server.py), whose state it reads."""

from __future__ import annotations

import functools
import logging
import time
from importlib import metadata
from typing import Any

from . import protocol as P
from .jobs import DONE, QUEUED, RUNNING, Job
from .protocol import ProtocolError
from .validate import Request

log = logging.getLogger("reverie.bridge")


class Replies:
    """info, status and cancel, answered on the I/O thread from the server's live jobs and queue."""

    def _immediate(self, identity: bytes, req: Request, received: float) -> None:
        with self._lock:
            in_use = (identity, req.id) in self._live
        if in_use:  # its result would read as that job's answer
            raise ProtocolError(
                P.DUPLICATE_ID,
                f"id {req.id!r} belongs to your queued or running job; give each request its own id",
                "id",
            )
        if req.op == "info":
            data = self.info()
        elif req.op == "status":
            data = self.status(identity, req.params.get("job"))
        else:
            data = self.cancel(identity, req.params["job"])
        self._send(identity, P.reply(P.RESULT, req.id, op=req.op, **data))
        log_line(req.id, req.op, 0.0, 0.0, time.monotonic() - received, "ok", identity)

    def info(self) -> dict:
        return {
            "version": P.VERSION,
            "server": f"reverie {_software_version()}",
            "model": {"hash": self.pipe.model_hash, "sample_rate": self.pipe.sample_rate, **self.pipe.card},
            "styles": list(self.pipe.styles),
            "ops": list(P.OPS),
            "limits": self.limits.as_dict(),
            "defaults": _jsonable(self.pipe.defaults),
            "workers": self.workers,
            **((self.runner.describe() or {}) if self.runner is not None else {}),
        }

    def status(self, identity: bytes, job_id: str | None) -> dict:
        if job_id is None:
            with self._lock:
                mine = [j.request.id for j in self._live.values() if j.identity == identity]
                running = sum(1 for j in self._live.values() if j.state == RUNNING)
            return {
                "queued": len(self._queue),
                "running": running,
                "workers": self.workers,
                "jobs": mine,
                "uptime_s": round(time.monotonic() - self._started, 3),
                "stopping": self._stop.is_set(),
            }
        job = self._find(identity, job_id)
        data = {"job": job_id, "state": job.state, "step": job.step, "total": job.total}
        if job.state == QUEUED:
            data["position"] = self._queue.position(job)
        return data

    def cancel(self, identity: bytes, job_id: str) -> dict:
        job = self._find(identity, job_id)
        if self._queue.remove(job):
            job.state = DONE
            self._finish(
                job,
                P.error_reply(job_id, P.CANCELLED, "cancelled by the client before it started"),
                P.CANCELLED,
                send=self._send,
            )
            return {"job": job_id, "was": QUEUED}
        job.request_cancel(P.CANCELLED)
        # The job stops when its current step ends: at step `step + 1` at the latest.
        return {"job": job_id, "was": RUNNING, "step": job.step, "total": job.total}

    def _find(self, identity: bytes, job_id: str) -> Job:
        with self._lock:
            job = self._live.get((identity, job_id))
        if job is None:
            raise ProtocolError(P.NOT_FOUND, f"you have no queued or running job with id {job_id!r}", "job")
        return job


def log_line(
    rid: Any,
    op: Any,
    seconds: float,
    wait: float,
    compute: float,
    outcome: str,
    identity: bytes,
    field: str | None = None,
) -> None:
    extra = f" field={field}" if field else ""
    log.info(
        "id=%s op=%s audio_s=%.3f wait_s=%.3f compute_s=%.3f %s client=%s%s",
        rid,
        op if isinstance(op, str) and len(op) < 40 else "?",
        seconds,
        wait,
        compute,
        outcome,
        identity.hex()[:10],
        extra,
    )


@functools.lru_cache(maxsize=1)
def _software_version() -> str:
    try:
        return metadata.version("reverie")
    except metadata.PackageNotFoundError:
        return "unknown"


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return P.json_number(value)
    return str(value)
