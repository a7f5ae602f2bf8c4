"""interpolate: two clips noised to one timestep, blended (slerp or lerp) and denoised (Msanii §5.3). The
result has A's rate, channels and length, its image, level and balance between A's and B's by `ratio`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from ..audio import Audio, fit_length, resample, to_model_rate
from ..drift import balance_db, hold_shares, shares_db
from ..sampling import Run, Sampling, slerp
from .session import Session, finished, loudness_held, peaks_held
from .transform import FromTimestep

if TYPE_CHECKING:
    from ..pipeline import PreparedCall, ReveriePipeline

# What a blend goes through: no louder than its sources, its peaks no higher than theirs.
FINISH = (loudness_held, peaks_held)


def plan(pipe: ReveriePipeline, args, sampling: Sampling):
    start = pipe.start_timestep(args)
    return FromTimestep(start), (), pipe.denoiser.steps(sampling, start) if start > 0 else 0


def run(pipe: ReveriePipeline, call: PreparedCall, run: Run) -> Audio:
    a, b, ratio, start = call.args.a, call.args.b, call.args.ratio, call.plan.timestep
    b_samples = resample(b.samples, b.sample_rate, a.sample_rate).mean(axis=0)
    b_samples = np.resize(b_samples, a.frames)[None, :].repeat(a.channels, 0)
    if start == 0:
        return Audio(a.samples * (1 - ratio) + b_samples * ratio, a.sample_rate)
    mono_a = to_model_rate(a, pipe.sample_rate)
    mono_b = fit_length(to_model_rate(Audio(b_samples, a.sample_rate), pipe.sample_rate), len(mono_a))
    with torch.inference_mode():
        scheduler, timesteps = run.schedule(start)
        xa = pipe.frontend.encode(torch.from_numpy(mono_a))[None]
        xb = pipe.frontend.encode(torch.from_numpy(mono_b))[None]
        reference = (1 - ratio) * pipe.frontend.level_db(xa) + ratio * pipe.frontend.level_db(xb)
        xa = pipe.denoiser.add_noise(xa, run.noise(xa.shape), timesteps[0])
        xb = pipe.denoiser.add_noise(xb, run.noise(xb.shape), timesteps[0])
        x = slerp(xa, xb, ratio) if call.args.mix == "slerp" else xa * (1 - ratio) + xb * ratio
        x = pipe.leveled(run.denoise(x, scheduler, timesteps, run.conditions(x.shape[-1])), reference)
        out = pipe.frontend.decode(x[0], len(mono_a), run.generator)
    mid = fit_length(resample(out.numpy()[None, :], pipe.sample_rate, a.sample_rate)[0], a.frames)
    detail_b = pipe.detail_of(b.samples, sample_rate=b.sample_rate)
    detail = pipe.detail_of(a.samples, sample_rate=a.sample_rate).mix(detail_b, ratio)
    out = detail.for_channels(a.channels).finish(mid, a.sample_rate, pipe.sample_rate)
    out = blend_balanced(pipe, out, a.samples, b_samples, ratio, a.sample_rate)
    session = Session(a.sample_rate, (a.samples, b_samples), (a.samples, b_samples))
    return Audio(finished(out, session, FINISH), a.sample_rate)


def blend_balanced(
    pipe: ReveriePipeline, out: np.ndarray, a: np.ndarray, b: np.ndarray, ratio: float, sample_rate: int
):
    """A blend's balance (each band's share of the whole) within the drift a continuation has (its air
    within drift.AIR_LIMIT_DB) of A's and B's, weighted by `ratio` in dB; a silent source has none and
    leaves it to the other. Its level stays the level reference's. Unheld, the blend of a held-out track
    with its next 12 s came out up to 4.5 dB darker above 11.5 kHz than both (bench/music_fit.py)."""
    if pipe.config.drift_db is None:
        return out
    weighted = [(w, shares_db(balance_db([x], sample_rate))) for w, x in ((1 - ratio, a), (ratio, b)) if w > 0]
    weighted = [(w, s) for w, s in weighted if s is not None]
    if not weighted:
        return out
    shares = sum(w * s for w, s in weighted) / sum(w for w, _ in weighted)
    return hold_shares(out, shares, sample_rate, pipe.config.drift_db)
