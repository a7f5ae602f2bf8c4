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

What the operations' arguments may be is declared once, in operations.py; what each does, in its own
module of ops/ (a plan, then a run), on the machinery this pipeline holds: the model, the mel frontend,
the sampling loops (sampling.py), window-by-window decoding (stream.py) and the level and balance
anchors. The operations differ in where they start (noise, or an input mel noised to a timestep), what
the model is told is known (the context mel and its mask) and how new audio is finished against the
session around it (ops/session.py). See docs/architecture.md.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import json
import operator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

from . import arguments, ops
from .audio import Audio
from .detail import Detail, measure
from .drift import AudioAnchor, BandAnchor
from .errors import ReverieError
from .mel import MelConfig, MelFrontend
from .operations import (
    DECLARED_DEFAULTS,
    INPAINT_SEAM_SECONDS,
    MAX_SECONDS,
    STREAMING,
    operation,
)
from .sampling import Callback, Denoiser, Run, Sampling
from .schedulers import training_scheduler_config
from .stream import Layout, Window, decode_windows, plan_windows
from .unet import MelUNet1D

DEFAULT_MODEL_DIR = Path(__file__).parent / "default_model"
CARD_FILE = "card.json"  # a model folder's name and training sources, for users (ReveriePipeline.card)


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
class PreparedCall:
    """One operation with its arguments checked and its work planned; run it with `run` or `pipe.execute`.

    `args` holds every argument of the operation (arguments.ARGS), checked, with defaults filled in (None
    still means "the model's setting" or "absent"); `plan` what planning derived from them (the operation's own
    plan type above); `windows` are the (context, new) frame counts of generate and
    continue, one denoising loop each.
    """

    pipe: "ReveriePipeline" = field(repr=False)
    op: str
    args: Any = field(repr=False)
    sampling: Sampling
    total_steps: int
    windows: tuple[Window, ...] = ()
    plan: Any = field(default=None, repr=False)

    def run(self, callback: Callback | None = None) -> Audio:
        return self.pipe.execute(self, callback=callback)


class ReveriePipeline:
    def __init__(self, unet: MelUNet1D, config: PipelineConfig, card: dict | None = None):
        self.unet = unet.eval().requires_grad_(False)
        self.config = config
        # What a user is told of the model (the bridge's `info`, the plugin's window): its name and what it
        # learned from. Not part of the hash: it does not shape the sound.
        self.card = {"name": "unsaved", "trained_on": [], **(card or {})}
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
        card_file = path / CARD_FILE
        card = {"name": path.name, **(json.loads(card_file.read_text()) if card_file.is_file() else {})}
        return cls(MelUNet1D.from_pretrained(path / "unet", low_cpu_mem_usage=False), config, card)

    def save_pretrained(self, path: str | Path) -> Path:
        path = Path(path)
        path.mkdir(parents=True, exist_ok=True)
        self.unet.save_pretrained(path / "unet")
        (path / "reverie.json").write_text(json.dumps(self.config.to_dict(), indent=2) + "\n")
        name = path.name if self.card["name"] == "unsaved" else self.card["name"]
        (path / CARD_FILE).write_text(json.dumps({**self.card, "name": name}, indent=2) + "\n")
        return path

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
        args = arguments.checked(self, spec, kwargs)
        sampling = arguments.sampling_of(self, spec, args)
        plan, windows, total = ops.BY_NAME[spec.name].plan(self, args, sampling)
        return PreparedCall(self, spec.name, args, sampling, total, windows, plan)

    def execute(self, call: PreparedCall, callback: Callback | None = None) -> Audio:
        """Run a prepared call. `callback(step, total)` after every model step; returning False cancels."""
        run = Run(self.denoiser, call.sampling, call.total_steps, callback)
        return ops.BY_NAME[call.op].run(self, call, run)

    def stream(self, call: PreparedCall, callback: Callback | None = None) -> Iterator[Audio]:
        """A prepared generate call as consecutive chunks; memory stays constant in its length."""
        if not operation(call.op).streams:
            raise ValueError(f"{call.op} does not stream; {', '.join(STREAMING)} does")
        return ops.generate.chunks(self, call, Run(self.denoiser, call.sampling, call.total_steps, callback))

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

    def start_timestep(self, args) -> int:
        """Where transform and interpolate start denoising: timestep, or strength 0-1 of the schedule."""
        timestep = args.timestep
        return self.timestep(args.strength) if timestep is None else timestep

    def timestep(self, share: float) -> int:
        """The timestep `share` (0-1) of the way through the noise schedule: strength's, variation's."""
        return round(share * (len(self.alphas_cumprod) - 1))

    # --- shared machinery ---------------------------------------------------
    def windows(self, new_frames: int, context: int) -> tuple[Window, ...]:
        c = self.config
        return plan_windows(new_frames, context, c.window_frames, c.context_frames)

    def decode_windows(
        self, run: Run, windows, frame0: int, context_mel, known_audio, layout: Layout | None = None, origin=0.0
    ) -> Iterator[np.ndarray]:
        # One level for the whole call: the input's (continuation) or the style's. Re-measuring
        # each window's context instead lets the level wander from window to window.
        c = self.config
        if windows[0][0]:
            reference = self.frontend.level_db(context_mel)
            anchor = BandAnchor(self.frontend, c.drift_db, context_mel)
        else:
            reference = self.for_style(c.levels_db, run.style)
            anchor = BandAnchor(self.frontend, c.drift_db, style_shares=self.for_style(c.style_bands_db, run.style))
        hold = AudioAnchor(self.frontend, c.drift_db)
        if run.sampling.mood is not None and run.sampling.mood.moves:
            first = run.window_style(sum(windows[0]), frame0 / c.mel.frame_rate + origin)
            level = self.following(first, anchor, hold)
        else:
            level = lambda x, style: self.leveled(anchor(x), reference)  # noqa: E731
        return decode_windows(
            run, self.frontend, c, windows, frame0, context_mel, known_audio, level, hold, layout, origin
        )

    def following(self, first, anchor: BandAnchor, hold: AudioAnchor):
        """A window's level when the mood moves: the mood's own level where the window is (its `style`), and
        the balance both anchors hold (drift.py) moved by how far the mood's balance and level have moved
        since the first window's (`first`), so the piece keeps its drift in check and still goes where it is
        asked."""
        c = self.config
        level_db, shares = self.for_style(c.levels_db, first), self.for_style(c.style_bands_db, first)

        def level(x: torch.Tensor, style) -> torch.Tensor:
            now = self.for_style(c.levels_db, style), self.for_style(c.style_bands_db, style)
            if now[1] is not None and shares is not None:
                moved = np.subtract(now[1], shares)
                anchor.moved = torch.tensor(moved, dtype=torch.float32)
                hold.moved = moved + (now[0] - level_db if now[0] is not None and level_db is not None else 0.0)
            return self.leveled(anchor(x), now[0])

        return level

    @property
    def prior(self) -> Detail:
        """The image and air of new audio with no session around it: the model's `detail`, measured on real
        stereo recordings (models/corpus/real.py); centred and band-limited for a model without one."""
        return Detail.from_dict(self.config.detail) if self.config.detail else Detail.centred(2)

    def detail_of(self, *parts: np.ndarray, sample_rate: int) -> Detail:
        """The image and air of the caller's audio in `parts` (each (channels, frames)), to finish new audio
        that joins it; the model's prior where there is none."""
        if not parts:
            return self.prior
        return functools.reduce(operator.add, (measure(p, sample_rate) for p in parts)).detail()

    def leveled(self, x: torch.Tensor, reference) -> torch.Tensor:
        """`x` at the reference level (dB, see PipelineConfig.match_level); as it is if there is none."""
        if not self.config.match_level or reference is None:
            return x
        return self.frontend.match_level(x, reference)

    def for_style(self, table: dict, style: int | tuple[float, ...]):
        """The style's entry in a per-style `table` of the config (levels_db, style_bands_db), else any's; for a
        mood's weights, their mean of the styles' entries (of numbers or lists of them)."""
        if isinstance(style, tuple):
            entries = [(w, self.for_style(table, i)) for i, w in enumerate(style) if w > 0]
            if any(entry is None for _, entry in entries):
                return None
            return np.sum([w * np.asarray(entry, dtype=np.float64) for w, entry in entries], axis=0).tolist()
        name = "any" if style == self.unet.null_style else self.styles[style]
        return table.get(name, table.get("any"))


def load_pipeline(spec: str | Path | None = None) -> ReveriePipeline:
    """None: the embedded default model; else a model folder."""
    return ReveriePipeline.from_pretrained(spec)


def _hash_state(module: torch.nn.Module, config: PipelineConfig) -> str:
    digest = hashlib.sha256(json.dumps(config.to_dict(), sort_keys=True).encode())
    for name, tensor in sorted(module.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    return digest.hexdigest()[:16]
