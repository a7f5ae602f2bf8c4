"""Jobs and the bounded job queue, plus the one place wire requests become pipeline kwargs."""

from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from reverie.models.errors import ReverieError
from reverie.models.operations import ASKED, generate_seconds, operation

from . import protocol as P
from .validate import Request

QUEUED, RUNNING, DONE = "queued", "running", "done"


@dataclass(eq=False)
class Job:
    identity: bytes
    request: Request
    accepted_at: float = field(default_factory=time.monotonic)
    started_at: float | None = None
    state: str = QUEUED
    step: int = 0
    total: int = 0
    cancel: threading.Event = field(default_factory=threading.Event)
    cancel_reason: str = P.CANCELLED  # or P.SHUTTING_DOWN

    @property
    def key(self) -> tuple[bytes, str]:
        return (self.identity, self.request.id)

    def request_cancel(self, reason: str = P.CANCELLED) -> None:
        if not self.cancel.is_set():
            self.cancel_reason = reason
            self.cancel.set()


class Busy(Exception):
    pass


class JobQueue:
    """FIFO of waiting jobs with a hard bound; workers block on get() until a job or close().

    `max_queue` counts jobs that wait for a worker: a job an idle worker is about to take does not
    wait, so max_queue 0 means "no queue: run if a worker is free, else busy".
    """

    def __init__(self, max_queue: int):
        self.max_queue = max_queue
        self._jobs: collections.deque[Job] = collections.deque()
        self._cond = threading.Condition()
        self._closed = False
        self._idle = 0  # workers blocked in get()

    def put(self, job: Job) -> int:
        """Queue a job and return how many jobs wait ahead of it; Busy when full or closed."""
        with self._cond:
            if self._closed or len(self._jobs) >= self.max_queue + self._idle:
                raise Busy()
            self._jobs.append(job)
            self._cond.notify()
            return len(self._jobs) - 1

    def get(self, timeout: float | None = None) -> Job | None:
        """The next job (marked running), or None once the queue is closed and empty or on timeout."""
        with self._cond:
            deadline = None if timeout is None else time.monotonic() + timeout
            self._idle += 1
            try:
                while not self._jobs:
                    if self._closed:
                        return None
                    left = None if deadline is None else deadline - time.monotonic()
                    if left is not None and left <= 0:
                        return None
                    self._cond.wait(left)
            finally:
                self._idle -= 1
            job = self._jobs.popleft()
            job.state = RUNNING
            job.started_at = time.monotonic()
            return job

    def remove(self, job: Job) -> bool:
        with self._cond:
            try:
                self._jobs.remove(job)
            except ValueError:
                return False
            return True

    def position(self, job: Job) -> int | None:
        with self._cond:
            try:
                return self._jobs.index(job)
            except ValueError:
                return None

    def __len__(self) -> int:
        with self._cond:
            return len(self._jobs)

    def close(self) -> list[Job]:
        """Refuse new jobs, wake the workers and hand back the jobs that never started."""
        with self._cond:
            self._closed = True
            drained = list(self._jobs)
            self._jobs.clear()
            self._cond.notify_all()
            return drained


def pipeline_kwargs(req: Request, max_seconds: float) -> dict[str, Any]:
    """Keyword arguments for `pipe.run(req.op, ...)`: the wire params plus audio and melody."""
    kwargs = {k: v for k, v in req.params.items() if k != "track"}
    for name, audio in req.audio.items():
        if name != "hum":
            kwargs[name] = audio
    melody = _melody(req)
    if melody is not None:
        kwargs["melody"] = melody
    if operation(req.op).length == ASKED and "seconds" not in kwargs:
        bars = kwargs.get("bars")
        source = "default length" if melody is None else "midi melody" if req.midi is not None else "hummed take"
        source = f"{bars} bars" if bars is not None else source
        seconds = generate_seconds(None, melody, bars, kwargs.get("bpm"), kwargs.get("beats_per_bar"))
        if seconds > max_seconds:
            raise ReverieError(
                f"the {source} lasts {seconds:.2f} s; this server allows at most {max_seconds:g} s per request",
                field="bars" if bars is not None else "seconds",
                code=P.TOO_LARGE,
            )
        req.seconds = seconds
        if bars is None:  # bars: the pipeline counts them out
            kwargs["seconds"] = seconds
    return kwargs


def _melody(req: Request) -> Any:
    track = req.params.get("track")
    if req.midi is None and track is not None:
        raise ReverieError("track selects a track of the midi payload; send midi with it", field="track")
    if req.midi is None and "hum" not in req.audio:
        return None
    from reverie.models.melody import Melody

    field_name = "midi" if req.midi is not None else "hum"
    try:
        if req.midi is not None:
            return Melody.from_midi(req.midi, track=track)
        return Melody.from_hum(req.audio["hum"])
    except ReverieError:
        raise
    except Exception as exc:  # a parser's own exception for bytes that are not a MIDI file
        raise ReverieError(f"{field_name} could not be read: {type(exc).__name__}: {exc}", field=field_name) from None
