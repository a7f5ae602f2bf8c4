"""ReveriePipeline: the model, its noise schedule and the mel frontend, and the five operations on top.

Every call is first prepared, then run:

    call = pipe.prepare("transform", audio=clip, strength=0.4)  # checks every argument now, plans the work
    call.total_steps                                             # how many progress steps running it reports
    out = pipe.execute(call, callback=progress)                  # or call.run(progress): the same

A `PreparedCall` holds the checked arguments, the windows and the step count, and nothing random: each
execution starts its own generator from the seed, so a prepared call may be run again or from another
thread and gives the same bytes. `pipe.run(op, callback=..., **kwargs)`, `pipe.total_steps(op, **kwargs)`
and the named methods (`generate`, `stream_generate`, `transform`, `inpaint`, `interpolate`, `continue_`)
are shorthands for the two steps; `pipe.stream(call)` yields a prepared generate call chunk by chunk.

What the operations' arguments may be is declared once, in operations.py. All operations share the
sampling loops in sampling.py and one vocoder path (`MelFrontend.decode`); long audio goes window by
window through stream.py. They differ only in where they start (noise, or an input mel noised to a
timestep) and what the model is told is known (the context mel and its mask). See docs/architecture.md.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import math
import operator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from .audio import Audio, PeakLimiter, fit_length, limit_peaks, resample, to_model_rate
from .bar_loop import BarLoop
from .beat import hear
from .detail import Detail, air_crossover, measure
from .drift import AudioAnchor, BandAnchor, balance_db, hold_balance, shares_db
from .errors import ReverieError
from .grid import Grid, key_index, parse_bpm
from .groove import GapRepeat, best_copy, fine_period, gap_repeat, loop_after, on_beats, period
from .headroom import ceiling_of, hold_under
from .mel import MelConfig, MelFrontend, unit_phase
from .melody.compose import LoopedLine, melody_in_key
from .melody.key import parse_key
from .melody.notes import Melody
from .mood import parse_mood
from .operations import (
    DECLARED_DEFAULTS,
    INPAINT_SEAM_SECONDS,
    MAX_SECONDS,
    SCHEDULER,
    STREAMING,
    STYLE,
    TIMESTEP,
    Operation,
    Param,
    check_region,
    generate_seconds,
    operation,
)
from .sampling import Callback, Denoiser, Run, Sampling, slerp
from .schedulers import training_scheduler_config
from .stream import Layout, StreamResampler, Window, decode_windows, fade_curve, fit_frames, plan_windows, resampled
from .texture import grains
from .touch import channel_resynthesis, retouch
from .true_peak import true_peak
from .unet import MelUNet1D

DEFAULT_MODEL_DIR = Path(__file__).parent / "default_model"
# inpaint's region bounds: checked against the clip when the call is planned.
_REGION = ("start", "end")
FILL_DB = 1.0  # how far an inpainted band may stray from the session around it
# The session new audio is measured against: a continuation is held no louder than this much of the input
# before it (headroom.py), a fill to the balance, level and image of this much either side (drift.py,
# headroom.py, detail.py), and where the session has no period its grains come from there (texture.py).
# The model's crop around a fill ended 0.6 s short of a bass that came in 5.4 s after a 1 s gap of a
# Wesnoth track: held to the crop, the fill was 3.9 dB under the bass of the 6 s after it.
AROUND_SECONDS = 6.0
# New audio's true peak: at most this far over its inputs' (operations on audio), under this for generate;
# the limiter aims METER_MARGIN_DB lower, as independent true-peak meters differ by that much on music.
CEILING_OVER_INPUT_DB = 1.0
GENERATE_CEILING_DBTP = -1.0
METER_MARGIN_DB = 0.05
# How much of a session its tempo and key are heard from (beat.py): several bars at any tempo it hears.
HEARD_SECONDS = 16.0


def _declared(op: str):
    """Give a named method the signature operation `op` declares after its own positional parameters:
    help() and editors list every parameter, with its default, without a second list here."""

    def sign(method):
        kind = inspect.Parameter
        own = [p for p in inspect.signature(method).parameters.values() if p.kind is kind.POSITIONAL_OR_KEYWORD]
        names = {p.name for p in own}
        params = own + [
            kind(p.name, kind.KEYWORD_ONLY, default=p.default) for p in operation(op).params if p.name not in names
        ]
        params += [kind(name, kind.KEYWORD_ONLY, default=None) for name in ("melody", "callback")]
        method.__signature__ = inspect.signature(method).replace(parameters=params)
        return method

    return sign


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
    # Guidance sharpens what a style does over time, and keeps each mel band's average where the style
    # puts it (sampling.Denoiser.output); False: plain classifier-free guidance, which also pushes the
    # balance past the style's, away from the unlabelled music.
    balanced_guidance: bool = True
    sampler: str = "ddim"
    precision: str = "fp32"
    # Generated mels are set to a reference level before inversion: the source's
    # for transform and interpolate, the known context's for inpaint and continue,
    # and the style's typical level in the training data (`levels_db`, "any" for
    # no style) for generate; one level for every window of a long call. Small
    # errors in the log domain become large level errors after the exponential, far
    # louder than the data for an under-trained model.
    match_level: bool = True
    levels_db: dict = field(default_factory=dict)
    # The image and air of new audio with no session around it (detail.Detail.to_dict), measured on real
    # stereo recordings; empty: centred and band-limited.
    detail: dict = field(default_factory=dict)
    # Long audio: how far (dB) a window's band may drift from the piece's first window (or the continued
    # input's context) before the excess is taken back (drift.py); None: not held. Unheld, a long
    # generate drifts well past that (docs/model.md).
    drift_db: float | None = 4.0
    # Each style's balance in the training data ("any": every clip): per band of drift.BAND_EDGES, the
    # median over clips of drift.band_shares_db. A generation with nothing around it starts with its
    # style's air (drift.STYLE_AIR_DB); empty: the model's own.
    style_bands_db: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: dict) -> "PipelineConfig":
        d = dict(d)
        d["mel"] = MelConfig(**d.get("mel", {}))
        return cls(**d)

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, eq=False)
class Laid:
    """The session's own audio laid out where new audio goes, repeated at its period (groove.py): where new
    audio starts from and what the model's change is measured against. `mel` is the model's mel of it from
    model frame `from_frame` of the session on."""

    audio: np.ndarray
    mel: torch.Tensor
    from_frame: int = 0


@dataclass(frozen=True, eq=False)
class GeneratePlan:
    """generate's length in seconds and, for a result of whole bars, the pre-roll made before bar 1 and
    the fade from the last bar into it (bar_loop.py), in seconds."""

    seconds: float
    lead: float = 0.0
    fade: float = 0.0


@dataclass(frozen=True, eq=False)
class FromTimestep:
    """transform's and interpolate's plan: the timestep denoising starts from (0: the input as it is)."""

    timestep: int


@dataclass(frozen=True, eq=False)
class ContinuePlan:
    """The input at the model's rate and its mel, the last whole frame the context ends on, and, when the
    session's bars are laid out after it, variation's timestep and what was laid."""

    mono: np.ndarray
    mel: torch.Tensor
    last_frame: int
    begin: int | None = None
    laid: Laid | None = None


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


@dataclass(frozen=True, eq=False)
class PreparedCall:
    """One operation with its arguments checked and its work planned; run it with `run` or `pipe.execute`.

    `args` holds every argument of the operation, checked, with defaults filled in (None still means
    "the model's setting" or "absent"); `plan` what planning derived from them (the operation's own
    plan type above); `windows` are the (context, new) frame counts of generate and
    continue, one denoising loop each.
    """

    pipe: "ReveriePipeline" = field(repr=False)
    op: str
    args: dict = field(repr=False)
    sampling: Sampling
    total_steps: int
    windows: tuple[Window, ...] = ()
    plan: Any = field(default=None, repr=False)

    def run(self, callback: Callback | None = None) -> Audio:
        return self.pipe.execute(self, callback=callback)


class ReveriePipeline:
    def __init__(self, unet: MelUNet1D, config: PipelineConfig):
        self.unet = unet.eval().requires_grad_(False)
        self.config = config
        self.frontend = MelFrontend(config.mel)
        self.denoiser = Denoiser(self.unet, config)
        # Of the weights and the settings that shape the sound (a new detail prior or calibration is a new
        # model to a render's cache), so a model in memory and its saved folder hash the same.
        self.model_hash = _hash_state(unet, config)

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
    def tiny(cls, seed: int = 0, grid: bool = False) -> "ReveriePipeline":
        """A small random model with the full machinery, fast enough for tests; `grid`: one that hears
        tempo and key. Like every call, it leaves torch's global generator as it found it."""
        # Module initialisers draw from the global generator: seed a forked copy of it.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            unet = MelUNet1D(
                n_mels=32,
                channels=(32, 48),
                layers_per_level=1,
                attention_levels=(False,),
                attention_heads=2,
                time_embed_dim=64,
                grid=grid,
            )
            # A trained model's output layer (and grid input) is not zero: without this, style, melody
            # and tempo could not change a sample and tests could not tell a face that drops them.
            trained = [unet.embed_out.weight] + ([unet.grid_in.weight, unet.key_embed.weight] if grid else [])
            for weight in trained:
                torch.nn.init.normal_(weight, std=0.02)
        mel = MelConfig(n_fft=512, hop_length=256, n_mels=32, griffin_lim_iters=8)
        config = PipelineConfig(mel=mel, window_frames=64, context_frames=16, crossfade_frames=8, steps=4, guidance=2.0)
        return cls(unet, config)

    # --- facts for callers --------------------------------------------------
    @property
    def styles(self) -> tuple[str, ...]:
        return tuple(self.unet.config.styles)

    @property
    def sample_rate(self) -> int:
        return self.config.mel.sample_rate

    @property
    def alphas_cumprod(self) -> torch.Tensor:
        return self.denoiser.alphas_cumprod

    @property
    def defaults(self) -> dict:
        """What a call gets for what it leaves out: the declared defaults (operations.py), and the model's own
        steps, guidance and sampler."""
        c = self.config
        return {
            **DECLARED_DEFAULTS,
            "steps": c.steps,
            "guidance": c.guidance,
            "scheduler": c.sampler,
            "inpaint_seam_seconds": INPAINT_SEAM_SECONDS,
            "max_seconds": MAX_SECONDS,
        }

    # --- preparing and running calls ----------------------------------------
    def prepare(self, op: str, **kwargs) -> PreparedCall:
        """Check every argument of operation `op` and plan its work; nothing is computed yet."""
        spec = operation(op)
        args = self._checked(spec, kwargs)
        sampling = self._sampling(spec, args)
        plan_of, _ = self._steps_of(spec.name)
        plan, windows, total = plan_of(args, sampling)
        return PreparedCall(self, spec.name, args, sampling, total, windows, plan)

    def execute(self, call: PreparedCall, callback: Callback | None = None) -> Audio:
        """Run a prepared call. `callback(step, total)` after every model step; returning False cancels."""
        run = Run(self.denoiser, call.sampling, call.total_steps, callback)
        _, run_call = self._steps_of(call.op)
        return run_call(call, run)

    def _steps_of(self, op: str):
        """Operation -> (plan, run): one table, so a reader follows a call from its name."""
        return {
            "generate": (self._plan_generate, self._run_generate),
            "transform": (self._plan_transform, self._run_transform),
            "inpaint": (self._plan_inpaint, self._run_inpaint),
            "interpolate": (self._plan_interpolate, self._run_interpolate),
            "continue": (self._plan_continue, self._run_continue),
        }[op]

    def stream(self, call: PreparedCall, callback: Callback | None = None) -> Iterator[Audio]:
        """A prepared generate call as consecutive chunks; memory stays constant in its length."""
        if not operation(call.op).streams:
            raise ValueError(f"{call.op} does not stream; {', '.join(STREAMING)} does")
        return self._generate_chunks(call, Run(self.denoiser, call.sampling, call.total_steps, callback))

    def run(self, op: str, callback: Callback | None = None, **kwargs) -> Audio:
        """Dispatch by operation name: the one entry point for the CLI, bridge and renderer."""
        return self.execute(self.prepare(op, **kwargs), callback=callback)

    def total_steps(self, op: str, callback: Callback | None = None, **kwargs) -> int:
        """How many progress steps `run(op, **kwargs)` will report (`callback` is ignored)."""
        return self.prepare(op, **kwargs).total_steps

    # --- the operations, by name --------------------------------------------
    # Shorthands for prepare + execute. Their parameters are the spec's (operations.py): `_declared` adds
    # them to each method's signature, so help() and editors show them without a second list here.
    @_declared("generate")
    def generate(self, seconds: float | None = None, **params) -> Audio:
        """New audio in a style, optionally following a melody; `bars=` at `bpm=` instead of seconds."""
        return self.run("generate", seconds=seconds, **params)

    @_declared("generate")
    def stream_generate(
        self, seconds: float | None = None, *, callback: Callback | None = None, **params
    ) -> Iterator[Audio]:
        """generate as consecutive chunks: arguments are checked now, memory stays constant in `seconds`."""
        return self.stream(self.prepare("generate", seconds=seconds, **params), callback=callback)

    @_declared("transform")
    def transform(self, audio: Audio, **params) -> Audio:
        """Restyle `audio`: noise it to a level, then denoise toward a style (Msanii §5.2)."""
        return self.run("transform", audio=audio, **params)

    @_declared("interpolate")
    def interpolate(self, a: Audio, b: Audio, **params) -> Audio:
        """Mix two clips at noise level t, then denoise (Msanii §5.3). `ratio` is B's share: 0 = A, 1 = B.

        The result has A's rate, channels and length: B is resampled to A's rate, folded
        to mono, and tiled (looped) or trimmed to A's length.
        """
        return self.run("interpolate", a=a, b=b, **params)

    @_declared("inpaint")
    def inpaint(self, audio: Audio, start: float, end: float, **params) -> Audio:
        """Regenerate [start, end) seconds. Outside it every sample is the input's own, bit for bit.

        method "trained": the model sees the known mel on both sides as context.
        method "repaint": the training-free RePaint baseline (Msanii §5.4).
        """
        return self.run("inpaint", audio=audio, start=start, end=end, **params)

    @_declared("continue")
    def continue_(self, audio: Audio, seconds: float, **params) -> Audio:
        """`audio` and `seconds` more of it; the input itself is kept bit-exact."""
        return self.run("continue", audio=audio, seconds=seconds, **params)

    # --- generate -----------------------------------------------------------
    def _plan_generate(self, args: dict, sampling: Sampling):
        if args["bars"] is not None:
            seconds = generate_seconds(None, bars=args["bars"], bpm=args["bpm"], beats_per_bar=args["beats_per_bar"])
            # A bar of pre-roll leads into bar 1 and the last beat fades into its last beat, so the result
            # loops. A bar, not a beat: the model is into the music by bar 1, not starting it there (loop
            # seams over the clip's own p95 change, 15 generates: median 0.85 against 1.04 with a beat).
            grid = sampling.grid
            lead, fade = (grid.seconds_of(beats) - grid.downbeat for beats in (grid.beats_per_bar, 1.0))
            plan = GeneratePlan(seconds, lead, fade)
        elif args["seconds"] is None:
            raise TypeError("generate needs seconds or bars")
        else:
            plan = GeneratePlan(args["seconds"])
        made = math.ceil((plan.lead + plan.seconds) * self.sample_rate)
        windows = self._windows(self.frontend.frames_for(made) + 1, 0)
        return plan, windows, len(windows) * self.denoiser.steps(sampling)

    def _run_generate(self, call: PreparedCall, run: Run) -> Audio:
        chunks = self._generate_chunks(call, run)
        return Audio(np.concatenate([c.samples for c in chunks], axis=1), call.args["sample_rate"])

    def _generate_chunks(self, call: PreparedCall, run: Run) -> Iterator[Audio]:
        sample_rate, channels, plan = call.args["sample_rate"], call.args["channels"], call.plan
        lead = round(plan.lead * sample_rate)
        out_frames, emitted = lead + round(plan.seconds * sample_rate), 0
        finish = self.prior.for_channels(channels).stream(sample_rate, self.sample_rate)
        # New audio has headroom for a DAW's own resampling and codecs: the widened image adds the side's
        # peaks to the mid's.
        limiter = PeakLimiter(10 ** ((GENERATE_CEILING_DBTP - METER_MARGIN_DB) / 20), sample_rate)
        loop = BarLoop(lead, round(plan.fade * sample_rate), out_frames - lead) if lead else None
        looped = (lambda x: x) if loop is None else loop.push
        run.origin = -plan.lead
        with torch.inference_mode():
            model_audio = self._decode_windows(run, call.windows, 0, None, None)
            for piece in resampled(model_audio, StreamResampler(self.sample_rate, sample_rate)):
                piece = piece[: out_frames - emitted]
                emitted += len(piece)
                if len(piece):
                    yield from _nonempty(limiter.push(looped(finish.push(piece[None, :]))), sample_rate)
        if emitted < out_frames:
            silence = np.zeros((1, out_frames - emitted), np.float32)
            yield from _nonempty(limiter.push(looped(finish.push(silence))), sample_rate)
        yield from _nonempty(limiter.push(looped(finish.flush())), sample_rate)
        if loop is not None:
            yield from _nonempty(limiter.push(loop.flush()), sample_rate)
        yield from _nonempty(limiter.flush(), sample_rate)

    # --- continue -----------------------------------------------------------
    def _plan_continue(self, args: dict, sampling: Sampling):
        mono = to_model_rate(args["audio"], self.sample_rate)
        # The input's last frame hangs over its end; the context is the whole frames before it.
        last_frame = self.frontend.frames_for(len(mono)) - 1
        context = min(self.config.context_frames, last_frame)
        windows = self._windows(self.frontend.frames_for(math.ceil(args["seconds"] * self.sample_rate)) + 2, context)
        with torch.inference_mode():
            mel = self.frontend.encode(torch.from_numpy(mono))[None]
        plan = ContinuePlan(mono, mel, last_frame)
        if args["variation"] < 1:
            # What is laid out starts on a frame at or before the first window's, where both rate grids
            # meet: the input before it is neither denoised nor retouched.
            hop, rate = self.config.mel.hop_length, args["audio"].sample_rate
            grid = self.sample_rate // math.gcd(self.sample_rate, rate)
            step = grid // math.gcd(grid, hop)
            laid_from = (last_frame - windows[0][0]) // step * step
            lag = self._groove_lag(args, mel[..., :last_frame], sampling.grid)
            laid = self._laid_after(args, lag, laid_from)
            if laid is not None:
                plan = replace(plan, begin=self._timestep(args["variation"]), laid=laid)
        return plan, windows, len(windows) * self.denoiser.steps(sampling, plan.begin)

    def _laid_after(self, args: dict, lag: int | None, from_frame: int) -> Laid | None:
        """The caller's audio from model frame `from_frame` on, followed by `seconds` and a little more of
        its last period looped (groove.py), the period found near `lag` frames; with no period, of grains
        of its own sound (texture.py). None where the session is too short for a grain."""
        audio, hop, rate = args["audio"], self.config.mel.hop_length, args["audio"].sample_rate
        frames = round(args["seconds"] * rate) + self.config.mel.n_fft * rate // self.sample_rate
        if lag is None:
            recent = _around(audio, audio.frames, audio.frames)[0]
            new = grains([recent], recent, frames, rate, np.random.default_rng(args["seed"]))
            if new is None:
                return None
        else:
            period = self._period_samples(audio.samples[:, -self._heard_samples(rate) :], rate, lag, args["bpm"])
            new = loop_after(audio.samples, period, frames, round(INPAINT_SEAM_SECONDS * rate))
        offset = from_frame * hop * rate // self.sample_rate
        laid = np.concatenate([audio.samples[:, offset:], new], axis=1)
        with torch.inference_mode():
            mono = to_model_rate(Audio(laid, rate), self.sample_rate)
            return Laid(laid, self.frontend.encode(torch.from_numpy(mono))[None], from_frame)

    def _run_continue(self, call: PreparedCall, run: Run) -> Audio:
        audio, plan = call.args["audio"], call.plan
        mono, last_frame = plan.mono, plan.last_frame
        hop = self.config.mel.hop_length
        frame0 = last_frame - call.windows[0][0]
        resampler = StreamResampler(self.sample_rate, audio.sample_rate)
        # Begin resampling on a sample where both rate grids meet, so output samples line up exactly.
        aligned = frame0 * hop // resampler.block_in * resampler.block_in
        pieces = [resampler.push(mono[aligned : frame0 * hop])]
        mel = plan.mel
        layout = None if plan.laid is None else Layout(plan.laid.mel, plan.laid.from_frame, plan.begin)
        with torch.inference_mode():
            model_audio = list(
                self._decode_windows(
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
        frames = round(call.args["seconds"] * audio.sample_rate)
        tail = audio.samples[:, max(0, audio.frames - seam) :]  # the input under the model's context audio
        rate = audio.sample_rate
        if layout is None:
            mid = fit_length(np.concatenate(pieces), seam + frames)
            new = self._finished_after(mid, tail, self._detail_of(tail, sample_rate=rate), rate)
        else:  # the model's change as a gain on the looped session itself: its hits, image and air (touch.py)
            laid, before, start = plan.laid.audio, plan.laid.mel[0], plan.laid.from_frame
            after = fit_frames(torch.cat([mel[..., start:last_frame], *layout.made], dim=-1), before.shape[-1])[0]
            length = (before.shape[-1] - 1) * hop  # as many frames as `before`
            resynth = fit_length(np.concatenate([mono[start * hop : frame0 * hop], *model_audio]), length)
            changed = retouch(Audio(laid, rate), before, after, resynth, self.frontend, call.args["variation"])
            known = audio.frames - start * hop * rate // self.sample_rate  # the input's samples in `laid`
            new = _joined_after(changed.samples[:, known : known + frames], tail, rate)
        new = _held(new, audio.sample_rate, _around(audio, audio.frames, audio.frames)[0])
        new = limit_peaks(new, _ceiling(audio.samples), audio.sample_rate)
        return Audio(np.concatenate([audio.samples, new], axis=1), audio.sample_rate)

    def _finished_after(self, mid: np.ndarray, before: np.ndarray, detail: Detail, sample_rate: int) -> np.ndarray:
        """The part of `mid` after `before` (the caller's audio under mid's first samples), finished with
        `detail`. Over its first seam the new image and air fade in from the input's own, mirrored at the
        join, so no channel jumps there: the mid already runs on smoothly, the rest does too."""
        known = before.shape[-1]
        whole = detail.for_channels(len(before)).finish(mid, sample_rate, self.sample_rate)
        layer = whole[:, known:] - mid[known:]
        seam = min(round(INPAINT_SEAM_SECONDS * sample_rate), known, layer.shape[-1])
        if seam:
            own = (before[:, known - seam :] - mid[known - seam : known])[:, ::-1]
            fade = fade_curve(seam)
            layer[:, :seam] = layer[:, :seam] * fade + own * (1 - fade)
        return (mid[known:] + layer).astype(np.float32)

    # --- transform ----------------------------------------------------------
    def _plan_transform(self, args: dict, sampling: Sampling):
        start = self._start_timestep(args)
        loop = self.denoiser.steps(sampling, start) if start > 0 else 0
        return FromTimestep(start), (), loop * 2 if args["inversion"] else loop

    def _run_transform(self, call: PreparedCall, run: Run) -> Audio:
        audio, start = call.args["audio"], call.plan.timestep
        if start == 0:
            return Audio(audio.samples.copy(), audio.sample_rate)
        mono = to_model_rate(audio, self.sample_rate)
        with torch.inference_mode():
            x0 = self.frontend.encode(torch.from_numpy(mono))[None]
            cond = run.conditions(x0.shape[-1])
            scheduler, timesteps = run.schedule(start)
            if call.args["inversion"]:
                x = run.invert(x0, timesteps, cond)
            else:
                x = self.denoiser.add_noise(x0, run.noise(x0.shape), timesteps[0])
            x = self._leveled(run.denoise(x, scheduler, timesteps, cond), self.frontend.level_db(x0))
            # Starting Griffin-Lim from the input's phases keeps its transients where the mel allows.
            if audio.channels > 1 and air_crossover(self.sample_rate) is None:
                out = channel_resynthesis(self.frontend, audio, x[0] - x0[0], run.generator, keep_phase=True)
            else:
                phase = unit_phase(self.frontend.stft(torch.from_numpy(mono)))
                out = self.frontend.decode(x[0], len(mono), run.generator, init_phase=phase).numpy()
        strength = start / (len(self.alphas_cumprod) - 1)
        # The change lands on the input's own spectrum, per channel, at its rate (touch.py).
        out = retouch(audio, x0[0], x[0], out, self.frontend, strength)
        out = _held(out.samples, audio.sample_rate, audio.samples)
        return Audio(limit_peaks(out, _ceiling(audio.samples), audio.sample_rate), audio.sample_rate)

    # --- interpolate --------------------------------------------------------
    def _plan_interpolate(self, args: dict, sampling: Sampling):
        start = self._start_timestep(args)
        return FromTimestep(start), (), self.denoiser.steps(sampling, start) if start > 0 else 0

    def _run_interpolate(self, call: PreparedCall, run: Run) -> Audio:
        a, b, ratio, start = call.args["a"], call.args["b"], call.args["ratio"], call.plan.timestep
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
            xa = self.denoiser.add_noise(xa, run.noise(xa.shape), timesteps[0])
            xb = self.denoiser.add_noise(xb, run.noise(xb.shape), timesteps[0])
            x = slerp(xa, xb, ratio) if call.args["mix"] == "slerp" else xa * (1 - ratio) + xb * ratio
            x = self._leveled(run.denoise(x, scheduler, timesteps, run.conditions(x.shape[-1])), reference)
            out = self.frontend.decode(x[0], len(mono_a), run.generator)
        mid = fit_length(resample(out.numpy()[None, :], self.sample_rate, a.sample_rate)[0], a.frames)
        detail_b = self._detail_of(b.samples, sample_rate=b.sample_rate)
        detail = self._detail_of(a.samples, sample_rate=a.sample_rate).mix(detail_b, ratio)
        out = detail.for_channels(a.channels).finish(mid, a.sample_rate, self.sample_rate)
        out = self._blend_balanced(out, a.samples, b_samples, ratio, a.sample_rate)
        out = _held(out, a.sample_rate, a.samples, b_samples)
        return Audio(limit_peaks(out, _ceiling(a.samples, b_samples), a.sample_rate), a.sample_rate)

    def _blend_balanced(self, out: np.ndarray, a: np.ndarray, b: np.ndarray, ratio: float, sample_rate: int):
        """A blend's balance (each band's share of the whole) within the drift a continuation has (its air
        within drift.AIR_LIMIT_DB) of A's and B's, weighted by `ratio` in dB; a silent source has none and
        leaves it to the other. Its level stays the level reference's. Unheld, the blend of a held-out track
        with its next 12 s came out up to 4.5 dB darker above 11.5 kHz than both (bench/music_fit.py)."""
        if self.config.drift_db is None:
            return out
        weighted = [(w, shares_db(balance_db([x], sample_rate))) for w, x in ((1 - ratio, a), (ratio, b)) if w > 0]
        weighted = [(w, s) for w, s in weighted if s is not None]
        if not weighted:
            return out
        shares = sum(w * s for w, s in weighted) / sum(w for w, _ in weighted)
        return hold_balance(out, shares, sample_rate, self.config.drift_db, shares=True)

    # --- inpaint ------------------------------------------------------------
    def _plan_inpaint(self, args: dict, sampling: Sampling):
        audio = args["audio"]
        first, last = check_region(args["start"], args["end"], audio.seconds, audio.sample_rate)
        crop, mask, lo = self._inpaint_crop(audio, first, last)
        with torch.inference_mode():
            x0 = self.frontend.encode(torch.from_numpy(crop))[None]
        plan = InpaintPlan(first, last, crop, lo, mask, x0)
        if args["method"] == "trained" and args["variation"] < 1:
            repeat = gap_repeat(x0, mask[0, 0] == 0, self.config.mel.frame_rate, self._bar_frames(sampling.grid))
            laid = self._laid_gap(audio, replace(plan, repeat=repeat), args)
            if laid is not None:
                plan = replace(plan, repeat=repeat, begin=self._timestep(args["variation"]), laid=laid)
        return plan, (), self.denoiser.steps(sampling, plan.begin)

    def _laid_gap(self, audio: Audio, plan: InpaintPlan, args: dict) -> Laid | None:
        """The caller's audio with the region filled from its own stretch a whole number of periods away
        whose surroundings match the region's (groove.best_copy), else looped in from the side that
        repeats (groove.py); with no period either side, grains of the sound around it (texture.py); None
        where there is too little around it for a grain. Its mel is the model's over the crop."""
        first, last, rate = plan.first, plan.last, audio.sample_rate
        laid = audio.samples.copy()
        if plan.repeat is None:
            around = _around(audio, first, last)
            new = grains(around, around[0], last - first, rate, np.random.default_rng(args["seed"]))
            if new is None:
                return None
            laid[:, first:last] = new
        else:
            span = self._heard_samples(rate)
            side = audio.samples[:, :first][:, -span:] if plan.repeat.forward else audio.samples[:, last:][:, :span]
            lag = self._period_samples(side, rate, plan.repeat.lag, args["bpm"])
            offset = best_copy(audio.samples, first, last, lag, rate)
            if offset is None:  # no whole stretch a number of periods away: the side looped into the gap
                laid = plan.repeat.laid_audio(audio.samples, first, last, lag, round(INPAINT_SEAM_SECONDS * rate))
            else:
                laid[:, first:last] = audio.samples[:, first - offset : last - offset]
        mono = to_model_rate(Audio(laid, audio.sample_rate), self.sample_rate)
        crop = mono[plan.lo : plan.lo + len(plan.crop)]
        with torch.inference_mode():
            return Laid(laid, self.frontend.encode(torch.from_numpy(crop))[None])

    def _run_inpaint(self, call: PreparedCall, run: Run) -> Audio:
        audio, plan = call.args["audio"], call.plan
        first, last, crop, mask, lo, x0 = plan.first, plan.last, plan.crop, plan.mask, plan.lo, plan.x0
        run.chroma_offset = lo / self.sample_rate
        with torch.inference_mode():
            scheduler, timesteps = run.schedule(plan.begin)
            if call.args["method"] == "trained":
                cond = run.conditions(x0.shape[-1], context=x0, mask=mask)
                x = run.noise(x0.shape)
                if plan.laid is not None:  # the session's own bars across the gap (groove.py)
                    x = self.denoiser.add_noise(plan.laid.mel, x, timesteps[0])
                x = run.denoise(x, scheduler, timesteps, cond)
            else:
                x = run.repaint(x0, mask, scheduler, timesteps, run.conditions(x0.shape[-1]))
            unknown = mask[0, 0] == 0
            if unknown.all():
                known_level = self._for_style(self.config.levels_db, run.style)
            else:
                known_level = self.frontend.level_db(x0, ~unknown)
            # A fill sits in its session: each band within FILL_DB of the known frames around it, much
            # tighter than the drift a long piece may have (docs/model.md).
            anchor = BandAnchor(self.frontend, FILL_DB, x0[..., ~unknown])
            x[..., unknown] = self._leveled(anchor(x[..., unknown]), known_level)
            known = self.frontend.stft(torch.from_numpy(crop)) * _erode(mask[0, 0], 2)[None, :]
            filled = self.frontend.decode(
                x[0], len(crop), run.generator, init_phase=unit_phase(known), known_stft=known
            )
            filled = filled.numpy()
        offset = lo * audio.sample_rate // self.sample_rate
        end = offset + round(len(crop) * audio.sample_rate / self.sample_rate)
        around = _around(audio, first, last)
        if plan.laid is None:
            region = self._finished_region(audio, filled, offset, first, last, around)
        else:  # the model's change as a gain on the looped session itself: its hits, image and air (touch.py)
            laid = Audio(plan.laid.audio[:, offset:end], audio.sample_rate)
            changed = retouch(laid, plan.laid.mel[0], x[0], filled, self.frontend, call.args["variation"])
            region = fit_length(changed.samples[:, first - offset :], last - first)
        # The fill's balance as a listener hears it against the session: each band within FILL_DB.
        region = hold_balance(region, balance_db(around, audio.sample_rate), audio.sample_rate, FILL_DB)
        return self._spliced(audio, region, first, last, around)

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
        crop = mono[lo : min(len(mono), b + margin)]
        centres = torch.arange(self.frontend.frames_for(len(crop))) * hop + lo
        # A frame is known only if its analysis window stays clear of the region.
        unknown = (centres > a - n_fft // 2) & (centres < b + n_fft // 2)
        return crop, (~unknown).float()[None, None, :], lo

    def _finished_region(self, audio: Audio, filled: np.ndarray, offset: int, first: int, last: int, around):
        """The region of the crop's model-rate mid `filled`, finished with the image and air `around` it."""
        mid = resample(filled[None, :], self.sample_rate, audio.sample_rate)[0]
        detail = self._detail_of(*[a for a in around if a.shape[-1]], sample_rate=audio.sample_rate)
        region = detail.for_channels(audio.channels).finish(mid, audio.sample_rate, self.sample_rate)
        return fit_length(region[:, first - offset :], last - first)

    def _spliced(self, audio: Audio, region: np.ndarray, first: int, last: int, around) -> Audio:
        """`audio` with `region` in [first, last): no louder than `around`, faded in and out over the seams."""
        region = _held(region, audio.sample_rate, *around)
        region = limit_peaks(region, _ceiling(audio.samples), audio.sample_rate)
        seam = min(round(INPAINT_SEAM_SECONDS * audio.sample_rate), (last - first) // 2)
        weight = np.ones(last - first, dtype=np.float32)
        weight[:seam] = fade_curve(seam)
        weight[len(weight) - seam :] = fade_curve(seam)[::-1]
        out = audio.samples.copy()
        out[:, first:last] = out[:, first:last] * (1 - weight) + region * weight
        return Audio(out, audio.sample_rate)

    # --- arguments ----------------------------------------------------------
    def _checked(self, spec: Operation, kwargs: dict) -> dict:
        """Every input and parameter of `spec` (plus melody), checked against operations.py, defaults filled in.
        None counts as left out. Unknown and missing arguments are the caller's bug, as in a Python call: TypeError."""
        unknown = set(kwargs) - set(spec.inputs) - set(spec.names) - {"melody"}
        missing = [name for name in spec.inputs + spec.required if name not in kwargs]
        if unknown or missing:
            wrong = [f"unexpected {name!r}" for name in sorted(unknown)] + [f"missing {name!r}" for name in missing]
            raise TypeError(f"{spec.method}(): {', '.join(wrong)}")
        if kwargs.get("scheduler") == "repaint":  # the pipeline's own sampler for method "repaint"
            raise ReverieError(
                f"scheduler 'repaint' goes with inpaint's method 'repaint'; allowed: {', '.join(SCHEDULER.choices)}",
                field="scheduler",
            )
        spec.check_alternatives(kwargs)
        args: dict[str, Any] = {name: kwargs[name].validate(name) for name in spec.inputs}
        for param, value in zip(spec.params, spec.filled(kwargs).values()):
            if param.name in _REGION:  # check_region tells the clip's length, which the declaration cannot
                args[param.name] = value
            else:  # None: absent, or the model's setting
                args[param.name] = None if value is None else self._param(param).check(value)
        args["melody"] = kwargs.get("melody")
        if args["melody"] is not None and not hasattr(args["melody"], "chroma"):
            raise ReverieError("melody must be a Melody (from a MIDI file or a hummed take)", field="melody")
        return args

    def _param(self, param: Param) -> Param:
        """The declared parameter as this model allows it: styles and timesteps are the model's own."""
        if param is STYLE:
            return replace(STYLE, choices=self.styles)
        return replace(TIMESTEP, high=len(self.alphas_cumprod) - 1) if param is TIMESTEP else param

    def _sampling(self, spec: Operation, args: dict) -> Sampling:
        c = self.config
        sampler = c.sampler if args["scheduler"] is None else args["scheduler"]
        mood = None if args["mood"] is None else parse_mood(args["mood"], self.styles)
        if mood is not None and mood.moves and not spec.streams:
            raise ReverieError(
                f"a mood that moves over time is for {', '.join(STREAMING)}, made window by window; "
                f"give {spec.name} one mood",
                field="mood",
            )
        grid, key = self._grid_and_key(spec, args)
        melody = args["melody"]
        if melody is None and key is not None and not spec.inputs:
            melody = self._line_in_key(args, key, grid, mood)
        elif melody is not None and key is not None and not spec.inputs:
            melody = melody.in_key(key)  # the key asked for wins over the melody's own
        return Sampling(
            grid=grid,
            key=key_index(key),
            mood=mood,
            style=self.unet.null_style if args["style"] is None else self.styles.index(args["style"]),
            melody=melody,
            seed=args["seed"],
            steps=c.steps if args["steps"] is None else args["steps"],
            guidance=c.guidance if args["guidance"] is None else args["guidance"],
            sampler="repaint" if args.get("method") == "repaint" else sampler,
        )

    def _line_in_key(self, args: dict, key, grid, mood) -> Melody | LoopedLine:
        """A generate asked for a key with no melody follows a line in that key (melody/compose.py): the
        key input alone does not steer the model, its melody input does."""
        seconds = args["seconds"]
        if args["bars"] is not None:
            seconds = generate_seconds(None, bars=args["bars"], bpm=args["bpm"], beats_per_bar=args["beats_per_bar"])
        if mood is not None:
            style_at = lambda t: self.styles[int(np.argmax(mood.at(t)))]  # noqa: E731  the loudest voice of the mix
        else:
            style_at = lambda t: args["style"]  # noqa: E731
        return melody_in_key(key, seconds, args["seed"], grid, style_at, loop=args["bars"] is not None)

    def _grid_and_key(self, spec: Operation, args: dict):
        """The grid and key to follow, checked against what this model was taught: generate's are the ones
        asked for; an operation on audio keeps the session's, the caller's or heard from it (beat.py)."""
        bpm, beats, key = args.get("bpm"), args.get("beats_per_bar"), args.get("key")
        for name, value in (("beats_per_bar", beats), ("bars", args.get("bars"))):
            if value is not None and bpm is None and not spec.inputs:
                raise ReverieError(f"{name} needs a bpm: give the tempo its bars are counted in", field=name)
        if (bpm is not None or key is not None) and not self.unet.config.grid:
            asked = "bpm" if bpm is not None else "key"
            raise ReverieError(
                f"this model was trained without tempo and key, so {asked} cannot steer it; leave {asked} out, or "
                "use one trained with them (`reverie train --grid`; the embedded default is)",
                field=asked,
            )
        grid = None if bpm is None else parse_bpm(bpm, beats)
        key = None if key is None else parse_key(key)
        if not spec.inputs or not self.unet.config.grid:
            return grid, key
        return self._session_grid_and_key(spec, args, grid, key, beats)

    def _session_grid_and_key(self, spec: Operation, args: dict, grid, key, beats):
        """The grid and key heard from the part of the session the new audio joins (continue: its last
        HEARD_SECONDS; inpaint: around the region; otherwise its start), where the caller did not give them."""
        audio = args[spec.inputs[0]]
        seconds = audio.frames / audio.sample_rate
        if spec.name == "continue":
            start = max(0.0, seconds - HEARD_SECONDS)
        elif spec.name == "inpaint":
            region = check_region(args["start"], args["end"], seconds, audio.sample_rate)[0] / audio.sample_rate
            start = min(max(0.0, region - HEARD_SECONDS / 2), max(0.0, seconds - HEARD_SECONDS))
        else:
            start = 0.0
        lo = int(start * audio.sample_rate)
        heard = Audio(audio.samples[:, lo : lo + int(HEARD_SECONDS * audio.sample_rate)], audio.sample_rate)
        mono = to_model_rate(heard, self.sample_rate)
        found, heard_key = hear(self.frontend, mono, grid and grid.steady_bpm, beats, hear_key=key is None)
        if found is not None:
            found = Grid.steady(found.steady_bpm, found.beats_per_bar, start + found.downbeat)
        return found, heard_key if key is None else key

    def _start_timestep(self, args: dict) -> int:
        """Where transform and interpolate start denoising: timestep, or strength 0-1 of the schedule."""
        timestep = args["timestep"]
        return self._timestep(args["strength"]) if timestep is None else timestep

    def _timestep(self, share: float) -> int:
        """The timestep `share` (0-1) of the way through the noise schedule: strength's, variation's."""
        return round(share * (len(self.alphas_cumprod) - 1))

    # --- shared machinery ---------------------------------------------------
    def _windows(self, new_frames: int, context: int) -> tuple[Window, ...]:
        c = self.config
        return plan_windows(new_frames, context, c.window_frames, c.context_frames)

    def _heard_samples(self, rate: int) -> int:
        """How much of the session period() hears (a window of frames), in samples at `rate`."""
        return round(self.config.window_frames * self.config.mel.hop_length * rate / self.sample_rate)

    def _period_samples(self, session: np.ndarray, rate: int, lag: int, bpm) -> int:
        """The period of `session` (channels, samples at `rate`) to the sample, near `lag` model frames
        (groove.fine_period); on whole beats of the caller's `bpm` where given and it fits (groove.on_beats)."""
        frame = self.config.mel.hop_length * rate / self.sample_rate
        period = fine_period(session.mean(axis=0), rate, round(lag * frame), search=round(1.5 * frame))
        return period if bpm is None else on_beats(period, rate, parse_bpm(bpm).steady_bpm)

    def _groove_lag(self, args: dict, known: torch.Tensor, grid: Grid | None) -> int | None:
        """The period (frames) new audio repeats `known` at (groove.py), or None where it has none."""
        return period(known[..., -self.config.window_frames :], self.config.mel.frame_rate, self._bar_frames(grid))

    def _bar_frames(self, grid: Grid | None) -> float | None:
        """The session's bar in model frames, where its tempo is known (heard or the caller's)."""
        if grid is None or grid.steady_bpm is None:
            return None
        return grid.beats_per_bar * 60.0 / grid.steady_bpm * self.config.mel.frame_rate

    def _decode_windows(
        self, run: Run, windows, frame0: int, context_mel, known_audio, layout: Layout | None = None
    ) -> Iterator[np.ndarray]:
        # One level for the whole call: the input's (continuation) or the style's. Re-measuring
        # each window's context instead lets the level wander from window to window.
        c = self.config
        if windows[0][0]:
            reference = self.frontend.level_db(context_mel)
            anchor = BandAnchor(self.frontend, c.drift_db, context_mel)
        else:
            reference = self._for_style(c.levels_db, run.style)
            anchor = BandAnchor(self.frontend, c.drift_db, style_shares=self._for_style(c.style_bands_db, run.style))
        hold = AudioAnchor(self.frontend, c.drift_db)
        if run.sampling.mood is not None and run.sampling.mood.moves:
            level = self._following(run, anchor, hold)
        else:
            level = lambda x: self._leveled(anchor(x), reference)  # noqa: E731
        return decode_windows(
            run, self.frontend, c, windows, frame0, context_mel, known_audio, level=level, hold=hold, layout=layout
        )

    def _following(self, run: Run, anchor: BandAnchor, hold: AudioAnchor):
        """A window's level when the mood moves: the mood's own level where the window is, and the balance
        both anchors hold (drift.py) moved by how far the mood's balance and level have moved since the first
        window, so the piece keeps its drift in check and still goes where it is asked."""
        c, start = self.config, {}

        def level(x: torch.Tensor) -> torch.Tensor:
            style = run.window_style
            now = self._for_style(c.levels_db, style), self._for_style(c.style_bands_db, style)
            level_db, shares = start.setdefault("first", now)
            if now[1] is not None and shares is not None:
                moved = np.subtract(now[1], shares)
                anchor.moved = torch.tensor(moved, dtype=torch.float32)
                hold.moved = moved + (now[0] - level_db if now[0] is not None and level_db is not None else 0.0)
            return self._leveled(anchor(x), now[0])

        return level

    @property
    def prior(self) -> Detail:
        """The image and air of new audio with no session around it: the model's `detail`, measured on real
        stereo recordings (models/corpus/real.py); centred and band-limited for a model without one."""
        return Detail.from_dict(self.config.detail) if self.config.detail else Detail.centred(2)

    def _detail_of(self, *parts: np.ndarray, sample_rate: int) -> Detail:
        """The image and air of the caller's audio in `parts` (each (channels, frames)), to finish new audio
        that joins it; the model's prior where there is none."""
        if not parts:
            return self.prior
        return functools.reduce(operator.add, (measure(p, sample_rate) for p in parts)).detail()

    def _leveled(self, x: torch.Tensor, reference) -> torch.Tensor:
        """`x` at the reference level (dB, see PipelineConfig.match_level); as it is if there is none."""
        if not self.config.match_level or reference is None:
            return x
        return self.frontend.match_level(x, reference)

    def _for_style(self, table: dict, style: int | tuple[float, ...]):
        """The style's entry in a per-style `table` of the config (levels_db, style_bands_db), else any's; for a
        mood's weights, their mean of the styles' entries (of numbers or lists of them)."""
        if isinstance(style, tuple):
            entries = [(w, self._for_style(table, i)) for i, w in enumerate(style) if w > 0]
            if any(entry is None for _, entry in entries):
                return None
            return np.sum([w * np.asarray(entry, dtype=np.float64) for w, entry in entries], axis=0).tolist()
        name = "any" if style == self.unet.null_style else self.styles[style]
        return table.get(name, table.get("any"))


def _ceiling(*inputs: np.ndarray) -> float:
    """New audio's true peak stays within CEILING_OVER_INPUT_DB of its inputs' and never clips where they do
    not: under full scale, or under their own peak for float audio already over it. Only the peaks are
    touched (audio.limit_peaks)."""
    over = 10 ** ((CEILING_OVER_INPUT_DB - METER_MARGIN_DB) / 20)
    highest = max(true_peak(x) for x in inputs)
    return min(highest * over, max(1.0, *(float(np.abs(x).max()) for x in inputs)))


def _around(audio: Audio, first: int, last: int) -> list[np.ndarray]:
    """The session around new audio in samples [first, last) of `audio`: AROUND_SECONDS before and after
    (either may be short or empty)."""
    near = round(AROUND_SECONDS * audio.sample_rate)
    return [audio.samples[:, max(0, first - near) : first], audio.samples[:, last : last + near]]


def _held(new: np.ndarray, sample_rate: int, *around: np.ndarray) -> np.ndarray:
    """New audio no louder than the session `around` it (headroom.py): its loudest 50 ms within 1 dB of theirs."""
    ceiling = ceiling_of(*around, sample_rate=sample_rate)
    return new if ceiling is None else hold_under(new, sample_rate, ceiling)


def _joined_after(new: np.ndarray, before: np.ndarray, sample_rate: int) -> np.ndarray:
    """`new` audio after `before` (the caller's audio it follows): over its first seam it fades in from
    `before` mirrored at the join, so no channel jumps there."""
    seam = min(round(INPAINT_SEAM_SECONDS * sample_rate), before.shape[-1], new.shape[-1])
    new = new.astype(np.float32)
    if seam:
        fade = fade_curve(seam)
        new[:, :seam] = new[:, :seam] * fade + before[:, before.shape[-1] - seam :][:, ::-1] * (1 - fade)
    return new


def _nonempty(samples: np.ndarray, sample_rate: int) -> Iterator[Audio]:
    if samples.shape[-1]:
        yield Audio(samples, sample_rate)


def load_pipeline(spec: str | Path | None = None) -> ReveriePipeline:
    """None: the embedded default model; "tiny": a small random model (tests); else a model folder."""
    if spec == "tiny":
        return ReveriePipeline.tiny()
    return ReveriePipeline.from_pretrained(spec)


def _erode(mask: torch.Tensor, frames: int) -> torch.Tensor:
    """Shrink the known mask by `frames` next to unknown frames, so Griffin-Lim may adjust the seam."""
    unknown = 1 - mask
    grown = torch.nn.functional.max_pool1d(unknown[None, None], 2 * frames + 1, 1, frames)[0, 0]
    return 1 - grown


def _hash_state(module: torch.nn.Module, config: PipelineConfig) -> str:
    digest = hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode())
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
