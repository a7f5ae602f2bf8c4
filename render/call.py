"""A stem's pipeline call, built in one place: validation counts its steps, the renderer runs it and the
manifest records it, so what is checked, what is run and what is recorded cannot drift apart.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

from .preset import SetSpec, StemSpec
from .schema import CHANNELS

# Arguments that carry data rather than settings: passed to the pipeline, not recorded.
DATA = ("melody", "audio", "a", "b")


@dataclass(frozen=True)
class StemCall:
    """`pipe.run(op, **kwargs)` for one stem, with the model's defaults filled in."""

    op: str
    kwargs: dict

    @property
    def settings(self) -> dict:
        """The arguments the audio depends on, as the manifest records them (absent ones left out)."""
        return {k: v for k, v in self.kwargs.items() if v is not None and k not in DATA}


def stem_call(stem: StemSpec, set_spec: SetSpec, defaults: dict) -> StemCall:
    """The stem's pipeline call; `defaults` are the pipeline's (`pipe.defaults`), `stem.inputs` must be read."""
    v = stem.values
    melody, audio = stem.inputs

    def given(name: str):
        return v[name] if v.get(name) is not None else defaults[name]

    kwargs = dict(
        style=v.get("style"),
        melody=melody,
        seed=stem_seed(stem, set_spec),
        steps=given("steps"),
        guidance=given("guidance"),
        scheduler=given("scheduler"),
    )
    if stem.op == "generate":
        kwargs.update(seconds=requested_seconds(stem, set_spec), sample_rate=set_spec.sample_rate, channels=CHANNELS)
    elif stem.op == "continue":
        kwargs.update(audio=audio["audio"], seconds=v["seconds"])
    elif stem.op in ("transform", "interpolate"):
        sources = {"audio": audio["audio"]} if stem.op == "transform" else {"a": audio["a"], "b": audio["b"]}
        # A timestep replaces strength, so strength's default applies only when neither is given.
        strength = v.get("strength") if v.get("timestep") is not None else given("strength")
        kwargs.update(sources, strength=strength, timestep=v.get("timestep"))
        if stem.op == "interpolate":
            kwargs["ratio"] = given("ratio")
    return StemCall(stem.op, kwargs)


def requested_seconds(stem: StemSpec, set_spec: SetSpec) -> float:
    """The seconds a generate stem asks of the model: a loop clip carries its crossfade."""
    v = stem.values
    if v.get("loop"):
        return float(v["seconds"]) + float(v["crossfade"])
    return generate_seconds(stem, set_spec)


def generate_seconds(stem: StemSpec, set_spec: SetSpec) -> float:
    """A generate stem's length on the timeline: its seconds, else up to the end of the set."""
    v = stem.values
    if v.get("seconds") is not None:
        return float(v["seconds"])
    return set_spec.seconds - (v.get("start") or 0.0)


def stem_seed(stem: StemSpec, set_spec: SetSpec) -> int:
    return stem.values["seed"] if stem.values.get("seed") is not None else derived_seed(set_spec.seed, stem.name)


def derived_seed(set_seed: int, name: str) -> int:
    """A stem's default seed: stable when stems are reordered, different per name."""
    return (set_seed * 1_000_003 + zlib.crc32(name.encode())) % (2**31)
