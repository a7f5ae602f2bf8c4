"""generate: new audio from noise, window by window, in a style or mood, on a tempo, following a melody.

The plan is its length (and, for whole bars, the pre-roll and the fade that make it loop); the run decodes
the windows, resamples them to the asked rate, gives them the model's image and air, loops them on the bar
and holds their true peak, chunk by chunk, so a stream of any length runs in constant memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Iterator

import numpy as np
import torch

from ..audio import Audio, PeakLimiter
from ..bar_loop import BarLoop
from ..operations import generate_seconds
from ..sampling import Run, Sampling
from ..stream import StreamResampler, resampled
from .session import GENERATE_CEILING_DBTP, METER_MARGIN_DB, nonempty

if TYPE_CHECKING:
    from ..pipeline import PreparedCall, ReveriePipeline


@dataclass(frozen=True, eq=False)
class GeneratePlan:
    """generate's length in seconds and, for a result of whole bars, the pre-roll made before bar 1 and
    the fade from the last bar into it (bar_loop.py), in seconds."""

    seconds: float
    lead: float = 0.0
    fade: float = 0.0


def plan(pipe: ReveriePipeline, args, sampling: Sampling):
    if args.bars is not None:
        seconds = generate_seconds(None, bars=args.bars, bpm=args.bpm, beats_per_bar=args.beats_per_bar)
        # A bar of pre-roll leads into bar 1 and the last beat fades into its last beat, so the result
        # loops. A bar, not a beat: the model is into the music by bar 1, not starting it there (loop
        # seams over the clip's own p95 change, 15 generates: median 0.85 against 1.04 with a beat).
        grid = sampling.grid
        lead, fade = (grid.seconds_of(beats) - grid.downbeat for beats in (grid.beats_per_bar, 1.0))
        plan = GeneratePlan(seconds, lead, fade)
    elif args.seconds is None:
        raise TypeError("generate needs seconds or bars")
    else:
        plan = GeneratePlan(args.seconds)
    made = math.ceil((plan.lead + plan.seconds) * pipe.sample_rate)
    windows = pipe.windows(pipe.frontend.frames_for(made) + 1, 0)
    return plan, windows, len(windows) * pipe.denoiser.steps(sampling)


def run(pipe: ReveriePipeline, call: PreparedCall, run: Run) -> Audio:
    pieces = chunks(pipe, call, run)
    return Audio(np.concatenate([c.samples for c in pieces], axis=1), call.args.sample_rate)


def chunks(pipe: ReveriePipeline, call: PreparedCall, run: Run) -> Iterator[Audio]:
    sample_rate, channels, plan = call.args.sample_rate, call.args.channels, call.plan
    lead = round(plan.lead * sample_rate)
    out_frames, emitted = lead + round(plan.seconds * sample_rate), 0
    finish = pipe.prior.for_channels(channels).stream(sample_rate, pipe.sample_rate)
    # New audio has headroom for a DAW's own resampling and codecs: the widened image adds the side's
    # peaks to the mid's.
    limiter = PeakLimiter(10 ** ((GENERATE_CEILING_DBTP - METER_MARGIN_DB) / 20), sample_rate)
    loop = BarLoop(lead, round(plan.fade * sample_rate), out_frames - lead) if lead else None
    looped = (lambda x: x) if loop is None else loop.push
    with torch.inference_mode():
        model_audio = pipe.decode_windows(run, call.windows, 0, None, None, origin=-plan.lead)
        for piece in resampled(model_audio, StreamResampler(pipe.sample_rate, sample_rate)):
            piece = piece[: out_frames - emitted]
            emitted += len(piece)
            if len(piece):
                yield from nonempty(limiter.push(looped(finish.push(piece[None, :]))), sample_rate)
    if emitted < out_frames:
        silence = np.zeros((1, out_frames - emitted), np.float32)
        yield from nonempty(limiter.push(looped(finish.push(silence))), sample_rate)
    yield from nonempty(limiter.push(looped(finish.flush())), sample_rate)
    if loop is not None:
        yield from nonempty(limiter.push(loop.flush()), sample_rate)
    yield from nonempty(limiter.flush(), sample_rate)
