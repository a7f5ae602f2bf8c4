"""Where the server's jobs run: the one interface between a worker thread and the model.

The server (server.py) owns the protocol, validation, the queue, progress forwarding and cancellation; a
runner only runs one prepared job: `run(op, kwargs, progress, cancel) -> Audio`. `progress(step, total)` is
called after every denoising step and returns False once the job should stop; `cancel` is the job's own
flag, set by a client's `cancel`, a lost client or a shutdown, for a runner that can act on it between
steps. Raising `Cancelled` means the job stopped at a step boundary; `ReverieError` is an answer for the
client.

`LocalRunner` runs jobs here, on the worker thread, on the pipeline in memory (the default). The Ray runner,
reverie.cluster.jobs.RayRunner, runs them on Ray actors across a cluster (`reverie serve --ray`).
"""

from __future__ import annotations

import threading
from typing import Any, Callable, Protocol

Progress = Callable[[int, int], bool]


class Runner(Protocol):
    def run(self, op: str, kwargs: dict, progress: Progress, cancel: threading.Event) -> Any: ...

    def describe(self) -> dict | None:
        """Extra `info` fields (where the workers are), or None."""

    def close(self) -> None: ...


class LocalRunner:
    """Jobs on this process's worker threads, sharing the one pipeline (its schedulers are per call)."""

    def __init__(self, pipe: Any):
        self.pipe = pipe

    def run(self, op: str, kwargs: dict, progress: Progress, cancel: threading.Event) -> Any:
        return self.pipe.run(op, callback=progress, **kwargs)  # progress returns False once `cancel` is set

    def describe(self) -> dict | None:
        return None

    def close(self) -> None:
        pass
