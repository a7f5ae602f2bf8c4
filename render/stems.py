"""Rendering one stem: pipeline audio -> timeline -> effects -> fades -> raw file -> mastered file.

The audio never exists whole. A generate stem comes from `pipe.stream_generate`
(window by window, crossfaded continuation: the pipeline's own stream); every
block goes through the effect chain (state kept across blocks), pan and fades,
and on to `write.write_mastered`, which measures, masters and names the file.
"""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from reverie.models.operations import ASKED, EXTENDED, operation
from reverie.models.operations import generate_seconds as bars_or_seconds
from reverie.models.stream import fade_curve

from .call import generate_seconds, stem_call
from .effects import EffectChain
from .preset import Preset, SetSpec, StemSpec
from .schema import CHANNELS
from .write import BLOCK, Output, duration, file_entry, lufs_text, mastering, tags, write_mastered

SILENCE = 1e-7  # below this (-140 dBFS) an effect tail counts as ended...
TAIL_QUIET_SECONDS = 32.0  # ...once it has stayed there this long (longer than pedalboard's longest delay, 30 s)


# --- lengths on the timeline ---------------------------------------------------------


def content_frames(stem: StemSpec, set_spec: SetSpec) -> int:
    """How many frames the stem's own audio spans (before padding to the set's length)."""
    sr, v = set_spec.sample_rate, stem.values
    start = v.get("start") or 0.0
    if v.get("loop"):
        return round((v.get("length") or (set_spec.seconds - start)) * sr)
    spec = operation(stem.op)
    if spec.length == ASKED:
        return round(generate_seconds(stem, set_spec) * sr)
    _, audio = stem.inputs
    main = audio[spec.main_input].frames  # read at the set's rate
    return main + round(v["seconds"] * sr) if spec.length == EXTENDED else main


def model_seconds(stem: StemSpec, params: dict) -> float:
    """Seconds of audio the model made for the stem (a loop clip counts once)."""
    spec = operation(stem.op)
    if "seconds" in spec.names:  # what it makes: a generate's length (asked, or whole bars), or what continue adds
        bars = {name: params.get(name) for name in ("bars", "bpm", "beats_per_bar")}
        return float(bars_or_seconds(params.get("seconds"), **bars))
    _, audio = stem.inputs
    return audio[spec.main_input].seconds


def start_frame(stem: StemSpec, set_spec: SetSpec) -> int:
    return round((stem.values.get("start") or 0.0) * set_spec.sample_rate)


def set_frames(preset: Preset) -> int:
    """The set's length: [set].seconds, or longer if a stem reaches past it."""
    s = preset.set
    ends = [start_frame(st, s) + content_frames(st, s) for st in preset.stems]
    return max([round(s.seconds * s.sample_rate), *ends])


# --- the stem's audio ------------------------------------------------------------------


def resolved_params(
    stem: StemSpec, set_spec: SetSpec, pipe_defaults: dict, inputs_sha: dict, base: Path | None = None
) -> dict:
    """Everything the stem's audio depends on, with defaults filled in: recorded and hashed."""
    v = stem.values
    call = stem_call(stem, set_spec, pipe_defaults)
    out = {"op": call.op, **call.settings}
    for name in ("midi", "track", "channel", "hum", "hum_key", "source", "sources"):
        if v.get(name) is not None:
            out[name] = v[name]
    out.update(
        start=float(v.get("start") or 0.0),
        fade_in=float(v["fade_in"] or 0.0),
        fade_out=float(v["fade_out"] or 0.0),
        pan=float(v["pan"] or 0.0),
        loop=bool(v["loop"]),
        effects=[e.describe(base) for e in stem.effects],
        target=stem.target.as_dict(),
        inputs=inputs_sha,
    )
    if v.get("loop"):
        out.update(crossfade=loop_crossfade(stem, v), length=content_frames(stem, set_spec) / set_spec.sample_rate)
    return out


def content(pipe, stem: StemSpec, set_spec: SetSpec, params: dict, callback) -> Iterator[np.ndarray]:
    """The stem's own audio, (2, n) float32 blocks at the set's rate, in order."""
    call = stem_call(stem, set_spec, pipe.defaults)
    kwargs = call.kwargs | {"callback": callback}
    total = content_frames(stem, set_spec)
    if stem.values.get("loop"):
        clip = pipe.run(call.op, **kwargs).samples
        yield from looped(clip, round(loop_crossfade(stem, params) * set_spec.sample_rate), total)
    elif operation(call.op).streams:
        for chunk in pipe.stream(pipe.prepare(call.op, **call.kwargs), callback=callback):
            yield chunk.samples
    else:
        out = pipe.run(call.op, **kwargs).samples
        for i in range(0, out.shape[1], BLOCK):
            yield out[:, i : i + BLOCK]


def loop_crossfade(stem: StemSpec, params: dict) -> float:
    """A loop's crossfade in seconds: none for a clip of whole bars, which loops on the bar by itself."""
    return 0.0 if stem.values.get("bars") is not None else float(params["crossfade"])


def equal_power(n: int) -> tuple[np.ndarray, np.ndarray]:
    t = (np.arange(n, dtype=np.float64) + 0.5) / n
    return np.sin(t * np.pi / 2).astype(np.float32), np.cos(t * np.pi / 2).astype(np.float32)


def looped(clip: np.ndarray, crossfade: int, total: int) -> Iterator[np.ndarray]:
    """Repeat a clip to `total` frames, each repeat crossfading its head with the clip's tail.

    The first pass plays the clip up to its tail; every later pass starts with
    the tail fading out over the head fading in (equal power), so the seam is
    continuous and the loop period is len(clip) - crossfade.
    """
    n = clip.shape[1]
    crossfade = min(crossfade, n // 2)
    period = n - crossfade
    body = clip[:, :period].copy()
    if crossfade:
        fade_in, fade_out = equal_power(crossfade)
        body[:, :crossfade] = clip[:, :crossfade] * fade_in + clip[:, period:] * fade_out
    made, first = 0, True
    while made < total:
        piece = clip[:, :period] if first else body
        first = False
        for i in range(0, period, BLOCK):
            part = piece[:, i : min(i + BLOCK, period, i + total - made)]
            if part.shape[1] == 0:
                break
            made += part.shape[1]
            yield part


def apply_fades(block: np.ndarray, pos: int, length: int, fade_in: int, fade_out: int) -> np.ndarray:
    """Fade in over [0, fade_in) and out over [length - fade_out, length) of a span; block starts at pos."""
    n = block.shape[1]
    if fade_in and pos < fade_in:
        a, b = pos, min(pos + n, fade_in)
        block = block.copy()
        block[:, : b - a] *= fade_curve(fade_in)[a:b]
    if fade_out and pos + n > length - fade_out:
        a, b = max(pos, length - fade_out), min(pos + n, length)
        if b > a:
            block = block.copy()
            shape = fade_curve(fade_out)[::-1]
            block[:, a - pos : b - pos] *= shape[a - (length - fade_out) : b - (length - fade_out)]
        if pos + n > length:
            block = block.copy()
            block[:, max(length - pos, 0) :] = 0.0
    return block


def pan_gains(pan: float) -> tuple[float, float]:
    """Constant-power pan that leaves the centre at unity: (left, right) gains."""
    theta = (pan + 1.0) * math.pi / 4.0
    return math.cos(theta) * math.sqrt(2.0), math.sin(theta) * math.sqrt(2.0)


def reblock(chunks: Iterator[np.ndarray], size: int = BLOCK) -> Iterator[np.ndarray]:
    """Re-cut a stream of (channels, n) chunks into blocks of `size` frames (the last may be shorter)."""
    pending, have = [], 0
    for chunk in chunks:
        pending.append(chunk)
        have += chunk.shape[1]
        while have >= size:
            joined = np.concatenate(pending, axis=1) if len(pending) > 1 else pending[0]
            yield joined[:, :size]
            rest = joined[:, size:]
            pending, have = ([rest] if rest.shape[1] else []), rest.shape[1]
    if have:
        yield np.concatenate(pending, axis=1)


def timed(chunks: Iterator, clock: list[float]) -> Iterator:
    """Pass chunks through, adding the time spent producing them (in the pipeline) to clock[0]."""
    while True:
        t = time.perf_counter()
        try:
            chunk = next(chunks)
        except StopIteration:
            clock[0] += time.perf_counter() - t
            return
        clock[0] += time.perf_counter() - t
        yield chunk


def timeline(
    pipe,
    stem: StemSpec,
    set_spec: SetSpec,
    params: dict,
    total: int,
    callback,
    clock: list[float] | None = None,
    source: Iterator[np.ndarray] | None = None,
) -> Iterator[np.ndarray]:
    """The stem over the whole set: silence, its audio through the effects, then the effects' tail.

    Time spent inside the pipeline is added to clock[0] (the rest is the renderer's own work). `source` is the
    stem's own audio made elsewhere (`content` run by a Ray actor); without it, `content` runs here on `pipe`.
    """
    clock = clock if clock is not None else [0.0]
    sr = set_spec.sample_rate
    start = start_frame(stem, set_spec)
    own = content_frames(stem, set_spec)
    stem_in, stem_out = round(params["fade_in"] * sr), round(params["fade_out"] * sr)
    chain = EffectChain(stem.effects, sr)
    left, right = pan_gains(params["pan"])
    gains = np.array([[left], [right]], dtype=np.float32)
    set_in, set_out = round(set_spec.fade_in * sr), round(set_spec.fade_out * sr)

    def finish(block: np.ndarray, pos: int) -> np.ndarray:
        block = block * gains if params["pan"] else block
        return apply_fades(block.astype(np.float32), pos, total, set_in, set_out)

    pos = 0
    for i in range(0, start, BLOCK):  # silence before the stem starts: no need to run the effects
        n = min(BLOCK, start - i)
        yield np.zeros((CHANNELS, n), np.float32)
        pos += n
    made = 0
    own_audio = source if source is not None else content(pipe, stem, set_spec, params, callback)
    for block in reblock(timed(own_audio, clock)):
        block = block[:, : own - made]
        if block.shape[1] == 0:
            break
        block = apply_fades(block, made, own, stem_in, stem_out)
        made += block.shape[1]
        yield finish(chain(block), pos)
        pos += block.shape[1]
    if made < own:  # the pipeline promises exact lengths; pad rather than shift the timeline if not
        block = np.zeros((CHANNELS, own - made), np.float32)
        yield finish(chain(block), pos)
        pos += block.shape[1]
    quiet, needed = 0, (round(TAIL_QUIET_SECONDS * sr) if chain.board is not None else 0)
    while pos < total:
        n = min(BLOCK, total - pos)
        block = np.zeros((CHANNELS, n), np.float32)
        if quiet < needed:  # run the chain on silence until its tail has died away
            block = chain(block)
            quiet = quiet + n if float(np.abs(block).max()) <= SILENCE else 0
        yield finish(block, pos)
        pos += n


def stem_title(set_spec: SetSpec, stem: StemSpec, entry: dict) -> str:
    """The spectrogram title of a stem's manifest entry (to draw a deleted picture again)."""
    lufs = entry.get("measured", {}).get("loudness_lufs")
    return _title(set_spec, stem, int(entry.get("frames") or 0), float(lufs) if lufs is not None else -math.inf)


def _title(set_spec: SetSpec, stem: StemSpec, frames: int, lufs: float) -> str:
    return (
        f"{set_spec.name} / {stem.name}  ({stem.op}, {duration(frames / set_spec.sample_rate)}, {lufs_text(lufs)} LUFS)"
    )


def render_stem(
    pipe,
    preset: Preset,
    stem: StemSpec,
    params: dict,
    key: str,
    total: int,
    folder: Path,
    callback: Callable | None = None,
    phase: Callable[[str], None] | None = None,
    source: Iterator[np.ndarray] | None = None,
) -> Output:
    """Render one stem for folder/<name>.<format> (+ .png), under temp names: its entry and how to publish it.

    `source`: the stem's own audio (`content`) made elsewhere, e.g. on a Ray actor; `pipe` is then unused.
    """
    set_spec = preset.set
    t0 = time.perf_counter()
    clock = [0.0]

    def title(frames: int, result) -> str:
        return _title(set_spec, stem, frames, result.measured.loudness_lufs)

    written = write_mastered(
        timeline(pipe, stem, set_spec, params, total, callback, clock, source),
        folder,
        set_spec.file_stem(stem.name),
        set_spec,
        stem.target,
        title,
        on_mastering=(lambda: phase("mastering")) if phase else None,
        tags=tags(
            set_spec,
            stem.name,
            f"stem {stem.name} of set {set_spec.name} ({stem.op}, seed {params.get('seed')}, key {key[:16]})",
        ),
        reference=key[:32],
    )
    # of render_s, model_s is the time inside the pipeline
    times = {
        "render_s": written.times["render_s"],
        "model_s": clock[0],
        "master_s": written.times["master_s"],
        "spectrogram_s": written.times["spectrogram_s"],
        "total_s": time.perf_counter() - t0,
    }
    return Output(
        file_entry(written, set_spec, written.frames)
        | {
            "key": key,
            "op": stem.op,
            "content_seconds": round(content_frames(stem, set_spec) / set_spec.sample_rate, 6),
            "model_seconds": round(model_seconds(stem, params), 6),
            "seed": params.get("seed"),
            "params": params,
            **mastering(written, stem.target),
            "timings": {k: round(v, 3) for k, v in times.items()},
        },
        written.renames,
    )
