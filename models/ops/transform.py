"""transform: the caller's audio noised to `strength` (or DDIM-inverted) and denoised toward a style;
the change lands as a gain on the recording's own spectrum, per channel (touch.py, Msanii §5.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

from ..audio import Audio, to_model_rate
from ..detail import air_crossover
from ..mel import unit_phase
from ..sampling import Run, Sampling
from ..touch import channel_resynthesis, retouch
from .session import Session, finished, loudness_held, peaks_held

if TYPE_CHECKING:
    from ..pipeline import PreparedCall, ReveriePipeline

# What the restyled recording goes through: no louder than it was, its peaks no higher.
FINISH = (loudness_held, peaks_held)


@dataclass(frozen=True, eq=False)
class FromTimestep:
    """transform's and interpolate's plan: the timestep denoising starts from (0: the input as it is)."""

    timestep: int


def plan(pipe: ReveriePipeline, args, sampling: Sampling):
    start = pipe.start_timestep(args)
    loop = pipe.denoiser.steps(sampling, start) if start > 0 else 0
    return FromTimestep(start), (), loop * 2 if args.inversion else loop


def run(pipe: ReveriePipeline, call: PreparedCall, run: Run) -> Audio:
    audio, start = call.args.audio, call.plan.timestep
    if start == 0:
        return Audio(audio.samples.copy(), audio.sample_rate)
    mono = to_model_rate(audio, pipe.sample_rate)
    with torch.inference_mode():
        x0 = pipe.frontend.encode(torch.from_numpy(mono))[None]
        cond = run.conditions(x0.shape[-1])
        scheduler, timesteps = run.schedule(start)
        if call.args.inversion:
            x = run.invert(x0, timesteps, cond)
        else:
            x = pipe.denoiser.add_noise(x0, run.noise(x0.shape), timesteps[0])
        x = pipe.leveled(run.denoise(x, scheduler, timesteps, cond), pipe.frontend.level_db(x0))
        # Starting Griffin-Lim from the input's phases keeps its transients where the mel allows.
        if audio.channels > 1 and air_crossover(pipe.sample_rate) is None:
            out = channel_resynthesis(pipe.frontend, audio, x[0] - x0[0], run.generator, keep_phase=True)
        else:
            phase = unit_phase(pipe.frontend.stft(torch.from_numpy(mono)))
            out = pipe.frontend.decode(x[0], len(mono), run.generator, init_phase=phase).numpy()
    strength = start / (len(pipe.alphas_cumprod) - 1)
    # The change lands on the input's own spectrum, per channel, at its rate (touch.py).
    out = retouch(audio, x0[0], x[0], out, pipe.frontend, strength)
    session = Session(audio.sample_rate, (audio.samples,), (audio.samples,))
    return Audio(finished(out.samples, session, FINISH), audio.sample_rate)
