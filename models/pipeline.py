"""ReveriePipeline: the model, a scheduler and the mel frontend, and every operation on top.

All operations share one denoising loop (`_denoise`) and one vocoder path
(`MelFrontend.decode`). They differ only in where they start (noise, or an
input mel noised to a timestep) and what the model is told is known (the
context mel and its mask). See docs/architecture.md for the contract.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch

from .audio import Audio, check_sample_rate, fit_length, from_model_rate, resample, to_model_rate
from .errors import Cancelled, ReverieError
from .mel import MelConfig, MelFrontend
from .schedulers import SCHEDULERS, make_scheduler, to_epsilon, training_scheduler_config
from .stream import StreamResampler, crossfade, fade_curve
from .unet import CHROMA_BINS, MelUNet1D

OPERATIONS = ("generate", "transform", "inpaint", "interpolate", "continue")
INPAINT_METHODS = ("trained", "repaint")
MIX_MODES = ("slerp", "lerp")
# Seam fade inside an inpainted region; outside the region every sample is the input's own.
INPAINT_SEAM_SECONDS = 0.05
MAX_SECONDS = 4 * 3600
DEFAULT_MODEL_DIR = Path(__file__).parent / "default_model"

Callback = Callable[[int, int], "bool | None"]


@dataclass
class PipelineConfig:
    mel: MelConfig = field(default_factory=MelConfig)
    scheduler: dict = field(default_factory=training_scheduler_config)
    # Long audio is made window by window; each window after the first re-sees
    # `context_frames` of the previous one as known context.
    window_frames: int = 512
    context_frames: int = 128
    crossfade_frames: int = 32
    # 12 DDIM steps: the x0 default model scored the same as with 16 on every quality metric, 20% faster.
    steps: int = 12
    guidance: float = 3.0
    sampler: str = "ddim"
    precision: str = "fp32"
    # Generated mels are set to a reference level before inversion: the source's
    # for transform and interpolate, the known context's for inpaint and continue,
    # and the style's typical level in the training data (`levels_db`, "any" for
    # no style) for generate; one level for every window of a long call. Small
    # errors in the log domain become large level errors after the exponential:
    # an under-trained model came out 20 dB louder than its data.
    match_level: bool = True
    levels_db: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict) -> "PipelineConfig":
        d = dict(d)
        d["mel"] = MelConfig(**d.get("mel", {}))
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)


class _Progress:
    def __init__(self, total: int, callback: Callback | None):
        self.total, self.step, self.callback = total, 0, callback

    def advance(self) -> None:
        self.step += 1
        if self.callback is not None and self.callback(self.step, self.total) is False:
            raise Cancelled(f"cancelled at step {self.step} of {self.total}")


@dataclass
class _Conditions:
    style: int
    chroma: torch.Tensor  # (1, 12, T)
    context: torch.Tensor  # (1, n_mels, T)
    mask: torch.Tensor  # (1, 1, T)
    guidance: float


class ReveriePipeline:
    def __init__(self, unet: MelUNet1D, config: PipelineConfig):
        self.unet = unet.eval().requires_grad_(False)
        self.config = config
        self.frontend = MelFrontend(config.mel)
        alphas = make_scheduler("ddpm", config.scheduler).alphas_cumprod
        self.alphas_cumprod = alphas.to(torch.float32)
        # Of the weights themselves, so a model in memory and its saved folder hash the same.
        self.model_hash = _hash_state(unet)

    # --- loading and saving -------------------------------------------------
    @classmethod
    def from_pretrained(cls, path: str | Path | None = None) -> "ReveriePipeline":
        path = Path(path) if path is not None else DEFAULT_MODEL_DIR
        config_file = path / "reverie.json"
        if not config_file.is_file():
            raise ReverieError(
                f"{path} is not a Reverie model folder (no reverie.json); "
                "give a folder written by `reverie train` or save_pretrained",
                field="model",
            )
        config = PipelineConfig.from_dict(json.loads(config_file.read_text()))
        return cls(MelUNet1D.from_pretrained(path / "unet", low_cpu_mem_usage=False), config)

    def save_pretrained(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.unet.save_pretrained(path / "unet")
        (path / "reverie.json").write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
        return path

    @classmethod
    def tiny(cls, seed: int = 0) -> "ReveriePipeline":
        """A small random model with the full machinery, fast enough for tests."""
        torch.manual_seed(seed)  # noqa: the only global seeding: deterministic init of a throwaway model
        mel = MelConfig(n_fft=512, hop_length=256, n_mels=32, griffin_lim_iters=8)
        unet = MelUNet1D(
            n_mels=32, channels=(32, 48), layers_per_level=1, attention_levels=(False,),
            attention_heads=2, time_embed_dim=64,
        )
        # A trained model's output layer is not zero: without this, style and melody could not
        # change a sample and tests could not tell a face that drops them.
        torch.nn.init.normal_(unet.embed_out.weight, std=0.02)
        config = PipelineConfig(
            mel=mel, window_frames=64, context_frames=16, crossfade_frames=8, steps=4, guidance=2.0
        )
        return cls(unet, config)

    # --- facts for callers --------------------------------------------------
    @property
    def styles(self) -> tuple[str, ...]:
        return tuple(self.unet.config.styles)

    @property
    def sample_rate(self) -> int:
        return self.config.mel.sample_rate

    @property
    def defaults(self) -> dict:
        c = self.config
        return {
            "steps": c.steps, "guidance": c.guidance, "scheduler": c.sampler, "strength": 0.5,
            "ratio": 0.5, "mix": "slerp", "method": "trained", "seed": 0,
            "inpaint_seam_seconds": INPAINT_SEAM_SECONDS, "max_seconds": MAX_SECONDS,
        }

    # --- the operations -----------------------------------------------------
    def run(self, op: str, **kwargs):
        """Dispatch by operation name: the one entry point for the CLI, bridge and renderer."""
        return getattr(self, _method(op))(**kwargs)

    def total_steps(self, op: str, **kwargs) -> int:
        """How many progress steps `run(op, **kwargs)` will report."""
        kwargs.pop("callback", None)
        return self.run(op, **kwargs, _count_only=True)

    def generate(self, seconds: float, *, sample_rate: int = 44100, channels: int = 2, **common) -> Audio:
        chunks = self.stream_generate(seconds, sample_rate=sample_rate, channels=channels, **common)
        if isinstance(chunks, int):
            return chunks
        return Audio(np.concatenate([c.samples for c in chunks], axis=1), sample_rate)

    def stream_generate(
        self, seconds: float, *, sample_rate: int = 44100, channels: int = 2, style=None, melody=None,
        seed: int = 0, steps=None, guidance=None, scheduler=None, callback: Callback | None = None,
        _count_only: bool = False,
    ) -> Iterator[Audio]:
        """Validate now, then yield consecutive chunks; memory stays constant in `seconds`."""
        seconds = _check_seconds(seconds)
        channels = _check_int(channels, "channels", 1, 64)
        sample_rate = check_sample_rate(sample_rate)
        run = self._prepare(style, melody, seed, steps, guidance, scheduler, callback)
        windows = self._windows(self.frontend.frames_for(math.ceil(seconds * self.sample_rate)) + 1, 0)
        run.progress.total = len(windows) * run.steps_per_loop()
        if _count_only:
            return run.progress.total
        return self._generate_chunks(run, windows, round(seconds * sample_rate), sample_rate, channels)

    def _generate_chunks(self, run, windows, out_frames: int, sample_rate: int, channels: int):
        emitted = 0
        with torch.inference_mode():
            stream = self._stream_windows(run, windows, 0, None, None)
            for piece in _resampled(stream, StreamResampler(self.sample_rate, sample_rate)):
                piece = piece[: out_frames - emitted]
                emitted += len(piece)
                if len(piece):
                    yield Audio(np.repeat(piece[None, :], channels, 0), sample_rate)
        if emitted < out_frames:
            yield Audio(np.zeros((channels, out_frames - emitted), np.float32), sample_rate)

    def continue_(self, audio: Audio, seconds: float, *, style=None, melody=None, seed: int = 0,
                  steps=None, guidance=None, scheduler=None, callback: Callback | None = None,
                  _count_only: bool = False) -> Audio | int:
        audio = audio.validate("audio")
        seconds = _check_seconds(seconds)
        run = self._prepare(style, melody, seed, steps, guidance, scheduler, callback)
        mono = to_model_rate(audio, self.sample_rate)
        hop = self.config.mel.hop_length
        # The input's last frame hangs over its end; the context is the whole frames before it.
        last_frame = self.frontend.frames_for(len(mono)) - 1
        context = min(self.config.context_frames, last_frame)
        windows = self._windows(self.frontend.frames_for(math.ceil(seconds * self.sample_rate)) + 2, context)
        run.progress.total = len(windows) * run.steps_per_loop()
        if _count_only:
            return run.progress.total
        frame0 = last_frame - context
        new_frames = round(seconds * audio.sample_rate)
        resampler = StreamResampler(self.sample_rate, audio.sample_rate)
        # Begin resampling on a sample where both rate grids meet, so output samples line up exactly.
        aligned = frame0 * hop // resampler.block_in * resampler.block_in
        pieces = [resampler.push(mono[aligned: frame0 * hop])]
        with torch.inference_mode():
            mel = self.frontend.encode(torch.from_numpy(mono))[None]
            stream = self._stream_windows(run, windows, frame0, mel[..., frame0:last_frame], mono[frame0 * hop:])
            pieces += list(_resampled(stream, resampler))
        seam = audio.frames - aligned // resampler.block_in * resampler.block_out
        new = fit_length(np.concatenate(pieces)[seam:][None, :], new_frames)
        return Audio(np.concatenate([audio.samples, np.repeat(new, audio.channels, 0)], axis=1), audio.sample_rate)

    def transform(self, audio: Audio, *, strength=None, timestep=None, inversion: bool = False,
                  style=None, melody=None, seed: int = 0, steps=None, guidance=None, scheduler=None,
                  callback: Callback | None = None, _count_only: bool = False) -> Audio | int:
        audio = audio.validate("audio")
        start = self._start_timestep(strength, timestep)
        run = self._prepare(style, melody, seed, steps, guidance, scheduler, callback)
        loop = run.steps_per_loop(start) if start > 0 else 0
        run.progress.total = loop * 2 if inversion else loop
        if _count_only:
            return run.progress.total
        if start == 0:
            return Audio(audio.samples.copy(), audio.sample_rate)
        mono = to_model_rate(audio, self.sample_rate)
        with torch.inference_mode():
            x0 = self.frontend.encode(torch.from_numpy(mono))[None]
            cond = run.conditions(x0.shape[-1])
            scheduler, timesteps = run.schedule(start)
            if inversion:
                x = self._invert(x0, timesteps, cond, run)
            else:
                x = self._add_noise(x0, run.noise(x0.shape), timesteps[0])
            x = self._leveled(self._denoise(x, scheduler, timesteps, cond, run), self.frontend.level_db(x0))
            # Starting Griffin-Lim from the input's phases keeps its transients where the mel allows.
            phase = _unit(self.frontend.stft(torch.from_numpy(mono)))
            out = self.frontend.decode(x[0], len(mono), run.generator, init_phase=phase)
        return from_model_rate(out.numpy(), self.sample_rate, audio.sample_rate, audio.channels, audio.frames)

    def interpolate(self, a: Audio, b: Audio, *, ratio: float = 0.5, strength=None, timestep=None,
                    mix: str = "slerp", style=None, melody=None, seed: int = 0, steps=None, guidance=None,
                    scheduler=None, callback: Callback | None = None, _count_only: bool = False) -> Audio | int:
        """Mix two clips at noise level t, then denoise (Msanii §5.3). `ratio` is B's share: 0 = A, 1 = B.

        The result has A's rate, channels and length: B is resampled to A's rate, folded
        to mono, and tiled (looped) or trimmed to A's length.
        """
        a, b = a.validate("a"), b.validate("b")
        ratio = _check_unit(ratio, "ratio")
        _check_choice(mix, MIX_MODES, "mix")
        start = self._start_timestep(strength, timestep)
        run = self._prepare(style, melody, seed, steps, guidance, scheduler, callback)
        run.progress.total = run.steps_per_loop(start) if start > 0 else 0
        if _count_only:
            return run.progress.total
        b_samples = resample(b.samples, b.sample_rate, a.sample_rate).mean(axis=0)
        b_samples = np.resize(b_samples, a.frames)[None, :].repeat(a.channels, 0)
        if start == 0:
            return Audio(a.samples * (1 - ratio) + b_samples * ratio, a.sample_rate)
        mono_a = to_model_rate(a, self.sample_rate)
        mono_b = fit_length(to_model_rate(Audio(b_samples, a.sample_rate), self.sample_rate), len(mono_a))
        with torch.inference_mode():
            scheduler, timesteps = run.schedule(start)
            xa = self.frontend.encode(torch.from_numpy(mono_a))[None]
            xb = self.frontend.encode(torch.from_numpy(mono_b))[None]
            reference = (1 - ratio) * self.frontend.level_db(xa) + ratio * self.frontend.level_db(xb)
            xa = self._add_noise(xa, run.noise(xa.shape), timesteps[0])
            xb = self._add_noise(xb, run.noise(xb.shape), timesteps[0])
            x = _slerp(xa, xb, ratio) if mix == "slerp" else xa * (1 - ratio) + xb * ratio
            x = self._leveled(self._denoise(x, scheduler, timesteps, run.conditions(x.shape[-1]), run), reference)
            out = self.frontend.decode(x[0], len(mono_a), run.generator)
        return from_model_rate(out.numpy(), self.sample_rate, a.sample_rate, a.channels, a.frames)

    def inpaint(self, audio: Audio, start: float, end: float, *, method: str = "trained", style=None,
                melody=None, seed: int = 0, steps=None, guidance=None, scheduler=None,
                callback: Callback | None = None, _count_only: bool = False) -> Audio | int:
        """Regenerate [start, end) seconds. Outside it every sample is the input's own, bit for bit.

        method "trained": the model sees the known mel on both sides as context.
        method "repaint": the training-free RePaint baseline (Msanii §5.4).
        """
        audio = audio.validate("audio")
        _check_choice(method, INPAINT_METHODS, "method")
        first, last = _check_region(start, end, audio)
        if method == "repaint":
            scheduler = "repaint"
        elif scheduler == "repaint":
            raise ReverieError("scheduler 'repaint' goes with method 'repaint'", field="scheduler")
        run = self._prepare(style, melody, seed, steps, guidance, scheduler, callback)
        run.progress.total = run.steps_per_loop()
        if _count_only:
            return run.progress.total
        crop, mask, lo = self._inpaint_crop(audio, first, last)
        run.chroma_offset = lo / self.sample_rate
        with torch.inference_mode():
            x0 = self.frontend.encode(torch.from_numpy(crop))[None]
            scheduler, timesteps = run.schedule()
            if method == "trained":
                cond = run.conditions(x0.shape[-1], context=x0, mask=mask)
                x = self._denoise(run.noise(x0.shape), scheduler, timesteps, cond, run)
            else:
                x = self._repaint(x0, mask, scheduler, timesteps, run.conditions(x0.shape[-1]), run)
            unknown = mask[0, 0] == 0
            known_level = self.frontend.level_db(x0, ~unknown) if not unknown.all() else self._style_level(run.style)
            x[..., unknown] = self._leveled(x[..., unknown], known_level)
            known = self.frontend.stft(torch.from_numpy(crop)) * _erode(mask[0, 0], 2)[None, :]
            filled = self.frontend.decode(x[0], len(crop), run.generator, init_phase=_unit(known), known_stft=known)
        return self._splice(audio, filled.numpy(), lo, first, last)

    # --- shared machinery ---------------------------------------------------
    def _prepare(self, style, melody, seed, steps, guidance, scheduler, callback) -> "_Run":
        c = self.config
        style_id = self.unet.null_style if style is None else self.styles.index(_check_choice(style, self.styles, "style"))
        steps = c.steps if steps is None else _check_int(steps, "steps", 1, 1000)
        guidance = c.guidance if guidance is None else _check_float(guidance, "guidance", 0.0, 30.0)
        sampler = c.sampler if scheduler is None else _check_choice(scheduler, SCHEDULERS, "scheduler")
        seed = _check_int(seed, "seed", 0, 2**63 - 1)
        if melody is not None and not hasattr(melody, "chroma"):
            raise ReverieError("melody must be a Melody (from a MIDI file or a hummed take)", field="melody")
        return _Run(self, style_id, melody, seed, steps, guidance, sampler, callback)

    def _start_timestep(self, strength, timestep) -> int:
        last = len(self.alphas_cumprod) - 1
        if strength is not None and timestep is not None:
            raise ReverieError("give strength or timestep, not both", field="timestep")
        if timestep is not None:
            return _check_int(timestep, "timestep", 0, last)
        strength = 0.5 if strength is None else _check_unit(strength, "strength")
        return round(strength * last)

    def _windows(self, new_frames: int, context: int) -> list[tuple[int, int]]:
        """(context, new) frame counts per window, until `new_frames` new frames exist."""
        c = self.config
        windows, made = [], 0
        while made < new_frames:
            new = min(c.window_frames - context, new_frames - made)
            windows.append((context, new))
            made += new
            context = min(c.context_frames, context + new)
        return windows

    def _stream_windows(self, run: "_Run", windows, frame0: int, context_mel, known_audio):
        """Yield final model-rate audio from sample frame0 * hop on, window by window.

        Each window after the first re-sees the previous one's last frames as known
        context. Griffin-Lim holds that overlap's STFT fixed (bar the frames at its
        edge), so both windows sound the same there, and a short crossfade in the
        middle of the overlap joins them.
        """
        c, fe = self.config, self.frontend
        hop = c.mel.hop_length
        # One level for the whole call: the input's (continuation) or the style's. Re-measuring
        # each window's context instead lets the level wander from window to window.
        reference = fe.level_db(context_mel) if windows[0][0] else self._style_level(run.style)
        previous = known_audio  # audio from frame0 * hop on
        emitted = frame0 * hop
        for index, (context, new) in enumerate(windows):
            length, start = context + new, frame0 * hop
            ctx = torch.zeros(1, c.mel.n_mels, length)
            mask = torch.zeros(1, 1, length)
            if context:
                ctx[..., :context] = context_mel[..., -context:]
                mask[..., :context] = 1
            run.chroma_offset = frame0 / c.mel.frame_rate
            scheduler, timesteps = run.schedule()
            x = self._denoise(run.noise((1, c.mel.n_mels, length)), scheduler, timesteps,
                              run.conditions(length, context=ctx, mask=mask), run)
            x[..., context:] = self._leveled(x[..., context:], reference)
            x[..., :context] = ctx[..., :context]
            known = None
            if context:
                spec = fe.stft(torch.from_numpy(fit_length(previous, fe.samples_for(length))))
                known = spec * (torch.arange(length) < context - 4)
            audio = fe.decode(x[0], fe.samples_for(length), run.generator, init_phase=_unit(
                spec * (torch.arange(length) < context)) if context else None, known_stft=known).numpy()
            if context:
                fade_len, fade_at = self._fade(context)
                old = fit_length(previous, fade_at + fade_len)
                audio = np.concatenate([old[:fade_at], crossfade(old[fade_at:], audio[fade_at:fade_at + fade_len]),
                                        audio[fade_at + fade_len:]])
            if index == len(windows) - 1:
                yield audio[emitted - start:]
                return
            next_context = windows[index + 1][0]
            frame0 += length - next_context
            cut = frame0 * hop + self._fade(next_context)[1]
            yield audio[emitted - start: cut - start]
            emitted = cut
            previous = audio[frame0 * hop - start:]
            context_mel = x[..., length - next_context:]

    def _leveled(self, x: torch.Tensor, reference) -> torch.Tensor:
        """`x` at the reference level (dB, see PipelineConfig.match_level); as it is if there is none."""
        if not self.config.match_level or reference is None:
            return x
        return self.frontend.match_level(x, reference)

    def _style_level(self, style: int):
        name = "any" if style == self.unet.null_style else self.styles[style]
        levels = self.config.levels_db
        return levels.get(name, levels.get("any"))

    def _fade(self, context: int) -> tuple[int, int]:
        """Crossfade length and its offset from a window's start: centred in the context overlap."""
        hop = self.config.mel.hop_length
        fade_len = min(self.config.crossfade_frames, context) * hop
        return fade_len, (context * hop - fade_len) // 2

    def _model_output(self, x: torch.Tensor, t, cond: _Conditions) -> torch.Tensor:
        """The network output (v or x0, as the scheduler config says), with classifier-free guidance when it has something to guide."""
        timestep = torch.as_tensor(t).reshape(())
        guided = cond.guidance != 1.0 and (cond.style != self.unet.null_style or bool(cond.chroma.any()))
        batch = 2 if guided else 1
        styles = torch.tensor([cond.style, self.unet.null_style][:batch])
        chroma = torch.cat([cond.chroma, torch.zeros_like(cond.chroma)][:batch])
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.config.precision == "bf16"):
            out = self.unet(
                x.expand(batch, -1, -1), timestep, cond.context.expand(batch, -1, -1),
                cond.mask.expand(batch, -1, -1), chroma, styles,
            ).float()
        if not guided:
            return out
        return out[1:] + cond.guidance * (out[:1] - out[1:])

    def _denoise(self, x, scheduler, timesteps, cond: _Conditions, run: "_Run") -> torch.Tensor:
        for t in timesteps:
            v = self._model_output(x, t, cond)
            x = scheduler.step(v, t, x, generator=run.generator).prev_sample
            run.progress.advance()
        return x

    def _repaint(self, x0, mask, scheduler, timesteps, cond: _Conditions, run: "_Run") -> torch.Tensor:
        """RePaint (Lugmayr et al. 2022), training-free: the model sees no context; known frames are
        re-noised from the input at every step, with jumps back in time to harmonise."""
        x = run.noise(x0.shape)
        t_last = timesteps[0] + 1
        for t in timesteps:
            if t < t_last:
                eps = self._to_epsilon(self._model_output(x, t, cond), x, t)
                x = scheduler.step(eps, t, x, x0, mask, generator=run.generator).prev_sample
            else:
                x = scheduler.undo_step(x, t_last, generator=run.generator)
            t_last = t
            run.progress.advance()
        return x

    def _invert(self, x0, timesteps, cond: _Conditions, run: "_Run") -> torch.Tensor:
        """Deterministic DDIM inversion from the clean mel up to timesteps[0] (unconditional)."""
        plain = _Conditions(self.unet.null_style, torch.zeros_like(cond.chroma), cond.context, cond.mask, 1.0)
        path = [0] + [int(t) for t in reversed(timesteps)]
        x = x0
        for t_from, t_to in zip(path[:-1], path[1:]):
            a_from, a_to = self.alphas_cumprod[t_from], self.alphas_cumprod[t_to]
            eps = self._to_epsilon(self._model_output(x, t_from, plain), x, t_from)
            clean = (x - (1 - a_from).sqrt() * eps) / a_from.sqrt()
            x = a_to.sqrt() * clean + (1 - a_to).sqrt() * eps
            run.progress.advance()
        return x

    def _to_epsilon(self, output, x, t) -> torch.Tensor:
        return to_epsilon(output, x, self.alphas_cumprod[int(t)], self.config.scheduler["prediction_type"])

    def _add_noise(self, x0, noise, t) -> torch.Tensor:
        a = self.alphas_cumprod[int(t)]
        return a.sqrt() * x0 + (1 - a).sqrt() * noise

    def _inpaint_crop(self, audio: Audio, first: int, last: int):
        """The model-rate mid around the region, its known-frame mask, and where the crop starts.

        The crop starts on a sample where the caller's and the model's rate grids
        meet, so the filled audio maps back without a fractional shift.
        """
        c = self.config
        hop, n_fft = c.mel.hop_length, c.mel.n_fft
        mono = to_model_rate(audio, self.sample_rate)
        scale = self.sample_rate / audio.sample_rate
        a, b = int(first * scale), math.ceil(last * scale)
        margin = max(c.context_frames, (c.window_frames - (b - a) // hop) // 2) * hop
        grid = self.sample_rate // math.gcd(self.sample_rate, audio.sample_rate)
        lo = max(0, a - margin) // grid * grid
        crop = mono[lo: min(len(mono), b + margin)]
        centres = torch.arange(self.frontend.frames_for(len(crop))) * hop + lo
        # A frame is known only if its analysis window stays clear of the region.
        unknown = (centres > a - n_fft // 2) & (centres < b + n_fft // 2)
        return crop, (~unknown).float()[None, None, :], lo

    def _splice(self, audio: Audio, filled: np.ndarray, lo: int, first: int, last: int) -> Audio:
        offset = lo * audio.sample_rate // self.sample_rate
        region = resample(filled[None, :], self.sample_rate, audio.sample_rate)[0]
        region = fit_length(region[first - offset:][None, :], last - first)
        seam = min(round(INPAINT_SEAM_SECONDS * audio.sample_rate), (last - first) // 2)
        weight = np.ones(last - first, dtype=np.float32)
        weight[:seam] = fade_curve(seam)
        weight[len(weight) - seam:] = fade_curve(seam)[::-1]
        out = audio.samples.copy()
        out[:, first:last] = out[:, first:last] * (1 - weight) + region * weight
        return Audio(out, audio.sample_rate)


def load_pipeline(spec: str | Path | None = None) -> ReveriePipeline:
    """None: the embedded default model; "tiny": a small random model (tests); else a model folder."""
    if spec == "tiny":
        return ReveriePipeline.tiny()
    return ReveriePipeline.from_pretrained(spec)


class _Run:
    """Per-call state: the generator, progress and conditioning. Nothing is shared between calls."""

    def __init__(self, pipe: ReveriePipeline, style, melody, seed, steps, guidance, sampler, callback):
        self.pipe, self.style, self.melody = pipe, style, melody
        self.steps, self.guidance, self.sampler = steps, guidance, sampler
        self.generator = torch.Generator().manual_seed(seed)
        self.progress = _Progress(0, callback)
        self.chroma_offset = 0.0  # seconds of the melody before the first frame

    def schedule(self, start: int | None = None):
        """A fresh scheduler (they keep per-run state) and its timesteps, cut to those <= start."""
        scheduler = make_scheduler(self.sampler, self.pipe.config.scheduler)
        if self.sampler == "repaint":
            scheduler.set_timesteps(self.steps, jump_length=max(1, self.steps // 4), jump_n_sample=3)
        else:
            scheduler.set_timesteps(self.steps)
        timesteps = scheduler.timesteps
        if start is not None:
            kept = timesteps[timesteps <= start]
            # A strength below one step still gets one step, the smallest.
            kept = kept if len(kept) else timesteps[-1:]
            if hasattr(scheduler, "set_begin_index"):
                scheduler.set_begin_index(len(timesteps) - len(kept))
            timesteps = kept
        return scheduler, timesteps

    def steps_per_loop(self, start: int | None = None) -> int:
        return len(self.schedule(start)[1])

    def noise(self, shape) -> torch.Tensor:
        return torch.randn(shape, generator=self.generator)

    def conditions(self, frames: int, context=None, mask=None) -> _Conditions:
        n_mels = self.pipe.config.mel.n_mels
        chroma = torch.zeros(1, CHROMA_BINS, frames)
        if self.melody is not None:
            values = self.melody.chroma(self.pipe.config.mel.frame_rate, frames, offset=self.chroma_offset)
            chroma = torch.as_tensor(np.asarray(values, dtype=np.float32))[None]
        return _Conditions(
            self.style,
            chroma,
            context if context is not None else torch.zeros(1, n_mels, frames),
            mask if mask is not None else torch.zeros(1, 1, frames),
            self.guidance,
        )


# --- small helpers ------------------------------------------------------------

def _resampled(model_audio: Iterator[np.ndarray], resampler: StreamResampler) -> Iterator[np.ndarray]:
    for chunk in model_audio:
        out = resampler.push(chunk)
        if len(out):
            yield out
    out = resampler.flush()
    if len(out):
        yield out


def _unit(spec: torch.Tensor) -> torch.Tensor:
    """Unit-magnitude phases of a complex STFT; zero where the STFT is zero (unknown)."""
    return spec / (spec.abs() + 1e-16)


def _slerp(a: torch.Tensor, b: torch.Tensor, ratio: float) -> torch.Tensor:
    cos = (a * b).sum() / (a.norm() * b.norm())
    theta = torch.arccos(cos.clamp(-1, 1))
    if theta < 1e-4:
        return a * (1 - ratio) + b * ratio
    return (torch.sin((1 - ratio) * theta) * a + torch.sin(ratio * theta) * b) / torch.sin(theta)


def _erode(mask: torch.Tensor, frames: int) -> torch.Tensor:
    """Shrink the known mask by `frames` next to unknown frames, so Griffin-Lim may adjust the seam."""
    unknown = 1 - mask
    grown = torch.nn.functional.max_pool1d(unknown[None, None], 2 * frames + 1, 1, frames)[0, 0]
    return 1 - grown


def _method(op: str) -> str:
    if op not in OPERATIONS:
        raise ReverieError(f"unknown operation {op!r}; allowed: {', '.join(OPERATIONS)}", field="op")
    return "continue_" if op == "continue" else op


def _hash_state(module: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]


def _number(value, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise ReverieError(f"{field} must be a number, got {value!r}", field=field)
    value = float(value)
    if not math.isfinite(value):
        raise ReverieError(f"{field} must be a finite number, got {value}", field=field)
    return value


def _check_float(value, field: str, lo: float, hi: float) -> float:
    value = _number(value, field)
    if not lo <= value <= hi:
        raise ReverieError(f"{field} must be between {lo:g} and {hi:g}, got {value:g}", field=field)
    return value


def _check_unit(value, field: str) -> float:
    return _check_float(value, field, 0.0, 1.0)


def _check_int(value, field: str, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        else:
            raise ReverieError(f"{field} must be a whole number, got {value!r}", field=field)
    if not lo <= value <= hi:
        raise ReverieError(f"{field} must be between {lo} and {hi}, got {value}", field=field)
    return int(value)


def _check_choice(value, allowed, field: str):
    if not isinstance(value, str) or value not in allowed:
        raise ReverieError(f"unknown {field} {value!r}; allowed: {', '.join(allowed)}", field=field)
    return value


def _check_seconds(seconds) -> float:
    seconds = _number(seconds, "seconds")
    if not 0 < seconds <= MAX_SECONDS:
        raise ReverieError(f"seconds must be above 0 and at most {MAX_SECONDS}, got {seconds:g}", field="seconds")
    return seconds


def _check_region(start, end, audio: Audio) -> tuple[int, int]:
    """[start, end) in seconds -> sample indices, inside the clip and at least one sample long."""
    start, end = _number(start, "start"), _number(end, "end")
    length = audio.seconds
    if not 0 <= start < length:
        raise ReverieError(f"start must be between 0 and {length:.3f} s (the clip's length), got {start:g}", field="start")
    if not start < end <= length:
        raise ReverieError(
            f"end must be after start ({start:g} s) and at most {length:.3f} s (the clip's length), got {end:g}",
            field="end",
        )
    first, last = round(start * audio.sample_rate), round(end * audio.sample_rate)
    if last <= first:
        raise ReverieError(f"region {start:g}-{end:g} s is shorter than one sample", field="end")
    return first, last
