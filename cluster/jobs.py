"""`reverie serve --ray`: the bridge's jobs on Ray actors, so one server fronts many machines.

The ZeroMQ front (protocol, validation, queue, limits, CURVE) is the same server; only where a job runs
changes (bridge/runners.py). Each `JobWorker` actor loads the model once and runs one job at a time; the
server has one worker thread per actor. A job's progress comes back step by step through a Ray streaming
generator, and the server's thread forwards each step to the client as it does for a local job. Cancelling
sets a flag on the actor (a second actor slot serves `cancel` while the job runs) that the pipeline's step
callback reads, so the job stops at the end of the step it is in, as a local job does.
"""

from __future__ import annotations

import os
import queue
import threading
import uuid
from typing import Any

from reverie.models.errors import Cancelled, ReverieError

from .model import ModelActor, ModelSource, ship_model
from .runtime import RESTART_WAIT_S, await_ready, capacity, import_ray

SLOTS = 2  # one job plus `cancel`
POLL_S = 0.05  # how often a waiting server thread looks at the job's cancel flag
READY_TIMEOUT_S = 600.0
INTERNAL = "internal"  # bridge.protocol.INTERNAL (not imported: actors need no zmq)


class JobWorker(ModelActor):
    """A Ray actor: one pipeline, one job at a time, cancellable between steps."""

    def __init__(self, model: ModelSource, threads: int):
        super().__init__(model, threads)
        self._steps: dict[str, int] = {}  # each running job's last finished step

    def ready(self) -> dict:
        import ray

        return {"node": ray.util.get_node_ip_address(), "pid": os.getpid(), "threads": self.threads}

    def cancel(self, token: str) -> int:
        """Stop job `token` at the end of the step it is in; returns the last step it had finished."""
        super().cancel(token)
        return self._steps.get(token, 0)

    def run(self, token: str, op: str, kwargs: dict):
        """Yield ("step", step, total) after every step, then ("result", samples, rate), ("cancelled",) or
        ("error", message, field, code)."""
        from reverie.render.engine import torch_threads

        events: queue.Queue = queue.Queue()

        def callback(step: int, total: int) -> bool:
            self._steps[token] = int(step)
            events.put(("step", int(step), int(total)))
            return token not in self._cancelled

        def work() -> None:
            try:
                with torch_threads(self.threads):
                    out = self.pipe.run(op, callback=callback, **kwargs)
                events.put(("result", out.samples, out.sample_rate))
            except Cancelled:
                events.put(("cancelled",))
            except ReverieError as exc:
                events.put(("error", exc.message, exc.field, exc.code))
            except BaseException as exc:
                events.put(("error", f"internal error: {type(exc).__name__}: {exc}", None, INTERNAL))

        thread = threading.Thread(target=work, name=f"job-{token[:8]}", daemon=True)
        thread.start()
        try:
            while True:
                item = events.get()
                yield item
                if item[0] != "step":
                    return
        finally:
            self._cancelled.add(token)  # the server stopped reading: stop the job too
            thread.join(timeout=5)
            if not thread.is_alive():
                self._cancelled.discard(token)
                self._steps.pop(token, None)


class RayRunner:
    """bridge.runners.Runner on Ray: `workers` JobWorker actors of `threads` CPUs each."""

    def __init__(self, model_spec, model_hash: str, workers: int, threads: int, address: str):
        ray = self.ray = import_ray()
        self.address = address
        self.threads = threads
        fit, self.nodes = capacity(threads)
        if fit < 1:
            raise ReverieError(
                f"--ray: no node has {threads} CPUs for one job (nodes: {self.nodes}); lower --threads", field="ray"
            )
        Worker = ray.remote(JobWorker).options(
            num_cpus=threads, max_concurrency=SLOTS, max_restarts=-1, max_task_retries=0
        )
        model = ship_model(model_spec, model_hash)
        self.actors = [Worker.remote(model, threads) for _ in range(workers)]
        try:
            # Asked again every few seconds: a call to an actor lost while it loaded may never be answered.
            self.workers = [await_ready(ray, a, READY_TIMEOUT_S) for a in self.actors]
        except Exception as exc:
            self.close()
            raise ReverieError(f"--ray: a worker could not start: {str(exc).strip()[:300]}", field="ray") from None
        self.free: queue.Queue = queue.Queue()
        for actor in self.actors:
            self.free.put(actor)

    def run(self, op: str, kwargs: dict, progress, cancel: threading.Event) -> Any:
        """The job on a free actor. One found lost before the job made a step (killed while idle) is sent
        to restart and the job waits for the next free one; one lost mid-job fails the job, saying so."""
        from .render import lost_errors

        while True:
            actor = self.free.get()  # the server has one thread per actor: one is free, or will be
            started = threading.Event()
            try:
                result = self._run_on(actor, op, kwargs, progress, cancel, started)
            except lost_errors() as exc:
                self._back_when_ready(actor)
                if not started.is_set() and not cancel.is_set():
                    continue
                reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
                raise ReverieError(
                    f"the Ray worker running this job was lost ({reason}); Ray is restarting it, and a job "
                    "sent again waits for a worker",
                    code=INTERNAL,
                ) from None
            except BaseException:
                self.free.put(actor)
                raise
            self.free.put(actor)
            return result

    def _run_on(self, actor, op: str, kwargs: dict, progress, cancel: threading.Event, started: threading.Event):
        from reverie.models.audio import Audio

        ray = self.ray
        token = uuid.uuid4().hex
        told = None  # the cancel call's answer: the step the job had finished when it arrived

        def stop() -> None:
            nonlocal told
            if told is None:
                told = actor.cancel.remote(token)

        stream = actor.run.remote(token, op, kwargs)
        while True:
            ready, _ = ray.wait([stream], timeout=POLL_S)
            if cancel.is_set():  # between steps too: the actor stops at the end of the step it is in
                stop()
            if not ready:
                continue
            try:
                item = ray.get(next(stream))
            except StopIteration:
                raise ReverieError("the Ray worker ended the job without an answer", code=INTERNAL) from None
            started.set()
            if item[0] == "step":
                if progress(item[1], item[2]) is False:
                    stop()
            elif item[0] == "result":
                return Audio(item[1], item[2])
            elif item[0] == "cancelled":
                raise Cancelled(heard_at=None if told is None else ray.get(told))
            else:
                raise ReverieError(item[1], field=item[2], code=item[3])

    def _back_when_ready(self, actor) -> None:
        """A lost actor rejoins the free queue once Ray has restarted it (jobs queue meanwhile), and `info`
        says so: "restarting", then the new process, or "lost" if it never comes back."""
        index = self.actors.index(actor)
        self.workers[index] = {**self.workers[index], "state": "restarting"}

        def wait() -> None:
            try:
                self.workers[index] = await_ready(self.ray, actor, RESTART_WAIT_S)
            except Exception as exc:
                self.workers[index] = {**self.workers[index], "state": "lost", "reason": str(exc)[:200]}
                return
            self.free.put(actor)

        threading.Thread(target=wait, name="ray-restart", daemon=True).start()

    def describe(self) -> dict:
        """`info`'s account of the cluster: where each worker runs."""
        _, nodes = capacity(self.threads)
        return {"ray": {"address": self.address, "nodes": nodes, "workers": self.workers}}

    def close(self) -> None:
        for actor in self.actors:
            try:
                self.ray.kill(actor, no_restart=True)
            except Exception:
                pass
