"""The sampling steps every operation shares: the guided network output and the loops that denoise,
RePaint and invert a mel, in the terms of the one training noise schedule.

`Sampling` is what a call asks for (validated, immutable, shareable); `Run` is one execution of it:
its own generator, progress and melody position, so nothing random is shared between calls.
`Denoiser` is the network as the loops see it, and knows nothing of audio or windows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from .errors import Cancelled
from .grid import KEYS
from .schedulers import make_scheduler, to_epsilon
from .unet import CHROMA_BINS, MelUNet1D

Callback = Callable[[int, int], "bool | None"]


@dataclass(frozen=True)
class Sampling:
    """A call's sampling settings, already checked: style index, melody, seed, steps, guidance, sampler,
    a mood (mood.MoodCurve over the model's styles) that steers instead of the style when given, and the
    grid and key to follow (for a model trained with them)."""

    style: int
    melody: Any  # a Melody (anything with .chroma), or None
    seed: int
    steps: int
    guidance: float
    sampler: str
    mood: Any = None
    grid: Any = None  # a grid.Grid: the beats and bars to put the music on, or None
    key: int = KEYS  # grid.key_index of the key asked for; KEYS: none


class Progress:
    def __init__(self, total: int, callback: Callback | None):
        self.total, self.step, self.callback = total, 0, callback

    def advance(self) -> None:
        self.step += 1
        if self.callback is not None and self.callback(self.step, self.total) is False:
            raise Cancelled(f"cancelled at step {self.step} of {self.total}")


@dataclass
class Conditions:
    style: int | tuple[float, ...]
    chroma: torch.Tensor  # (1, 12, T)
    context: torch.Tensor  # (1, n_mels, T)
    mask: torch.Tensor  # (1, 1, T)
    guidance: float
    grid: torch.Tensor | None = None  # (1, GRID_FEATURES, T)
    key: int = KEYS


class Denoiser:
    """The network and its noise schedule. `config` is the pipeline's, read at each use (like the pipeline)."""

    def __init__(self, unet: MelUNet1D, config):
        self.unet, self.config = unet, config
        self.alphas_cumprod = make_scheduler("ddpm", config.scheduler).alphas_cumprod.to(torch.float32)

    def schedule(self, sampling: Sampling, start: int | None = None):
        """A fresh scheduler (they keep per-run state) and its timesteps, cut to those <= start."""
        scheduler = make_scheduler(sampling.sampler, self.config.scheduler)
        if sampling.sampler == "repaint":
            scheduler.set_timesteps(sampling.steps, jump_length=max(1, sampling.steps // 4), jump_n_sample=3)
        else:
            scheduler.set_timesteps(sampling.steps)
        timesteps = scheduler.timesteps
        if start is not None:
            kept = timesteps[timesteps <= start]
            # A strength below one step still gets one step, the smallest.
            kept = kept if len(kept) else timesteps[-1:]
            if hasattr(scheduler, "set_begin_index"):
                scheduler.set_begin_index(len(timesteps) - len(kept))
            timesteps = kept
        return scheduler, timesteps

    def steps(self, sampling: Sampling, start: int | None = None) -> int:
        """How many model calls one denoising loop from `start` makes (progress counts each)."""
        return len(self.schedule(sampling, start)[1])

    def output(self, x: torch.Tensor, t, cond: Conditions) -> torch.Tensor:
        """The network output (v or x0, as the scheduler config says), with classifier-free guidance
        when it has something to guide."""
        timestep = torch.as_tensor(t).reshape(())
        null = self.unet.null_style
        told = cond.grid is not None or cond.key != KEYS
        guided = cond.guidance != 1.0 and (cond.style != null or bool(cond.chroma.any()) or told)
        batch = 2 if guided else 1
        if isinstance(cond.style, tuple):  # a mood: its weights, and the null style to guide from
            styles = torch.eye(null + 1)[[null, null]][:batch]
            styles[0] = torch.tensor([*cond.style, 0.0])
        else:
            styles = torch.tensor([cond.style, null][:batch])
        chroma = torch.cat([cond.chroma, torch.zeros_like(cond.chroma)][:batch])
        # The unconditional branch knows no grid and no key: guidance pushes toward them as toward a style.
        grid = None if cond.grid is None else torch.cat([cond.grid, torch.zeros_like(cond.grid)][:batch])
        key = torch.tensor([cond.key, KEYS][:batch])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.config.precision == "bf16"):
            out = self.unet(
                x.expand(batch, -1, -1),
                timestep,
                cond.context.expand(batch, -1, -1),
                cond.mask.expand(batch, -1, -1),
                chroma,
                styles,
                grid,
                key,
            ).float()
        if not guided:
            return out
        change = out[:1] - out[1:]
        if self.config.balanced_guidance and self.config.scheduler["prediction_type"] == "sample":
            # The guided mel is the conditional one plus (guidance - 1) times the change the condition
            # makes. A band's average change is the style's balance against the unlabelled music (all of
            # real music's air, for one); extrapolating it made sleep and calm darker than any of their
            # training clips. So the extrapolation keeps the change's shape over time (melody, rhythm)
            # and leaves each band's average, over the frames to be made, at the conditional one's.
            weight = 1 - cond.mask  # (1, 1, T): the frames to be made
            average = (change * weight).sum(-1, keepdim=True) / weight.sum(-1, keepdim=True).clamp(min=1)
            return out[:1] + (cond.guidance - 1) * (change - average)
        return out[1:] + cond.guidance * change

    def epsilon(self, output, x, t) -> torch.Tensor:
        return to_epsilon(output, x, self.alphas_cumprod[int(t)], self.config.scheduler["prediction_type"])

    def add_noise(self, x0, noise, t) -> torch.Tensor:
        a = self.alphas_cumprod[int(t)]
        return a.sqrt() * x0 + (1 - a).sqrt() * noise


class Run:
    """One execution of a call: its generator, progress and melody position, and the loops that use them."""

    def __init__(self, denoiser: Denoiser, sampling: Sampling, total_steps: int, callback: Callback | None):
        self.denoiser, self.sampling = denoiser, sampling
        self.generator = torch.Generator().manual_seed(sampling.seed)
        self.progress = Progress(total_steps, callback)

    @property
    def style(self) -> int | tuple[float, ...]:
        """The call's style, or its mood's weights where it starts."""
        return self.style_at(0.0)

    def style_at(self, seconds: float) -> int | tuple[float, ...]:
        mood = self.sampling.mood
        return self.sampling.style if mood is None else mood.at(seconds)

    def schedule(self, start: int | None = None):
        return self.denoiser.schedule(self.sampling, start)

    def noise(self, shape) -> torch.Tensor:
        return torch.randn(shape, generator=self.generator)

    def window_style(self, frames: int, at: float) -> int | tuple[float, ...]:
        """The style of `frames` frames from `at` seconds into the piece: a moving mood as it is in their middle."""
        return self.style_at(at + frames / 2 / self.denoiser.config.mel.frame_rate)

    def conditions(self, frames: int, context=None, mask=None, at: float = 0.0) -> Conditions:
        """What the model hears for `frames` frames whose first is `at` seconds into the piece (negative in
        a pre-roll, bar_loop.py): the melody, grid and mood there, and the known `context` under `mask`."""
        mel = self.denoiser.config.mel
        chroma = torch.zeros(1, CHROMA_BINS, frames)
        if self.sampling.melody is not None:
            values = self.sampling.melody.chroma(mel.frame_rate, frames, offset=at)
            chroma = torch.as_tensor(np.asarray(values, dtype=np.float32))[None]
        grid = self.sampling.grid
        grid = None if grid is None else torch.from_numpy(grid.features(mel.frame_rate, frames, at))[None]
        return Conditions(
            self.window_style(frames, at),
            chroma,
            context if context is not None else torch.zeros(1, mel.n_mels, frames),
            mask if mask is not None else torch.zeros(1, 1, frames),
            self.sampling.guidance,
            grid,
            self.sampling.key,
        )

    # --- the loops: one progress step per model call ---------------------------
    def denoise(self, x, scheduler, timesteps, cond: Conditions) -> torch.Tensor:
        for t in timesteps:
            output = self.denoiser.output(x, t, cond)
            x = scheduler.step(output, t, x, generator=self.generator).prev_sample
            self.progress.advance()
        return x

    def repaint(self, x0, mask, scheduler, timesteps, cond: Conditions) -> torch.Tensor:
        """RePaint (Lugmayr et al. 2022), training-free: the model sees no context; known frames are
        re-noised from the input at every step, with jumps back in time to harmonise."""
        x = self.noise(x0.shape)
        t_last = timesteps[0] + 1
        for t in timesteps:
            if t < t_last:
                eps = self.denoiser.epsilon(self.denoiser.output(x, t, cond), x, t)
                x = scheduler.step(eps, t, x, x0, mask, generator=self.generator).prev_sample
            else:
                x = scheduler.undo_step(x, t_last, generator=self.generator)
            t_last = t
            self.progress.advance()
        return x

    def invert(self, x0, timesteps, cond: Conditions) -> torch.Tensor:
        """Deterministic DDIM inversion from the clean mel up to timesteps[0] (unconditional).

        Hand-written rather than diffusers' DDIMInverseScheduler, which would change the bytes: that one
        steps on its own grid (a fixed stride from its first step, not this loop's timesteps cut at
        `start` and begun at 0), its pipelines call the model at each step's target rather than its
        source, and it takes an x0 model's output as the clean mel directly where this rebuilds it from
        the noise estimate (equal in exact arithmetic, not in float32).
        """
        plain = Conditions(self.denoiser.unet.null_style, torch.zeros_like(cond.chroma), cond.context, cond.mask, 1.0)
        alphas = self.denoiser.alphas_cumprod
        path = [0] + [int(t) for t in reversed(timesteps)]
        x = x0
        for t_from, t_to in zip(path[:-1], path[1:]):
            a_from, a_to = alphas[t_from], alphas[t_to]
            eps = self.denoiser.epsilon(self.denoiser.output(x, t_from, plain), x, t_from)
            clean = (x - (1 - a_from).sqrt() * eps) / a_from.sqrt()
            x = a_to.sqrt() * clean + (1 - a_to).sqrt() * eps
            self.progress.advance()
        return x


def slerp(a: torch.Tensor, b: torch.Tensor, ratio: float) -> torch.Tensor:
    """Spherical blend of two noised mels: keeps the noise level a straight blend would lower."""
    cos = (a * b).sum() / (a.norm() * b.norm())
    theta = torch.arccos(cos.clamp(-1, 1))
    if theta < 1e-4:
        return a * (1 - ratio) + b * ratio
    return (torch.sin((1 - ratio) * theta) * a + torch.sin(ratio * theta) * b) / torch.sin(theta)
