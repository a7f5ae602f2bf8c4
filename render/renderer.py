"""Rendering sets: plan (validate, resolve, decide what to reuse), then render stems and the mixdown.

One run per set folder at a time (a lock file). Every output is written under
a temp name and renamed when complete; leftovers of a killed run (hidden
`.*.partial*` files) are removed when the next run starts. The manifest is
saved after every stem, so whatever finished before an interruption is kept
and reused.
"""
from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from reverie.models.errors import ReverieError

from .manifest import RENDER_VERSION, Manifest, cache_key, sha256_file, still_valid
from .mixdown import NAME as MIXDOWN
from .mixdown import render_mixdown
from .model_check import check_with_pipeline
from .preset import Preset, StemSpec
from .stems import render_stem, resolved_params, set_frames

LOCK = ".render.lock"
CACHE = ".cache"  # under the output folder: hum transcriptions


@dataclass
class StemPlan:
    stem: StemSpec
    params: dict
    key: str
    steps: int
    action: str  # "render", "reuse", or "skip" (not selected by --only)


@dataclass
class SetPlan:
    preset: Preset
    folder: Path
    frames: int
    stems: list[StemPlan]
    mix_key: str
    set_info: dict
    mix_action: str = "render"
    manifest: Manifest | None = field(default=None, repr=False)

    @property
    def to_render(self) -> list[StemPlan]:
        return [s for s in self.stems if s.action == "render"]


def set_info(preset: Preset, frames: int) -> dict:
    s = preset.set
    return {"name": s.name, "sample_rate": s.sample_rate, "bit_depth": s.bit_depth, "format": s.format,
            "channels": 2, "frames": frames, "seconds": frames / s.sample_rate, "seed": s.seed,
            "fade_in": s.fade_in, "fade_out": s.fade_out, "target": s.target.as_dict()}


def plan_set(preset: Preset, pipe, out_dir: Path, only: set[str] | None = None, force: bool = False,
             dry_run: bool = False) -> SetPlan:
    """Validate against the model, resolve every stem and decide what to render. Renders nothing.

    A dry run reads the hum-transcription cache but does not add to it, so it writes nothing at all.
    """
    steps = check_with_pipeline(preset, pipe, cache_dir=out_dir / CACHE, write_cache=not dry_run)
    frames = set_frames(preset)
    info = set_info(preset, frames)
    folder = out_dir / preset.set.name
    manifest = Manifest(folder)
    plans = []
    hashes: dict[str, str] = {}
    for stem in preset.stems:
        inputs = {}
        for key in ("midi", "hum", "source"):
            if key in stem.paths:
                inputs[key] = _hash(stem.paths[key], hashes)
        for i, path in enumerate(stem.paths.get("sources", [])):
            inputs[f"sources[{i}]"] = _hash(path, hashes)
        for effect in stem.effects:
            for value in list(effect.params.values()) + [effect.path]:
                if isinstance(value, str) and os.path.isfile(value):
                    inputs[f"{effect.key}:{Path(value).name}"] = _hash(value, hashes)
        params = resolved_params(stem, preset.set, pipe.defaults, inputs)
        key = cache_key(pipe.model_hash, {k: v for k, v in info.items() if k != "seed"}, params)
        previous = manifest.previous_stem(stem.name)
        if only is not None and stem.name not in only:
            action = "skip"
        elif not force and still_valid(previous, key, folder):
            action = "reuse"
        else:
            action = "render"
        plans.append(StemPlan(stem, params, key, steps[stem.name], action))
    mix_inputs = [(p.stem.name, p.key, float(p.stem.values.get("gain_db") or 0.0)) for p in plans]
    mix_key = cache_key(pipe.model_hash, info, mix_inputs, [e.describe() for e in preset.mix.effects],
                        preset.mix.target.as_dict())
    plan = SetPlan(preset, folder, frames, plans, mix_key, info, manifest=manifest)
    if not preset.mix.enabled:
        plan.mix_action = "off"
    elif not force and still_valid(manifest.previous_mixdown(), mix_key, folder) and not plan.to_render:
        plan.mix_action = "reuse"
    return plan


def _hash(path: str, cache: dict[str, str]) -> str:
    if path not in cache:
        cache[path] = sha256_file(path)
    return cache[path]


# --- progress ----------------------------------------------------------------------

class Progress:
    """tqdm bars: one for all stems of the run (denoising steps), one per stem being rendered."""

    def __init__(self, total_steps: int, enabled: bool = True):
        from tqdm import tqdm

        self._tqdm = tqdm
        self.enabled = enabled
        self.lock = threading.Lock()
        self.overall = tqdm(total=total_steps, unit="step", desc="all stems", position=0, disable=not enabled,
                            dynamic_ncols=True, file=sys.stderr)
        self.bars: dict[str, object] = {}
        self.done: dict[str, int] = {}
        self.slots: list[str | None] = []

    def start(self, name: str, total: int) -> None:
        with self.lock:
            slot = self.slots.index(None) if None in self.slots else len(self.slots)
            if slot == len(self.slots):
                self.slots.append(None)
            self.slots[slot] = name
            self.bars[name] = self._tqdm(total=total, unit="step", desc=name, position=slot + 1, leave=False,
                                         disable=not self.enabled, dynamic_ncols=True, file=sys.stderr)
            self.done[name] = 0

    def step(self, name: str, step: int, total: int) -> None:
        with self.lock:
            bar = self.bars.get(name)
            if bar is None:
                return
            delta = step - self.done[name]
            self.done[name] = step
            bar.update(delta)
            self.overall.update(delta)

    def phase(self, name: str, text: str) -> None:
        with self.lock:
            if name in self.bars:
                self.bars[name].set_postfix_str(text)

    def finish(self, name: str, line: str) -> None:
        with self.lock:
            bar = self.bars.pop(name, None)
            if bar is not None:
                bar.close()
                self.slots[self.slots.index(name)] = None
            self.overall.write(line, file=sys.stderr) if self.enabled else None

    def close(self) -> None:
        for bar in list(self.bars.values()):
            bar.close()
        self.overall.close()


# --- rendering -------------------------------------------------------------------------

class SetLock:
    """An exclusive lock on a set folder (released when the process ends, however it ends)."""

    def __init__(self, folder: Path):
        self.path = folder / LOCK
        self.file = None

    def __enter__(self):
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.path, "w")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.file.close()
            raise ReverieError(f"another render is writing {self.path.parent}; wait for it or use another -o folder",
                               field="output") from None
        return self

    def __exit__(self, *exc):
        self.file.close()


def clean_partials(folder: Path) -> list[str]:
    """Remove temp files a killed run left (hidden names containing `.partial`)."""
    removed = []
    for path in folder.glob(".*.partial*"):
        path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed


def render_set(plan: SetPlan, pipe, *, model_spec=None, jobs: int = 1, progress: Progress | None = None,
               log=print) -> dict:
    """Render what the plan says, keep the manifest current after every stem, then the mixdown."""
    preset, folder = plan.preset, plan.folder
    folder.mkdir(parents=True, exist_ok=True)
    with SetLock(folder):
        clean_partials(folder)
        manifest = plan.manifest
        manifest.start({
            "preset": {"file": str(preset.path), "sha256": sha256_file(preset.path)},
            "model": {"spec": str(model_spec) if model_spec is not None else "default", "hash": pipe.model_hash},
            "renderer_version": RENDER_VERSION,
            "set": plan.set_info,
        })
        # Keep every still-valid entry from before, so an interrupted run loses nothing it had.
        for p in plan.stems:
            previous = manifest.previous_stem(p.stem.name)
            if p.action in ("reuse", "skip") and previous and still_valid(previous, p.key, folder):
                manifest.data["stems"][p.stem.name] = previous
        manifest.save()
        started = time.perf_counter()
        todo = plan.to_render
        if jobs > 1 and len(todo) > 1:
            _render_parallel(plan, todo, model_spec, pipe.model_hash, jobs, progress, manifest)
        else:
            for p in todo:
                entry = _render_one(pipe, plan, p, progress)
                manifest.set_stem(p.stem.name, entry)
                _report(progress, log, plan, p, entry)
        stems_s = time.perf_counter() - started
        mix_entry = _mixdown(plan, manifest, progress, log)
        manifest.data["run"] = {
            "rendered": [p.stem.name for p in todo],
            "reused": [p.stem.name for p in plan.stems if p.action == "reuse"],
            "skipped": [p.stem.name for p in plan.stems if p.action == "skip"],
            "mixdown": plan.mix_action,
            "stems_wall_s": round(stems_s, 3),
            "wall_s": round(time.perf_counter() - started, 3),
            "jobs": jobs,
        }
        manifest.save()
        return {"rendered": len(todo), "mixdown": mix_entry is not None}


def _render_one(pipe, plan: SetPlan, p: StemPlan, progress: Progress | None) -> dict:
    name = p.stem.name
    if progress:
        progress.start(name, p.steps)

    def callback(step: int, total: int):
        if progress:
            progress.step(name, step, total)

    def phase(text: str):
        if progress:
            progress.phase(name, text)

    return render_stem(pipe, plan.preset, p.stem, p.params, p.key, plan.frames, plan.folder, callback, phase)


def _report(progress: Progress | None, log, plan: SetPlan, p: StemPlan, entry: dict) -> None:
    m = entry["measured"]
    line = (f"{plan.preset.set.name}/{entry['file']}: {entry['seconds']:.1f} s, {m['loudness_lufs']} LUFS, "
            f"{m['true_peak_dbtp']} dBTP, {entry['timings']['total_s']:.1f} s")
    if progress:
        progress.finish(p.stem.name, line)
    else:
        log(line)


def _mixdown(plan: SetPlan, manifest: Manifest, progress, log) -> dict | None:
    preset = plan.preset
    if plan.mix_action == "off":
        return None
    entries = manifest.data["stems"]
    missing = [p.stem.name for p in plan.stems if p.stem.name not in entries or entries[p.stem.name]["key"] != p.key]
    if missing:
        plan.mix_action = "skipped"
        log(f"{preset.set.name}: mixdown skipped, not rendered yet: {', '.join(missing)}")
        return None
    if plan.mix_action == "reuse":
        manifest.set_mixdown(manifest.previous_mixdown())
        return manifest.data["mixdown"]
    stem_files = [(p.stem.name, plan.folder / entries[p.stem.name]["file"], float(p.stem.values.get("gain_db") or 0.0))
                  for p in plan.stems]
    if progress:
        progress.phase(MIXDOWN, "mixing")
    entry = render_mixdown(preset, plan.folder, stem_files, plan.frames, plan.mix_key)
    manifest.set_mixdown(entry)
    m = entry["measured"]
    line = (f"{preset.set.name}/{entry['file']}: {entry['seconds']:.1f} s, {m['loudness_lufs']} LUFS, "
            f"{m['true_peak_dbtp']} dBTP")
    if progress and progress.enabled:
        progress.overall.write(line, file=sys.stderr)
    else:
        log(line)
    return entry


# --- parallel stems (--jobs N) ---------------------------------------------------------

_WORKER: dict = {}


def _worker_init(model_spec, threads: int, queue) -> None:
    import signal  # noqa: I001 (reverie before torch, below)

    from reverie.models.pipeline import load_pipeline  # models first: it sets torch's thread wait policy

    import torch

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it stops the pool on Ctrl-C
    torch.set_num_threads(threads)

    _WORKER["pipe"] = load_pipeline(model_spec)
    _WORKER["queue"] = queue


def _worker_render(preset_path: str, stem_name: str, params: dict, key: str, frames: int, folder: str,
                   model_hash: str) -> dict:
    from .inputs import load_inputs
    from .preset import load_preset

    pipe, queue = _WORKER["pipe"], _WORKER["queue"]
    if pipe.model_hash != model_hash:
        raise ReverieError(f"worker loaded model {pipe.model_hash}, expected {model_hash}", field="model")
    preset = load_preset(preset_path)
    stem = preset.stem(stem_name)
    stem.inputs = load_inputs(stem, preset.set.sample_rate, Path(folder).parent / CACHE)

    def callback(step: int, total: int):
        queue.put(("step", stem_name, step, total))

    def phase(text: str):
        queue.put(("phase", stem_name, text))

    return render_stem(pipe, preset, stem, params, key, frames, Path(folder), callback, phase)


def _render_parallel(plan: SetPlan, todo: list[StemPlan], model_spec, model_hash: str, jobs: int,
                     progress: Progress | None, manifest: Manifest) -> None:
    import multiprocessing as mp
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    context = mp.get_context("spawn")
    queue = context.Queue()
    threads = max(1, (os.cpu_count() or 1) // jobs)
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
    pool = ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=context, initializer=_worker_init,
                               initargs=(model_spec, threads, queue))
    interrupted = False
    try:
        running = {}
        for p in todo:
            future = pool.submit(_worker_render, str(plan.preset.path), p.stem.name, p.params, p.key, plan.frames,
                                 str(plan.folder), model_hash)
            running[future] = p
            if progress:
                progress.start(p.stem.name, p.steps)
        while running:
            finished, _ = wait(list(running), return_when=FIRST_COMPLETED)
            for future in finished:
                p = running.pop(future)
                entry = future.result()
                manifest.set_stem(p.stem.name, entry)
                _report(progress, print, plan, p, entry)
    except BaseException:
        interrupted = True  # Ctrl-C, a kill or a failed stem: stop the workers now, keep what finished
        for process in list((pool._processes or {}).values()):
            process.terminate()
        raise
    finally:
        pool.shutdown(wait=not interrupted, cancel_futures=True)
        stop.set()
        reader.join(timeout=1)


def describe_plan(plan: SetPlan) -> list[str]:
    """Lines for --dry-run: what would be rendered and reused, and where."""
    s = plan.preset.set
    lines = [f"{plan.preset.path}: set {s.name!r}, {plan.frames / s.sample_rate:.1f} s at {s.sample_rate} Hz, "
             f"{s.format} {s.bit_depth}-bit -> {plan.folder}/"]
    for p in plan.stems:
        seconds = p.params.get("seconds")
        style = p.params.get("style")
        what = p.stem.op + (f" {seconds:g} s" if seconds else "") + (f", style {style}" if style else "")
        seed = p.params.get("seed")
        lines.append(f"  {p.action:<6} {p.stem.name}.{s.format}  ({what}, seed {seed}, {p.steps} steps)")
    lines.append(f"  {plan.mix_action:<6} {MIXDOWN}.{s.format}")
    return lines

