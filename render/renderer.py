"""Rendering sets: plan (validate, resolve, decide what to reuse), then render stems and the mixdown.

One run per set folder at a time (a lock file). Every output is written under
a temp name and published (renamed into place) only by this process, which
holds the lock; leftovers of a killed run (hidden `.*.partial*` files) are
removed when the next run starts. Before a stem or the mixdown is made again,
its old file is removed, so a run interrupted there leaves no file under a
final name that no longer matches the preset. The manifest is saved after
every stem, so whatever finished before an interruption is kept and reused.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .engine import engine, stem_threads, torch_threads
from .inputs import write_cache_entries
from .lock import SetLock, clean_partials
from .manifest import MIXDOWN, RENDER_VERSION, Manifest, cache_key, sha256_file
from .mixdown import mix_title, render_mixdown
from .model_check import check_with_pipeline
from .preset import Preset, StemSpec
from .progress import Progress
from .stems import render_stem, resolved_params, set_frames, stem_title
from .write import Output, held_below_target, publish

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
    engine: dict
    mix_action: str = "render"
    manifest: Manifest | None = field(default=None, repr=False)
    cache_writes: list = field(default_factory=list, repr=False)  # hum transcriptions to keep, once all is valid

    @property
    def to_render(self) -> list[StemPlan]:
        return [s for s in self.stems if s.action == "render"]

    @property
    def threads(self) -> int:
        return self.engine["threads"]


def set_info(preset: Preset, frames: int) -> dict:
    s = preset.set
    return {
        "name": s.name,
        "sample_rate": s.sample_rate,
        "bit_depth": s.bit_depth,
        "format": s.format,
        "channels": 2,
        "frames": frames,
        "seconds": frames / s.sample_rate,
        "seed": s.seed,
        "fade_in": s.fade_in,
        "fade_out": s.fade_out,
        "target": s.target.as_dict(),
        "prefix": s.prefix,
    }


def plan_set(
    preset: Preset,
    pipe,
    out_dir: Path,
    only: set[str] | None = None,
    force: bool = False,
    dry_run: bool = False,
    jobs: int = 1,
) -> SetPlan:
    """Validate against the model, resolve every stem and decide what to render. Writes and renders nothing.

    New hum transcriptions are kept on the plan (`cache_writes`); `render_set` writes them.
    """
    deferred: list = []
    steps = check_with_pipeline(preset, pipe, cache_dir=out_dir / CACHE, write_cache=not dry_run, deferred=deferred)
    frames = set_frames(preset)
    info = set_info(preset, frames)
    facts = engine(stem_threads(jobs))
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
                if isinstance(value, str) and Path(value).is_file():
                    inputs[f"{effect.key}:{Path(value).name}"] = _hash(value, hashes)
        params = resolved_params(stem, preset.set, pipe.defaults, inputs, preset.base_dir)
        key = cache_key(pipe.model_hash, facts, {k: v for k, v in info.items() if k != "seed"}, params)
        if only is not None and stem.name not in only:
            action = "skip"
        elif not force and manifest.previous_valid(stem.name, key):
            action = "reuse"
        else:
            action = "render"
        plans.append(StemPlan(stem, params, key, steps[stem.name], action))
    mix_inputs = [(p.stem.name, p.key, float(p.stem.values.get("gain_db") or 0.0)) for p in plans]
    mix_key = cache_key(
        pipe.model_hash,
        info,
        mix_inputs,
        [e.describe(preset.base_dir) for e in preset.mix.effects],
        preset.mix.target.as_dict(),
    )
    plan = SetPlan(preset, folder, frames, plans, mix_key, info, facts, manifest=manifest, cache_writes=deferred)
    if not preset.mix.enabled:
        plan.mix_action = "off"
    elif not force and manifest.previous_valid(MIXDOWN, mix_key) and not plan.to_render:
        plan.mix_action = "reuse"
    return plan


def _hash(path: str, cache: dict[str, str]) -> str:
    if path not in cache:
        cache[path] = sha256_file(path)
    return cache[path]


# --- rendering -------------------------------------------------------------------------


class SetRun:
    """One set's run in the folder it owns: lock, clean, keep the manifest current as stems finish, then mix.

    `render_set` drives one set through it; the Ray path (reverie.cluster.render) holds several at once so that
    every stem of every set can be in flight, and finishes each set (its mixdown) once that set's stems are done.
    `done` and `finish` publish files: call them only from the thread that entered the run.
    """

    def __init__(
        self, plan: SetPlan, pipe, *, model_spec=None, progress: Progress | None = None, log=print, warn=None, label=""
    ):
        self.plan, self.pipe, self.model_spec = plan, pipe, model_spec
        self.progress, self.log, self.warn = progress, log, warn or log
        self.label = label  # put before stem names on progress bars (several sets at once)
        self._lock = SetLock(plan.folder)
        self.started = 0.0

    def __enter__(self) -> "SetRun":
        plan, preset = self.plan, self.plan.preset
        plan.folder.mkdir(parents=True, exist_ok=True)
        self._lock.__enter__()
        try:
            clean_partials(plan.folder)
            write_cache_entries(plan.cache_writes)
            manifest = plan.manifest
            remove_stale(plan)
            spec = str(self.model_spec) if self.model_spec is not None else "default"
            manifest.start(
                {
                    "preset": {"file": str(preset.path), "sha256": sha256_file(preset.path)},
                    "model": {"spec": spec, "hash": self.pipe.model_hash},
                    "renderer_version": RENDER_VERSION,
                    "engine": plan.engine,
                    "set": plan.set_info,
                }
            )
            # Keep every still-valid entry from before (also one a kill left pending), so an interrupted run
            # loses nothing it had; a stem rendered again with --force keeps its entry until the new file
            # replaces it.
            for p in plan.stems:
                previous = manifest.previous_valid(p.stem.name, p.key)
                if previous:
                    manifest.data["stems"][p.stem.name] = previous
                    _redraw_missing_picture(plan, previous, stem_title(preset.set, p.stem, previous))
            manifest.save()
        except BaseException:
            self._lock.__exit__(None, None, None)
            raise
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc) -> None:
        self._lock.__exit__(*exc)

    def name(self, p: StemPlan) -> str:
        """The stem's name on the progress display."""
        return self.label + p.stem.name

    def done(self, p: StemPlan, output: Output) -> None:
        """Publish a finished stem and report it."""
        _publish(self.plan.manifest, p.stem.name, output)
        _report(self.progress, self.log, self.plan, p, output.entry, self.warn, self.name(p))

    def finish(self, jobs: int, **run) -> dict:
        """The mixdown (when every stem is there), then the run's record in the manifest. `run`: more of it."""
        plan, manifest = self.plan, self.plan.manifest
        stems_s = time.perf_counter() - self.started
        mix_entry = _mixdown(plan, manifest, self.progress, self.log, self.warn)
        # The preset's order, however the stems finished (reused first, or in parallel): one manifest text.
        stems = manifest.data["stems"]
        manifest.data["stems"] = {p.stem.name: stems[p.stem.name] for p in plan.stems if p.stem.name in stems}
        todo = plan.to_render
        manifest.data["run"] = {
            "rendered": [p.stem.name for p in todo],
            "reused": [p.stem.name for p in plan.stems if p.action == "reuse"],
            "skipped": [p.stem.name for p in plan.stems if p.action == "skip"],
            "mixdown": plan.mix_action,
            "stems_wall_s": round(stems_s, 3),
            "wall_s": round(time.perf_counter() - self.started, 3),
            "jobs": jobs,
            **run,
        }
        manifest.save()
        return {"rendered": len(todo), "mixdown": mix_entry is not None}


def render_set(
    plan: SetPlan, pipe, *, model_spec=None, jobs: int = 1, progress: Progress | None = None, log=print, warn=None
) -> dict:
    """Render what the plan says, keep the manifest current after every stem, then the mixdown.

    `log` gets a line per finished output (unless a progress display shows it), `warn` (default: `log`)
    warnings that should be seen even when progress is quiet.
    """
    with SetRun(plan, pipe, model_spec=model_spec, progress=progress, log=log, warn=warn) as run:
        todo = plan.to_render
        if jobs > 1 and len(todo) > 1:
            from .workers import render_parallel

            render_parallel(
                plan,
                todo,
                model_spec,
                pipe.model_hash,
                jobs,
                plan.threads,
                progress,
                plan.folder.parent / CACHE,
                run.done,
            )
        else:
            with torch_threads(plan.threads):  # the count the cache keys record, whatever jobs ran
                for p in todo:
                    run.done(p, _render_one(pipe, plan, p, progress))
        return run.finish(jobs)


def _publish(manifest: Manifest, name: str, output: Output) -> None:
    """Record the entry as pending, rename its files into place, then record it as done (see manifest.py)."""
    manifest.set_pending(name, output.entry)
    publish(output.renames)
    if name == MIXDOWN:
        manifest.set_mixdown(output.entry)
    else:
        manifest.set_stem(name, output.entry)


def remove_stale(plan: SetPlan) -> list[str]:
    """Remove the files of every output about to be made again that no longer match the preset, and of stems
    the preset no longer has, so an interruption cannot leave them under final names. Returns the names removed."""
    manifest, fmt = plan.manifest, plan.preset.set.format
    outputs = [(p.stem.name, p.key) for p in plan.stems if p.action == "render"]
    if plan.mix_action == "render":
        outputs.append((MIXDOWN, plan.mix_key))
    names = {p.stem.name for p in plan.stems} | {MIXDOWN}
    previous = set(manifest.previous.get("stems") or {}) | set(manifest.previous.get("pending") or {})
    outputs += [(name, None) for name in sorted(previous - names)]
    removed = []
    for name, key in outputs:
        if key is not None and manifest.previous_valid(name, key):
            continue  # --force: still the right file until the new one replaces it
        file_stem = plan.preset.set.file_stem(name)
        files = {f"{file_stem}.{fmt}", f"{file_stem}.png"} if name in names else set()
        for entry in manifest.previous_entries(name):
            files |= {Path(str(entry.get(k))).name for k in ("file", "spectrogram") if entry.get(k)}
        for file in sorted(files):
            path = plan.folder / file
            if path.is_file():
                path.unlink()
                removed.append(file)
    return removed


def _redraw_missing_picture(plan: SetPlan, entry: dict, title: str) -> None:
    """A reused output whose spectrogram was deleted gets it drawn again from its audio."""
    from .spectrogram import write_spectrogram

    png = plan.folder / str(entry.get("spectrogram") or "")
    if entry.get("spectrogram") and not png.is_file():
        write_spectrogram(plan.folder / entry["file"], png, title)


def _render_one(pipe, plan: SetPlan, p: StemPlan, progress: Progress | None) -> Output:
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


def _report(
    progress: Progress | None, log, plan: SetPlan, p: StemPlan, entry: dict, warn, name: str | None = None
) -> None:
    m = entry["measured"]
    line = (
        f"{plan.preset.set.name}/{entry['file']}: {entry['seconds']:.1f} s, {m['loudness_lufs']} LUFS, "
        f"{m['true_peak_dbtp']} dBTP, {entry['timings']['total_s']:.1f} s"
    )
    if progress:
        progress.finish(name or p.stem.name, line)
    else:
        log(line)
    _warn_if_held(plan, entry, progress, warn)


def _warn_if_held(plan: SetPlan, entry: dict, progress: Progress | None, warn) -> None:
    held = held_below_target(entry)
    if held:
        line = f"warning: {plan.preset.set.name}/{held}"
        progress.overall.write(line, file=sys.stderr) if progress and progress.enabled else warn(line)


def _mixdown(plan: SetPlan, manifest: Manifest, progress, log, warn) -> dict | None:
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
        previous = manifest.previous_valid(MIXDOWN, plan.mix_key)
        _redraw_missing_picture(plan, previous, mix_title(preset.set, previous))
        manifest.set_mixdown(previous)
        return manifest.data["mixdown"]
    stem_files = [
        (p.stem.name, plan.folder / entries[p.stem.name]["file"], float(p.stem.values.get("gain_db") or 0.0))
        for p in plan.stems
    ]
    if progress:
        progress.start_frames(MIXDOWN, plan.frames, preset.set.sample_rate)
    advance = (lambda frames: progress.advance(MIXDOWN, frames)) if progress else None
    output = render_mixdown(preset, plan.folder, stem_files, plan.frames, plan.mix_key, advance)
    _publish(manifest, MIXDOWN, output)
    entry = output.entry
    m = entry["measured"]
    line = (
        f"{preset.set.name}/{entry['file']}: {entry['seconds']:.1f} s, {m['loudness_lufs']} LUFS, "
        f"{m['true_peak_dbtp']} dBTP"
    )
    if progress:
        progress.finish(MIXDOWN, line)
    if not (progress and progress.enabled):
        log(line)
    _warn_if_held(plan, entry, progress, warn)
    return entry


def describe_plan(plan: SetPlan) -> list[str]:
    """Lines for --dry-run: what would be rendered and reused, and where."""
    s = plan.preset.set
    lines = [
        f"{plan.preset.path}: set {s.name!r}, {plan.frames / s.sample_rate:.1f} s at {s.sample_rate} Hz, "
        f"{s.format} {s.bit_depth}-bit, {plan.threads} thread(s) per stem -> {plan.folder}/"
    ]
    for p in plan.stems:
        seconds = p.params.get("seconds")
        style = p.params.get("style")
        what = p.stem.op + (f" {seconds:g} s" if seconds else "") + (f", style {style}" if style else "")
        seed = p.params.get("seed")
        lines.append(f"  {p.action:<6} {s.file_stem(p.stem.name)}.{s.format}  ({what}, seed {seed}, {p.steps} steps)")
    lines.append(f"  {plan.mix_action:<6} {s.file_stem(MIXDOWN)}.{s.format}")
    return lines
