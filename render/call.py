"""A stem's pipeline call, built in one place: validation counts its steps, the renderer runs it and the
manifest records it, so what is checked, what is run and what is recorded cannot drift apart.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from reverie.models.operations import ASKED, operation
from reverie.models.operations import generate_seconds as bars_or_seconds

from .preset import SetSpec, StemSpec
from .schema import CHANNELS


@dataclass(frozen=True)
class StemCall:
    """`pipe.run(op, **kwargs)` for one stem, with the model's defaults filled in."""

    op: str
    kwargs: dict

    @property
    def settings(self) -> dict:
        """The parameters the audio depends on, as the manifest records them (absent ones left out); inputs
        and melody are data, recorded by their files' hashes."""
        return {k: v for k, v in self.kwargs.items() if v is not None and k in operation(self.op).names}


def stem_call(stem: StemSpec, set_spec: SetSpec, defaults: dict) -> StemCall:
    """The stem's pipeline call; `defaults` are the pipeline's (`pipe.defaults`), `stem.inputs` must be read.
    Every parameter is the stem's, else the set's (rate, channels, seed, a generate's length), else the
    model's default, so the manifest records the values the audio was made with."""
    spec = operation(stem.op)
    melody, audio = stem.inputs
    given = {name: stem.values.get(name) for name in spec.names}
    of_the_set = {"sample_rate": set_spec.sample_rate, "channels": CHANNELS, "seed": stem_seed(stem, set_spec)}
    given |= {name: value for name, value in of_the_set.items() if name in spec.names}
    if spec.length == ASKED and stem.values.get("bars") is None:  # bars: the pipeline counts them out
        given["seconds"] = requested_seconds(stem, set_spec)
    params = spec.filled(given, defaults)
    return StemCall(stem.op, {**{name: audio[name] for name in spec.inputs}, **params, "melody": melody})


def requested_seconds(stem: StemSpec, set_spec: SetSpec) -> float:
    """The seconds a generate stem asks of the model: a loop clip carries its crossfade (whole bars, which
    loop on the bar, are counted out by the pipeline)."""
    v = stem.values
    if v.get("loop"):
        return float(v["seconds"]) + float(v["crossfade"])
    return generate_seconds(stem, set_spec)


def generate_seconds(stem: StemSpec, set_spec: SetSpec) -> float:
    """A generate stem's length on the timeline: its seconds, else up to the end of the set."""
    v = stem.values
    if v.get("seconds") is not None or v.get("bars") is not None:
        return bars_or_seconds(v["seconds"], bars=v.get("bars"), bpm=v.get("bpm"), beats_per_bar=v.get("beats_per_bar"))
    return set_spec.seconds - (v.get("start") or 0.0)


def stem_seed(stem: StemSpec, set_spec: SetSpec) -> int:
    return stem.values["seed"] if stem.values.get("seed") is not None else derived_seed(set_spec.seed, stem.name)


def derived_seed(set_seed: int, name: str) -> int:
    """A stem's default seed: stable when stems are reordered, different per name."""
    return (set_seed * 1_000_003 + zlib.crc32(name.encode())) % (2**31)
