"""A call's arguments: checked against their one declaration (operations.py), held in a frozen dataclass per
operation made from it (`ARGS`, so an operation reads `args.strength`, not a dict), and turned into what the
sampler follows (`sampling_of`): the style or mood, the melody, and the grid and key, asked for or heard
from the session.
"""

from __future__ import annotations

from dataclasses import make_dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .audio import Audio, to_model_rate
from .beat import hear
from .errors import ReverieError
from .grid import Grid, key_index, parse_bpm
from .melody.compose import LoopedLine, melody_in_key
from .melody.key import parse_key
from .melody.notes import Melody
from .mood import parse_mood
from .operations import (
    BOOLEAN,
    INTEGER,
    NUMBER,
    OPERATIONS,
    SCHEDULER,
    STREAMING,
    STYLE,
    TIMESTEP,
    Operation,
    Param,
    check_region,
    generate_seconds,
)
from .sampling import Sampling

if TYPE_CHECKING:
    from .pipeline import ReveriePipeline

# inpaint's region bounds: checked against the clip when the call is planned.
_REGION = ("start", "end")
# How much of a session its tempo and key are heard from (beat.py): several bars at any tempo it hears.
HEARD_SECONDS = 16.0
_TYPES = {NUMBER: float, INTEGER: int, BOOLEAN: bool}


def _args_class(spec: Operation) -> type:
    """`spec`'s arguments as a frozen dataclass: its inputs (Audio), its parameters (None: left to the model)
    and the melody it follows."""
    fields = [(name, Audio) for name in spec.inputs]
    fields += [(p.name, _TYPES.get(p.type, str) | None) for p in spec.params]
    name = "".join(part.title() for part in spec.method.strip("_").split("_")) + "Args"
    made = make_dataclass(name, [*fields, ("melody", Any)], frozen=True)
    made.__module__ = __name__
    return made


ARGS: dict[str, type] = {name: _args_class(op) for name, op in OPERATIONS.items()}


def checked(pipe: ReveriePipeline, spec: Operation, kwargs: dict) -> Any:
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
            args[param.name] = None if value is None else as_allowed(pipe, param).check(value)
    args["melody"] = kwargs.get("melody")
    if args["melody"] is not None and not hasattr(args["melody"], "chroma"):
        raise ReverieError("melody must be a Melody (from a MIDI file or a hummed take)", field="melody")
    return ARGS[spec.name](**args)


def as_allowed(pipe: ReveriePipeline, param: Param) -> Param:
    """The declared parameter as this model allows it: styles and timesteps are the model's own."""
    if param is STYLE:
        return replace(STYLE, choices=pipe.styles)
    return replace(TIMESTEP, high=len(pipe.alphas_cumprod) - 1) if param is TIMESTEP else param


def sampling_of(pipe: ReveriePipeline, spec: Operation, args) -> Sampling:
    c = pipe.config
    sampler = c.sampler if args.scheduler is None else args.scheduler
    mood = None if args.mood is None else parse_mood(args.mood, pipe.styles)
    if mood is not None and mood.moves and not spec.streams:
        raise ReverieError(
            f"a mood that moves over time is for {', '.join(STREAMING)}, made window by window; "
            f"give {spec.name} one mood",
            field="mood",
        )
    grid, key = grid_and_key(pipe, spec, args)
    melody = args.melody
    if melody is None and key is not None and not spec.inputs:
        melody = line_in_key(pipe, args, key, grid, mood)
    elif melody is not None and key is not None and not spec.inputs:
        melody = melody.in_key(key)  # the key asked for wins over the melody's own
    return Sampling(
        grid=grid,
        key=key_index(key),
        mood=mood,
        style=pipe.unet.null_style if args.style is None else pipe.styles.index(args.style),
        melody=melody,
        seed=args.seed,
        steps=c.steps if args.steps is None else args.steps,
        guidance=c.guidance if args.guidance is None else args.guidance,
        sampler="repaint" if getattr(args, "method", None) == "repaint" else sampler,
    )


def line_in_key(pipe: ReveriePipeline, args, key, grid, mood) -> Melody | LoopedLine:
    """A generate asked for a key with no melody follows a line in that key (melody/compose.py): the
    key input alone does not steer the model, its melody input does."""
    seconds = args.seconds
    if args.bars is not None:
        seconds = generate_seconds(None, bars=args.bars, bpm=args.bpm, beats_per_bar=args.beats_per_bar)
    if mood is not None:
        style_at = lambda t: pipe.styles[int(np.argmax(mood.at(t)))]  # noqa: E731  the loudest voice of the mix
    else:
        style_at = lambda t: args.style  # noqa: E731
    return melody_in_key(key, seconds, args.seed, grid, style_at, loop=args.bars is not None)


def grid_and_key(pipe: ReveriePipeline, spec: Operation, args):
    """The grid and key to follow, checked against what this model was taught: generate's are the ones
    asked for; an operation on audio keeps the session's, the caller's or heard from it (beat.py)."""
    bpm, beats, key = getattr(args, "bpm", None), getattr(args, "beats_per_bar", None), getattr(args, "key", None)
    for name, value in (("beats_per_bar", beats), ("bars", getattr(args, "bars", None))):
        if value is not None and bpm is None and not spec.inputs:
            raise ReverieError(f"{name} needs a bpm: give the tempo its bars are counted in", field=name)
    if (bpm is not None or key is not None) and not pipe.unet.config.grid:
        asked = "bpm" if bpm is not None else "key"
        raise ReverieError(
            f"this model was trained without tempo and key, so {asked} cannot steer it; leave {asked} out, or "
            "use one trained with them (`reverie train --grid`; the embedded default is)",
            field=asked,
        )
    grid = None if bpm is None else parse_bpm(bpm, beats)
    key = None if key is None else parse_key(key)
    if not spec.inputs or not pipe.unet.config.grid:
        return grid, key
    return session_grid_and_key(pipe, spec, args, grid, key, beats)


def session_grid_and_key(pipe: ReveriePipeline, spec: Operation, args, grid, key, beats):
    """The grid and key heard from the part of the session the new audio joins (continue: its last
    HEARD_SECONDS; inpaint: around the region; otherwise its start), where the caller did not give them."""
    audio = getattr(args, spec.inputs[0])
    seconds = audio.frames / audio.sample_rate
    if spec.name == "continue":
        start = max(0.0, seconds - HEARD_SECONDS)
    elif spec.name == "inpaint":
        region = check_region(args.start, args.end, seconds, audio.sample_rate)[0] / audio.sample_rate
        start = min(max(0.0, region - HEARD_SECONDS / 2), max(0.0, seconds - HEARD_SECONDS))
    else:
        start = 0.0
    lo = int(start * audio.sample_rate)
    heard = Audio(audio.samples[:, lo : lo + int(HEARD_SECONDS * audio.sample_rate)], audio.sample_rate)
    mono = to_model_rate(heard, pipe.sample_rate)
    found, heard_key = hear(pipe.frontend, mono, grid and grid.steady_bpm, beats, hear_key=key is None)
    if found is not None:
        found = Grid.steady(found.steady_bpm, found.beats_per_bar, start + found.downbeat)
    return found, heard_key if key is None else key
