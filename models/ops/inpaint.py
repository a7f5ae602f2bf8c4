"""inpaint: a region regenerated, every sample outside it the input's own.

"trained": the model hears the known frames either side; "repaint": the training-free RePaint baseline
(Msanii §5.4). Where the session repeats, the gap starts from its own stretch a whole number of periods
away (groove.py), and the model's change lands as a gain on it (touch.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np
import torch

from ..audio import Audio, fit_length, resample, to_model_rate
from ..drift import BandAnchor
from ..groove import GapRepeat, best_copy, gap_repeat
from ..mel import unit_phase
from ..operations import INPAINT_SEAM_SECONDS, check_region
from ..sampling import Run, Sampling
from ..stream import fade_curve
from ..texture import grains
from ..touch import retouch
from .session import (
    FILL_DB,
    Laid,
    Session,
    balance_held,
    bar_frames,
    erode,
    finished,
    heard_samples,
    loudness_held,
    nearby,
    peaks_held,
    period_samples,
)

if TYPE_CHECKING:
    from ..pipeline import PreparedCall, ReveriePipeline

# What a fill goes through: the balance, loudness and peaks of the session around it.
FINISH = (balance_held, loudness_held, peaks_held)


@dataclass(frozen=True, eq=False)
class InpaintPlan:
    """The region [first, last) in the caller's samples; the model-rate crop around it (starting at sample
    `lo`), its mel `x0` and known-frame `mask`; and, when the gap is filled from a side that repeats, that
    side, variation's timestep and what was laid."""

    first: int
    last: int
    crop: np.ndarray
    lo: int
    mask: torch.Tensor
    x0: torch.Tensor
    repeat: GapRepeat | None = None
    begin: int | None = None
    laid: Laid | None = None


def plan(pipe: ReveriePipeline, args, sampling: Sampling):
    audio = args.audio
    first, last = check_region(args.start, args.end, audio.seconds, audio.sample_rate)
    crop, mask, lo = crop_around(pipe, audio, first, last)
    with torch.inference_mode():
        x0 = pipe.frontend.encode(torch.from_numpy(crop))[None]
    plan = InpaintPlan(first, last, crop, lo, mask, x0)
    if args.method == "trained" and args.variation < 1:
        repeat = gap_repeat(x0, mask[0, 0] == 0, pipe.config.mel.frame_rate, bar_frames(pipe, sampling.grid))
        laid = laid_gap(pipe, audio, replace(plan, repeat=repeat), args)
        if laid is not None:
            plan = replace(plan, repeat=repeat, begin=pipe.timestep(args.variation), laid=laid)
    return plan, (), pipe.denoiser.steps(sampling, plan.begin)


def laid_gap(pipe: ReveriePipeline, audio: Audio, plan: InpaintPlan, args) -> Laid | None:
    """The caller's audio with the region filled from its own stretch a whole number of periods away
    whose surroundings match the region's (groove.best_copy), else looped in from the side that
    repeats (groove.py); with no period either side, grains of the sound around it (texture.py); None
    where there is too little around it for a grain. Its mel is the model's over the crop."""
    first, last, rate = plan.first, plan.last, audio.sample_rate
    laid = audio.samples.copy()
    if plan.repeat is None:
        around = nearby(audio, first, last)
        new = grains(around, around[0], last - first, rate, np.random.default_rng(args.seed))
        if new is None:
            return None
        laid[:, first:last] = new
    else:
        span = heard_samples(pipe, rate)
        side = audio.samples[:, :first][:, -span:] if plan.repeat.forward else audio.samples[:, last:][:, :span]
        lag = period_samples(pipe, side, rate, plan.repeat.lag, args.bpm)
        offset = best_copy(audio.samples, first, last, lag, rate)
        if offset is None:  # no whole stretch a number of periods away: the side looped into the gap
            laid = plan.repeat.laid_audio(audio.samples, first, last, lag, round(INPAINT_SEAM_SECONDS * rate))
        else:
            laid[:, first:last] = audio.samples[:, first - offset : last - offset]
    mono = to_model_rate(Audio(laid, audio.sample_rate), pipe.sample_rate)
    crop = mono[plan.lo : plan.lo + len(plan.crop)]
    with torch.inference_mode():
        return Laid(laid, pipe.frontend.encode(torch.from_numpy(crop))[None])


def run(pipe: ReveriePipeline, call: PreparedCall, run: Run) -> Audio:
    audio, plan = call.args.audio, call.plan
    first, last, crop, mask, lo, x0 = plan.first, plan.last, plan.crop, plan.mask, plan.lo, plan.x0
    with torch.inference_mode():
        scheduler, timesteps = run.schedule(plan.begin)
        if call.args.method == "trained":
            cond = run.conditions(x0.shape[-1], context=x0, mask=mask, at=lo / pipe.sample_rate)
            x = run.noise(x0.shape)
            if plan.laid is not None:  # the session's own bars across the gap (groove.py)
                x = pipe.denoiser.add_noise(plan.laid.mel, x, timesteps[0])
            x = run.denoise(x, scheduler, timesteps, cond)
        else:
            x = run.repaint(x0, mask, scheduler, timesteps, run.conditions(x0.shape[-1], at=lo / pipe.sample_rate))
        unknown = mask[0, 0] == 0
        if unknown.all():
            known_level = pipe.for_style(pipe.config.levels_db, run.style)
        else:
            known_level = pipe.frontend.level_db(x0, ~unknown)
        # A fill sits in its session: each band within FILL_DB of the known frames around it, much
        # tighter than the drift a long piece may have (docs/model.md).
        anchor = BandAnchor(pipe.frontend, FILL_DB, x0[..., ~unknown])
        x[..., unknown] = pipe.leveled(anchor(x[..., unknown]), known_level)
        known = pipe.frontend.stft(torch.from_numpy(crop)) * erode(mask[0, 0], 2)[None, :]
        filled = pipe.frontend.decode(x[0], len(crop), run.generator, init_phase=unit_phase(known), known_stft=known)
        filled = filled.numpy()
    offset = lo * audio.sample_rate // pipe.sample_rate
    end = offset + round(len(crop) * audio.sample_rate / pipe.sample_rate)
    around = nearby(audio, first, last)
    if plan.laid is None:
        region = finished_region(pipe, audio, filled, offset, first, last, around)
    else:  # the model's change as a gain on the looped session itself: its hits, image and air (touch.py)
        laid = Audio(plan.laid.audio[:, offset:end], audio.sample_rate)
        changed = retouch(laid, plan.laid.mel[0], x[0], filled, pipe.frontend, call.args.variation)
        region = fit_length(changed.samples[:, first - offset :], last - first)
    region = finished(region, Session(audio.sample_rate, tuple(around), (audio.samples,)), FINISH)
    return spliced(audio, region, first, last)


def crop_around(pipe: ReveriePipeline, audio: Audio, first: int, last: int):
    """The model-rate mid around the region, its known-frame mask, and where the crop starts.

    The crop starts on a sample where the caller's and the model's rate grids
    meet, so the filled audio maps back without a fractional shift.
    """
    c = pipe.config
    hop, n_fft = c.mel.hop_length, c.mel.n_fft
    mono = to_model_rate(audio, pipe.sample_rate)
    scale = pipe.sample_rate / audio.sample_rate
    a, b = int(first * scale), math.ceil(last * scale)
    margin = max(c.context_frames, (c.window_frames - (b - a) // hop) // 2) * hop
    grid = pipe.sample_rate // math.gcd(pipe.sample_rate, audio.sample_rate)
    lo = max(0, a - margin) // grid * grid
    crop = mono[lo : min(len(mono), b + margin)]
    centres = torch.arange(pipe.frontend.frames_for(len(crop))) * hop + lo
    # A frame is known only if its analysis window stays clear of the region.
    unknown = (centres > a - n_fft // 2) & (centres < b + n_fft // 2)
    return crop, (~unknown).float()[None, None, :], lo


def finished_region(
    pipe: ReveriePipeline, audio: Audio, filled: np.ndarray, offset: int, first: int, last: int, around
):
    """The region of the crop's model-rate mid `filled`, finished with the image and air `around` it."""
    mid = resample(filled[None, :], pipe.sample_rate, audio.sample_rate)[0]
    detail = pipe.detail_of(*[a for a in around if a.shape[-1]], sample_rate=audio.sample_rate)
    region = detail.for_channels(audio.channels).finish(mid, audio.sample_rate, pipe.sample_rate)
    return fit_length(region[:, first - offset :], last - first)


def spliced(audio: Audio, region: np.ndarray, first: int, last: int) -> Audio:
    """`audio` with `region` in [first, last), faded in and out over the seams."""
    seam = min(round(INPAINT_SEAM_SECONDS * audio.sample_rate), (last - first) // 2)
    weight = np.ones(last - first, dtype=np.float32)
    weight[:seam] = fade_curve(seam)
    weight[len(weight) - seam :] = fade_curve(seam)[::-1]
    out = audio.samples.copy()
    out[:, first:last] = out[:, first:last] * (1 - weight) + region * weight
    return Audio(out, audio.sample_rate)
