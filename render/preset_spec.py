"""The validated preset, as `load_preset` returns it: the set, its stems and the mix."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .effects import EffectSpec
from .loudness import Target


@dataclass
class SetSpec:
    name: str
    sample_rate: int
    bit_depth: int
    format: str
    seconds: float
    seed: int
    target: Target
    fade_in: float
    fade_out: float
    prefix: bool = False

    def file_stem(self, name: str) -> str:
        """The file name (without extension) of output `name`, a stem or the mixdown."""
        return f"{self.name}-{name}" if self.prefix else name


@dataclass
class StemSpec:
    index: int
    name: str
    op: str
    raw: dict  # the table as written
    values: dict  # every stem key with its default filled in (None where it has no default)
    paths: dict = field(default_factory=dict)  # key -> absolute path (sources: list)
    effects: list[EffectSpec] = field(default_factory=list)
    target: Target | None = None
    inputs: tuple | None = field(default=None, repr=False)  # (melody, {name: Audio}) once read

    @property
    def key(self) -> str:
        return f"stems[{self.index}]"


@dataclass
class MixSpec:
    enabled: bool
    effects: list[EffectSpec]
    target: Target


@dataclass
class Preset:
    path: Path
    set: SetSpec
    stems: list[StemSpec]
    mix: MixSpec
    text: str

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def stem(self, name: str) -> StemSpec:
        return next(s for s in self.stems if s.name == name)
