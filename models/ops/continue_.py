"""continue: the caller's audio and `seconds` more of it, the input itself kept bit-exact.

New audio starts from the session's own bars repeated at their period (groove.py), or grains of its sound
where it has none (texture.py), noised to `variation` and denoised with the session's last window as known
context; the model's change lands as a gain on those bars (touch.py). At variation 1 it is made afresh.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..audio import Audio, fit_length, to_model_rate
from ..detail import Detail
from ..groove import loop_after
from ..operations import INPAINT_SEAM_SECONDS
from ..sampling import Run, Sampling
from ..stream import Layout, StreamResampler, fade_curve, fit_frames, resampled
from ..texture import grains
from ..touch import retouch
from .session import (
    Laid,
    Session,
    finished,
    groove_lag,
    heard_samples,
    joined_after,
    loudness_held,
    nearby,
    peaks_held,
    period_samples,
)

if TYPE_CHECKING:
    from ..pipeline import PreparedCall, ReveriePipeline

# What new bars go through: no louder than the session before them, their peaks no higher than its.
FINISH = (loudness_held, peaks_held)


@dataclass(frozen=True, eq=False)
class ContinuePlan:
    """The input at the model's rate and its mel, the last whole frame the context ends on, and, when the
    session's bars are laid out after it, variation's timestep and what was laid."""

    mono: np.ndarray
    mel: torch.Tensor
    last_frame: int
    begin: int | None = None
    laid: Laid | None = None


def plan(pipe: ReveriePipeline, args, sampling: Sampling):
    mono = to_model_rate(args.audio, pipe.sample_rate)
    # The input's last frame hangs over its end; the context is the whole frames before it.
    last_frame = pipe.frontend.frames_for(len(mono)) - 1
    context = min(pipe.config.context_frames, last_frame)
    windows = pipe.windows(pipe.frontend.frames_for(math.ceil(args.seconds * pipe.sample_rate)) + 2, context)
    with torch.inference_mode():
        mel = pipe.frontend.encode(torch.from_numpy(mono))[None]
    plan = ContinuePlan(mono, mel, last_frame)
    if args.variation < 1:
        # What is laid out starts on a frame at or before the first window's, where both rate grids
        # meet: the input before it is neither denoised nor retouched.
        hop, rate = pipe.config.mel.hop_length, args.audio.sample_rate
        grid = pipe.sample_rate // math.gcd(pipe.sample_rate, rate)
        step = grid // math.gcd(grid, hop)
        laid_from = (last_frame - windows[0][0]) // step * step
        lag = groove_lag(pipe, args, mel[..., :last_frame], sampling.grid)
        laid = laid_after(pipe, args, lag, laid_from)
        if laid is not None:
            plan = replace(plan, begin=pipe.timestep(args.variation), laid=laid)
    return plan, windows, len(windows) * pipe.denoiser.steps(sampling, plan.begin)


def laid_after(pipe: ReveriePipeline, args, lag: int | None, from_frame: int) -> Laid | None:
    """The caller's audio from model frame `from_frame` on, followed by `seconds` and a little more of
    its last period looped (groove.py), the period found near `lag` frames; with no period, of grains
    of its own sound (texture.py). None where the session is too short for a grain."""
    audio, hop, rate = args.audio, pipe.config.mel.hop_length, args.audio.sample_rate
    frames = round(args.seconds * rate) + pipe.config.mel.n_fft * rate // pipe.sample_rate
    if lag is None:
        recent = nearby(audio, audio.frames, audio.frames)[0]
        new = grains([recent], recent, frames, rate, np.random.default_rng(args.seed))
        if new is None:
            return None
    else:
        period = period_samples(pipe, audio.samples[:, -heard_samples(pipe, rate) :], rate, lag, args.bpm)
        new = loop_after(audio.samples, period, frames, round(INPAINT_SEAM_SECONDS * rate))
    offset = from_frame * hop * rate // pipe.sample_rate
    laid = np.concatenate([audio.samples[:, offset:], new], axis=1)
    with torch.inference_mode():
        mono = to_model_rate(Audio(laid, rate), pipe.sample_rate)
        return Laid(laid, pipe.frontend.encode(torch.from_numpy(mono))[None], from_frame)


def run(pipe: ReveriePipeline, call: PreparedCall, run: Run) -> Audio:
    audio, plan = call.args.audio, call.plan
    mono, last_frame = plan.mono, plan.last_frame
    hop = pipe.config.mel.hop_length
    frame0 = last_frame - call.windows[0][0]
    resampler = StreamResampler(pipe.sample_rate, audio.sample_rate)
    # Begin resampling on a sample where both rate grids meet, so output samples line up exactly.
    aligned = frame0 * hop // resampler.block_in * resampler.block_in
    pieces = [resampler.push(mono[aligned : frame0 * hop])]
    mel = plan.mel
    layout = None if plan.laid is None else Layout(plan.laid.mel, plan.laid.from_frame, plan.begin)
    with torch.inference_mode():
        model_audio = list(
            pipe.decode_windows(
                run,
                call.windows,
                frame0,
                mel[..., frame0:last_frame],
                mono[frame0 * hop :],
                layout=layout,
            )
        )
        pieces += list(resampled(iter(model_audio), resampler))
    seam = audio.frames - aligned // resampler.block_in * resampler.block_out
    frames = round(call.args.seconds * audio.sample_rate)
    tail = audio.samples[:, max(0, audio.frames - seam) :]  # the input under the model's context audio
    rate = audio.sample_rate
    if layout is None:
        mid = fit_length(np.concatenate(pieces), seam + frames)
        new = finished_after(pipe, mid, tail, pipe.detail_of(tail, sample_rate=rate), rate)
    else:  # the model's change as a gain on the looped session itself: its hits, image and air (touch.py)
        laid, before, start = plan.laid.audio, plan.laid.mel[0], plan.laid.from_frame
        after = fit_frames(torch.cat([mel[..., start:last_frame], *layout.made], dim=-1), before.shape[-1])[0]
        length = (before.shape[-1] - 1) * hop  # as many frames as `before`
        resynth = fit_length(np.concatenate([mono[start * hop : frame0 * hop], *model_audio]), length)
        changed = retouch(Audio(laid, rate), before, after, resynth, pipe.frontend, call.args.variation)
        known = audio.frames - start * hop * rate // pipe.sample_rate  # the input's samples in `laid`
        new = joined_after(changed.samples[:, known : known + frames], tail, rate)
    session = Session(rate, (nearby(audio, audio.frames, audio.frames)[0],), (audio.samples,))
    new = finished(new, session, FINISH)
    return Audio(np.concatenate([audio.samples, new], axis=1), audio.sample_rate)


def finished_after(
    pipe: ReveriePipeline, mid: np.ndarray, before: np.ndarray, detail: Detail, sample_rate: int
) -> np.ndarray:
    """The part of `mid` after `before` (the caller's audio under mid's first samples), finished with
    `detail`. Over its first seam the new image and air fade in from the input's own, mirrored at the
    join, so no channel jumps there: the mid already runs on smoothly, the rest does too."""
    known = before.shape[-1]
    whole = detail.for_channels(len(before)).finish(mid, sample_rate, pipe.sample_rate)
    layer = whole[:, known:] - mid[known:]
    seam = min(round(INPAINT_SEAM_SECONDS * sample_rate), known, layer.shape[-1])
    if seam:
        own = (before[:, known - seam :] - mid[known - seam : known])[:, ::-1]
        fade = fade_curve(seam)
        layer[:, :seam] = layer[:, :seam] * fade + own * (1 - fade)
    return (mid[known:] + layer).astype(np.float32)
