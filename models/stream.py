"""Constant-memory pieces for long audio: windows of mel frames, a streaming resampler and crossfades.

Long audio is made window by window (`plan_windows`); each window after the first re-sees the
previous one's last frames as known context, and `decode_windows` turns the denoised windows into
one seamless stream of model-rate samples, which `resampled` carries to the caller's rate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Iterator

import numpy as np
import torch

from .audio import fit_length, resample
from .mel import unit_phase

# (context, new) frame counts of one window: `context` frames re-seen from before, `new` made.
Window = tuple[int, int]


class StreamResampler:
    """Resample a stream chunk by chunk with the same result as one offline pass, up to float rounding.

    Each call resamples only whole blocks of `orig // gcd` input samples (so every
    block starts on an output sample), with `margin` input samples of look-behind
    and look-ahead so the sinc filter never sees a false edge inside the stream.
    """

    def __init__(self, orig_rate: int, new_rate: int, margin_blocks: int | None = None):
        g = math.gcd(orig_rate, new_rate)
        self.orig, self.new = orig_rate, new_rate
        self.block_in, self.block_out = orig_rate // g, new_rate // g
        blocks = margin_blocks or max(1, math.ceil(512 / self.block_in))
        self.margin = blocks * self.block_in
        self.buffer = np.zeros(0, dtype=np.float32)  # input not yet resampled, plus look-behind
        self.behind = 0  # how many samples at the start of buffer are look-behind only

    def push(self, samples: np.ndarray) -> np.ndarray:
        self.buffer = np.concatenate([self.buffer, samples.astype(np.float32)])
        ready = (len(self.buffer) - self.behind - self.margin) // self.block_in * self.block_in
        if ready <= 0 or self.orig == self.new:
            if self.orig == self.new:
                out, self.buffer = self.buffer, np.zeros(0, dtype=np.float32)
                return out
            return np.zeros(0, dtype=np.float32)
        return self._emit(ready)

    def flush(self) -> np.ndarray:
        if self.orig == self.new:
            return self.push(np.zeros(0, dtype=np.float32))
        rest = len(self.buffer) - self.behind
        if rest <= 0:
            return np.zeros(0, dtype=np.float32)
        blocks = math.ceil(rest / self.block_in) * self.block_in
        self.buffer = np.pad(self.buffer, (0, blocks - rest + self.margin))
        out = self._emit(blocks)
        wanted = math.ceil(rest * self.new / self.orig)
        return out[:wanted]

    def _emit(self, count: int) -> np.ndarray:
        end = self.behind + count
        segment = self.buffer[: end + self.margin]
        out = resample(segment[None, :], self.orig, self.new)[0]
        first = self.behind // self.block_in * self.block_out
        out = out[first : first + count // self.block_in * self.block_out]
        keep_from = max(end - self.margin, 0)
        self.buffer = self.buffer[keep_from:]
        self.behind = end - keep_from
        return out


def fade_curve(length: int) -> np.ndarray:
    """Raised-cosine ramp from 0 to 1 (exclusive ends), for crossfades of correlated signals."""
    if length <= 0:
        return np.zeros(0, dtype=np.float32)
    x = (np.arange(length, dtype=np.float64) + 0.5) / length
    return (0.5 - 0.5 * np.cos(np.pi * x)).astype(np.float32)


def crossfade(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Fade from a to b over their (equal) last axis."""
    w = fade_curve(a.shape[-1])
    return a * (1 - w) + b * w


def plan_windows(new_frames: int, context: int, window_frames: int, context_frames: int) -> tuple[Window, ...]:
    """The windows that make `new_frames` frames after `context` known ones, each at most `window_frames`
    long and re-seeing up to `context_frames` of what came before it."""
    windows, made = [], 0
    while made < new_frames:
        new = min(window_frames - context, new_frames - made)
        windows.append((context, new))
        made += new
        context = min(context_frames, context + new)
    return tuple(windows)


def fade_span(context: int, crossfade_frames: int, hop: int) -> tuple[int, int]:
    """Crossfade length and its offset from a window's start, in samples: centred in the context overlap."""
    fade_len = min(crossfade_frames, context) * hop
    return fade_len, (context * hop - fade_len) // 2


@dataclass
class Layout:
    """Where a continuation's windows start from (groove.py): `mel`, the session looped at its period, whose
    frame 0 is frame `first` of the windows' count, noised to timestep `begin`; `made` collects each
    window's finished new frames, which the change is measured with."""

    mel: torch.Tensor
    first: int
    begin: int
    made: list = field(default_factory=list)

    def start(self, frame0: int, length: int) -> torch.Tensor:
        """The layout of the window of `length` frames from frame `frame0`."""
        return fit_frames(self.mel[..., frame0 - self.first : frame0 - self.first + length], length)


def decode_windows(
    run,
    frontend,
    config,
    windows: tuple[Window, ...],
    frame0: int,
    context_mel,
    known_audio,
    level: Callable[[torch.Tensor], torch.Tensor],
    hold: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None = None,
    layout: Layout | None = None,
    origin: float = 0.0,
) -> Iterator[np.ndarray]:
    """Denoise and decode `windows`; yield final model-rate audio from sample frame0 * hop on.

    `run` is a sampling.Run, `frontend` the MelFrontend, `config` the PipelineConfig; `context_mel` and
    `known_audio` are what precedes the first window (None when it has no context), and `level(x, style)`
    sets a window's new frames to the call's reference level (a moving mood's, at the window's style);
    `hold` (drift.AudioAnchor) keeps the decoded new frames' balance near the first context's (or the
    first window's); with a `layout`, each window starts from it instead of from noise and leaves its new
    frames in `layout.made`. Griffin-Lim holds
    each overlap's STFT fixed (bar the frames at its edge), so both windows sound the same there, and a
    short crossfade in the middle of the overlap joins them. `origin`: the piece's time at frame 0,
    negative where a pre-roll comes first (bar_loop.py).
    """
    mel = config.mel
    hop = mel.hop_length
    previous = known_audio  # audio from frame0 * hop on
    emitted = frame0 * hop
    for index, (context, new) in enumerate(windows):
        length, start = context + new, frame0 * hop
        ctx = torch.zeros(1, mel.n_mels, length)
        mask = torch.zeros(1, 1, length)
        if context:
            ctx[..., :context] = context_mel[..., -context:]
            mask[..., :context] = 1
        noise = run.noise((1, mel.n_mels, length))
        if layout is not None:
            scheduler, timesteps = run.schedule(layout.begin)
            noise = run.denoiser.add_noise(layout.start(frame0, length), noise, timesteps[0])
        else:
            scheduler, timesteps = run.schedule()
        cond = run.conditions(length, context=ctx, mask=mask, at=frame0 / mel.frame_rate + origin)
        x = run.denoise(noise, scheduler, timesteps, cond)
        x[..., context:] = level(x[..., context:], cond.style)
        x[..., :context] = ctx[..., :context]
        if layout is not None:
            layout.made.append(x[..., context:])
        audio = _decode_window(frontend, x, length, context, previous, run.generator)
        if hold is not None:
            frames = np.arange(length)
            audio = hold(audio, frames < context, frames >= context)
        if context:
            fade_len, fade_at = fade_span(context, config.crossfade_frames, hop)
            old = fit_length(previous, fade_at + fade_len)
            audio = np.concatenate(
                [
                    old[:fade_at],
                    crossfade(old[fade_at:], audio[fade_at : fade_at + fade_len]),
                    audio[fade_at + fade_len :],
                ]
            )
        if index == len(windows) - 1:
            yield audio[emitted - start :]
            return
        next_context = windows[index + 1][0]
        frame0 += length - next_context
        cut = frame0 * hop + fade_span(next_context, config.crossfade_frames, hop)[1]
        yield audio[emitted - start : cut - start]
        emitted = cut
        previous = audio[frame0 * hop - start :]
        context_mel = x[..., length - next_context :]


def fit_frames(mel: torch.Tensor, frames: int) -> torch.Tensor:
    """(..., T) mel cut or extended (its last frame repeated) to `frames` frames."""
    if mel.shape[-1] >= frames:
        return mel[..., :frames]
    return torch.cat([mel, mel[..., -1:].expand(*mel.shape[:-1], frames - mel.shape[-1])], dim=-1)


def _decode_window(frontend, x, length: int, context: int, previous, generator) -> np.ndarray:
    """A window's audio; with context, Griffin-Lim starts from and holds the previous audio's STFT there."""
    if not context:
        return frontend.decode(x[0], frontend.samples_for(length), generator).numpy()
    spec = frontend.stft(torch.from_numpy(fit_length(previous, frontend.samples_for(length))))
    frames = torch.arange(length)
    # The context's last frames are analysed partly over new audio: they start from its phases but may adjust.
    known = spec * (frames < context - 4)
    phase = unit_phase(spec * (frames < context))
    return frontend.decode(x[0], frontend.samples_for(length), generator, init_phase=phase, known_stft=known).numpy()


def resampled(model_audio: Iterator[np.ndarray], resampler: StreamResampler) -> Iterator[np.ndarray]:
    """A stream of model-rate chunks at the resampler's rate; empty chunks are skipped."""
    for chunk in model_audio:
        out = resampler.push(chunk)
        if len(out):
            yield out
    out = resampler.flush()
    if len(out):
        yield out
