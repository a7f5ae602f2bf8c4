"""`render --ray`: every stem of every set on a pool of Ray actors; this process writes, publishes and mixes.

Each actor (`stem_worker.StemWorker`) loads the model once and takes one stem at a time; one thread here per
actor feeds it stems from a shared queue and turns the audio it streams back into the stem's files through
the same path as `--jobs 1` (`render.stems.render_stem` with the actor's audio as its source, then
`render.write`), so the bytes are the same. Files are published (renamed into place) and the manifest
updated only by the main thread, which holds every set's lock; a set's mixdown runs as soon as all of its
stems are done, while other sets' stems keep rendering.

A worker that dies (a killed process, a lost node) loses only its temp files: its stem goes back on the
queue and is tried again, on its restarted actor (Ray restarts it) or any other, up to `ATTEMPTS` times in
all; what still failed is reported at the end and kept out of the mixdown. Ctrl-C kills every actor, so no
task keeps running on the cluster, and the temp files of the stems in flight are removed.
"""

from __future__ import annotations

import collections
import queue
import threading
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field

from reverie.models.errors import ReverieError

from .model import ship_model
from .runtime import RESTART_WAIT_S, await_ready, capacity, import_ray
from .stem_worker import SLOTS, StemWorker

ATTEMPTS = 3  # tries per stem when its worker is lost, the first included
AHEAD = 4  # audio blocks a stream may hold in the object store before the actor waits for this process
READY_TIMEOUT_S = 600.0  # loading the model on a cold node
POLL_S = 0.2


class LostWorker(Exception):
    """The actor rendering a stem died or became unreachable: worth another try."""


class StemFailed(Exception):
    """The stem itself failed (the same would happen again): reported, not retried."""


class Stopped(Exception):
    pass


@dataclass(eq=False)
class Task:
    run: object  # render.renderer.SetRun
    plan: object  # its StemPlan
    attempts: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.run.plan.preset.set.name}/{self.plan.stem.name}"


def lost_errors() -> tuple[type[BaseException], ...]:
    """Ray's exceptions for a worker, node or object that went away (not for a failure in our own code)."""
    import ray.exceptions as E

    names = ("RayActorError", "WorkerCrashedError", "NodeDiedError", "ObjectLostError", "ObjectFetchTimedOutError")
    return tuple(getattr(E, n) for n in names if hasattr(E, n))


def render_sets_on_ray(
    plans: list, pipe, *, model_spec, jobs: int, progress=None, log=print, warn=None, attempts: int = ATTEMPTS
) -> dict:
    """Render every stem of `plans` on Ray actors (Ray must be connected: runtime.connect), then each mixdown.

    Returns {"workers": [...], "retried": {stem: [reasons]}, "failed": {stem: reason}}; raises ReverieError
    naming the failed stems after every set is finished as far as it can be.
    """
    from reverie.render.renderer import SetRun

    warn = warn or log
    pool = StemPool(pipe, model_spec, plans[0].engine, progress, warn, attempts)
    label = len(plans) > 1
    with ExitStack() as stack:
        runs = [
            stack.enter_context(
                SetRun(
                    plan,
                    pipe,
                    model_spec=model_spec,
                    progress=progress,
                    log=log,
                    warn=warn,
                    label=f"{plan.preset.set.name}/" if label else "",
                )
            )
            for plan in plans
        ]
        tasks = [Task(run, p) for run in runs for p in run.plan.to_render]
        try:
            pool.run(tasks, runs, jobs)
        finally:
            pool.close()
    report = pool.report()
    if report["failed"]:
        lines = "; ".join(f"{name}: {reason}" for name, reason in report["failed"].items())
        raise ReverieError(f"{len(report['failed'])} stem(s) failed on Ray: {lines}", field="ray")
    return report


class StemPool:
    """The actors, a thread here per actor, and the queue of stems they share."""

    def __init__(self, pipe, model_spec, facts: dict, progress, warn, attempts: int):
        self.ray = import_ray()
        self.pipe, self.model_spec, self.facts = pipe, model_spec, facts
        self.threads = facts["threads"]
        self.progress, self.warn, self.attempts = progress, warn, attempts
        self.actors: list = []
        self.workers: list[dict] = []
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.queue: collections.deque[Task] = collections.deque()
        self.results: queue.Queue = queue.Queue()
        self.retried: dict[str, list[str]] = {}
        self.failed: dict[str, str] = {}
        self.drivers: list[threading.Thread] = []

    # --- the actors -----------------------------------------------------------------

    def start(self, wanted: int) -> None:
        ray = self.ray
        fit, nodes = capacity(self.threads)
        if fit == 0:
            shown = ", ".join(f"{n['node']} ({n['cpus']} CPUs)" for n in nodes) or "none alive"
            raise ReverieError(
                f"--ray: no node can give a stem the {self.threads} CPU threads it renders on here (nodes: {shown}); "
                "use --jobs N to give each stem fewer threads (the bytes then match `render --jobs N`)",
                field="ray",
            )
        model = ship_model(self.model_spec, self.pipe.model_hash)
        Worker = ray.remote(StemWorker).options(
            num_cpus=self.threads,
            max_restarts=self.attempts,
            max_task_retries=0,  # a lost stem is tried again from here: its temp files start over
            max_concurrency=SLOTS,
        )
        self.actors = [Worker.remote(model, self.threads) for _ in range(min(wanted, fit))]
        # Each actor is asked again every few seconds rather than once: a call to one lost while it loaded
        # the model may never be answered (the render then waited its whole READY_TIMEOUT_S on a busy machine).
        try:
            self.workers = [self._ready(a, READY_TIMEOUT_S) for a in self.actors]
        except Exception as exc:
            raise ReverieError(f"--ray: a worker could not start: {_cause(exc)}", field="ray") from None
        for info in self.workers:
            theirs = {k: info["engine"][k] for k in ("torch", "cpu_isa", "threads")}
            if theirs != self.facts or info["engine"]["torch_threads"] != self.threads:
                raise ReverieError(
                    f"--ray: node {info['node']} would render with {info['engine']}, this machine's plan records "
                    f"{self.facts}; for the same bytes every node needs the same torch and CPU ISA",
                    field="ray",
                )

    def close(self) -> None:
        """Stop every actor (and so every task still running on the cluster) and wait for this side's threads."""
        self.stop.set()
        for actor in self.actors:
            try:
                self.ray.kill(actor, no_restart=True)
            except Exception:  # already gone
                pass
        for thread in self.drivers:
            thread.join(timeout=30)

    def report(self) -> dict:
        return {
            "workers": [{"node": w["node"], "pid": w["pid"], "threads": w["engine"]["threads"]} for w in self.workers],
            "retried": self.retried,
            "failed": self.failed,
        }

    # --- the run ----------------------------------------------------------------------

    def run(self, tasks: list[Task], runs: list, jobs: int) -> None:
        """Render the tasks; finish each set (mixdown, manifest) as soon as its last stem is done."""
        left = {id(run): sum(1 for t in tasks if t.run is run) for run in runs}
        for run in runs:
            if not left[id(run)]:
                self._finish(run, jobs)
        if not tasks:
            return
        self.start(len(tasks))
        self.queue.extend(tasks)
        for index, actor in enumerate(self.actors):
            thread = threading.Thread(target=self._drive, args=(actor,), name=f"ray-stems-{index}", daemon=True)
            thread.start()
            self.drivers.append(thread)
        done, total = 0, len(tasks)
        self._note(done, total)
        while done < total:
            try:
                kind, task, output = self.results.get(timeout=POLL_S)  # a timeout, so Ctrl-C gets through
            except queue.Empty:
                if not any(t.is_alive() for t in self.drivers):
                    self._orphans()
                continue
            if kind == "done":
                task.run.done(task.plan, output)
            else:
                self.failed[task.name] = output
                self.warn(f"error: {task.name}: {output}")
            done += 1
            self._note(done, total)
            left[id(task.run)] -= 1
            if not left[id(task.run)]:
                self._finish(task.run, jobs)

    def _finish(self, run, jobs: int) -> None:
        ray_run = {
            "address": self._address(),
            "workers": len(self.actors),
            "nodes": len({w["node_id"] for w in self.workers}),
        }
        names = {t: r for t, r in self.retried.items() if t.startswith(run.plan.preset.set.name + "/")}
        if names:
            ray_run["retried"] = names
        run.finish(jobs, ray=ray_run)

    def _address(self) -> str:
        try:
            return self.ray.get_runtime_context().gcs_address
        except Exception:
            return "?"

    def _orphans(self) -> None:
        """Every thread is gone (their actors could not restart): what is left on the queue fails."""
        with self.lock:
            left, self.queue = list(self.queue), collections.deque()
        for task in left:
            self.results.put(("failed", task, "no Ray worker was left to render it: " + "; ".join(task.errors)))

    def _note(self, done: int, total: int) -> None:
        if self.progress:
            self.progress.note(f"{done}/{total} stems done on {len(self.actors)} Ray worker(s)")

    # --- a thread per actor -------------------------------------------------------------

    def _take(self) -> Task | None:
        with self.lock:
            return self.queue.popleft() if self.queue else None

    def _drive(self, actor) -> None:
        while not self.stop.is_set():
            task = self._take()
            if task is None:
                return
            try:
                output = self._stem(actor, task)
            except Stopped:
                return
            except LostWorker as exc:
                if self.stop.is_set():
                    return
                task.attempts += 1
                task.errors.append(str(exc))
                self.retried.setdefault(task.name, []).append(str(exc))
                if task.attempts >= self.attempts:
                    self.results.put(("failed", task, f"its worker was lost {task.attempts} times: {exc}"))
                else:
                    self.warn(
                        f"warning: {task.name}: worker lost ({exc}); trying again ({task.attempts + 1} of "
                        f"{self.attempts})"
                    )
                    with self.lock:
                        self.queue.appendleft(task)
                if not self._restarted(actor):
                    return
                continue
            except StemFailed as exc:
                self.results.put(("failed", task, str(exc)))
                continue
            except Exception as exc:  # a write that failed here (full disk): the stem fails, the run goes on
                if self.stop.is_set():
                    return
                self.results.put(("failed", task, getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"))
                continue
            self.results.put(("done", task, output))

    def _restarted(self, actor) -> bool:
        """Wait for Ray to restart a lost actor; False when it will not come back."""
        try:
            self._ready(actor, RESTART_WAIT_S)
            return True
        except Exception:
            return False

    def _ready(self, actor, timeout: float):
        return await_ready(self.ray, actor, timeout, self.stop.is_set)

    def _stem(self, actor, task: Task):
        """Stream one stem's audio from `actor` into its temp files here: its Output (not yet published)."""
        from reverie.render.stems import render_stem

        ray, plan, p = self.ray, task.run.plan, task.plan
        name = task.run.name(p)
        token = uuid.uuid4().hex
        progress = self.progress
        if progress:
            progress.start(name, p.steps)
        stream = actor.content.options(_generator_backpressure_num_objects=AHEAD).remote(
            token, p.stem, plan.preset.set, p.params
        )

        def source():
            while True:
                ready, _ = ray.wait([stream], timeout=POLL_S)
                if self.stop.is_set():
                    raise Stopped()
                if not ready:
                    continue
                try:
                    item = ray.get(next(stream))
                except StopIteration:
                    raise LostWorker("its stream ended before the stem did") from None
                if item[0] == "step":
                    if progress:
                        progress.step(name, item[1], item[2])
                elif item[0] == "audio":
                    yield item[1]
                elif item[0] == "error":
                    raise StemFailed(item[1])
                else:  # "end"
                    return

        def phase(text: str) -> None:
            if progress:
                progress.phase(name, text)

        finished = False
        try:
            output = render_stem(
                None, plan.preset, p.stem, p.params, p.key, plan.frames, plan.folder, None, phase, source=source()
            )
            finished = True
            return output
        except lost_errors() as exc:
            raise LostWorker(_cause(exc)) from None
        finally:
            if not finished:
                if progress:
                    progress.abandon(name)
                try:
                    actor.cancel.remote(token)  # an actor still alive stops making audio nobody reads
                except Exception:
                    pass


def _cause(exc: BaseException) -> str:
    text = [line for line in str(exc).strip().splitlines() if line.strip()]
    return (text[0] if text else type(exc).__name__)[:300]
