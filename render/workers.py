"""Stems rendered in parallel (`--jobs N`): worker processes that render under temp names and die with the parent.

A worker never renames anything into place: it returns the stem's entry and
the renames (`write.Output`), and the parent, which holds the set's lock,
publishes them. A worker whose parent is gone (SIGKILL gives the parent no
chance to stop it) is killed by the kernel (Linux: prctl PR_SET_PDEATHSIG)
and, as a second line on every system, exits itself when a watcher thread
sees that its parent changed, so no orphan keeps writing into a folder that a
new run now owns.
"""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

from reverie.models.errors import ReverieError

PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
PARENT_POLL_S = 0.2

_WORKER: dict = {}


def die_with_parent(parent_pid: int) -> None:
    """Make this process end when `parent_pid` does."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent_pid:  # the parent died before the signal was armed
        os._exit(1)

    def watch():
        while os.getppid() == parent_pid:
            time.sleep(PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()


def _worker_init(model_spec, threads: int, queue, parent_pid: int) -> None:
    die_with_parent(parent_pid)
    from reverie.models.pipeline import load_pipeline  # models first: it sets torch's thread wait policy

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it stops the pool on Ctrl-C
    import torch

    torch.set_num_threads(threads)  # the count the cache keys record (engine.stem_threads)
    _WORKER["pipe"] = load_pipeline(model_spec)
    _WORKER["queue"] = queue


def _worker_render(
    preset_path: str,
    stem_name: str,
    params: dict,
    key: str,
    frames: int,
    folder: str,
    model_hash: str,
    cache_dir: str,
    prefix: bool,
):
    from .inputs import load_inputs
    from .preset import load_preset
    from .stems import render_stem

    pipe, queue = _WORKER["pipe"], _WORKER["queue"]
    if pipe.model_hash != model_hash:
        raise ReverieError(f"worker loaded model {pipe.model_hash}, expected {model_hash}", field="model")
    preset = load_preset(preset_path)
    preset.set.prefix = prefix  # `--prefix` is not in the file
    stem = preset.stem(stem_name)
    stem.inputs = load_inputs(stem, preset.set.sample_rate, Path(cache_dir), write_cache=False)

    def callback(step: int, total: int):
        queue.put(("step", stem_name, step, total))

    def phase(text: str):
        queue.put(("phase", stem_name, text))

    return render_stem(pipe, preset, stem, params, key, frames, Path(folder), callback, phase)


def render_parallel(
    plan, todo: list, model_spec, model_hash: str, jobs: int, threads: int, progress, cache_dir: Path, on_done
) -> None:
    """Render the `todo` stem plans in `jobs` workers; `on_done(stem_plan, output)` runs in this process."""
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    context = mp.get_context("spawn")
    queue = context.Queue()
    stop = threading.Event()

    def pump():
        while not stop.is_set():
            try:
                message = queue.get(timeout=0.2)
            except Exception:
                continue
            if progress and message[0] == "step":
                progress.step(message[1], message[2], message[3])
            elif progress and message[0] == "phase":
                progress.phase(message[1], message[2])

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(todo)),
        mp_context=context,
        initializer=_worker_init,
        initargs=(model_spec, threads, queue, os.getpid()),
    )
    interrupted = False
    try:
        running = {}
        for p in todo:
            future = pool.submit(
                _worker_render,
                str(plan.preset.path),
                p.stem.name,
                p.params,
                p.key,
                plan.frames,
                str(plan.folder),
                model_hash,
                str(cache_dir),
                plan.preset.set.prefix,
            )
            running[future] = p
            if progress:
                progress.start(p.stem.name, p.steps)
        while running:
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in finished:
                on_done(running.pop(future), future.result())
    except BaseException:
        interrupted = True  # Ctrl-C, a kill or a failed stem: stop the workers now, keep what finished
        for process in list((pool._processes or {}).values()):
            process.terminate()
        raise
    finally:
        pool.shutdown(wait=not interrupted, cancel_futures=True)
        stop.set()
        reader.join(timeout=1)
