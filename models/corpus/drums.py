"""Real drum kits for the rhythmic styles: Debian's hydrogen-drumkits, played in the clip's tempo and metre.

    apt-get install hydrogen-drumkits

A kit is a folder with Hydrogen's drumkit.xml: instruments, each a list of velocity layers (a sample
file for a range of velocities; the older format gives one file per instrument). An instrument's
role (kick, snare, hat, ...) is read from its name. A kit plays if it has a kick, a snare and a hat
or a ride. Each hit picks the layer for its velocity, so a loud snare is a different recording from
a soft one, as on a real kit, and is placed where a mix engineer would put that drum (`STAGE`); an
open hat is choked by the next closed one. Samples keep their own stereo.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

KITS_DIR = Path("/usr/share/hydrogen/data/drumkits")
PACKAGE = "hydrogen-drumkits"

# Role -> what its instrument is called in the packaged kits (first match in kit order wins).
ROLES = {
    "kick": r"kick|bass ?drum|\bbd\b",
    "snare": r"snare(?!.*(roll|rim|jazz))",
    "hat": r"(closed|\bcl\b).*(hh|hat)|(hh|hat).*(closed|\bcl\b)",
    "open_hat": r"open.*(hh|hat)|(hh|hat).*\bop",
    "ride": r"ride(?!.*(bell|cup|flink))",
    "crash": r"crash(?!.*(flink|ride))",
    "tom_hi": r"tom.*(hi|high|\b1\b)|hi.*tom",
    "tom_lo": r"tom.*(low|floor|lo\b)|floor.*tom|low.*tom",
}
# Where each drum sits (-1 left .. 1 right), from the audience's side, with the overheads' spread.
STAGE = {"kick": 0.0, "snare": 0.05, "hat": 0.35, "open_hat": 0.35, "ride": -0.45, "crash": -0.5, "tom_hi": 0.25,
         "tom_lo": -0.3}  # fmt: skip
# A role the kit lacks is played on the first of these it has (or left out).
FALLBACKS = {"open_hat": ("hat", "ride"), "hat": ("ride",), "ride": ("hat",), "tom_hi": ("tom_lo", "snare"),
             "tom_lo": ("tom_hi", "snare"), "crash": ()}  # fmt: skip
CHOKE_SECONDS = 0.012  # an open hat closed by the foot fades this fast
JITTER_SECONDS = 0.004  # a drummer's timing spread


@dataclass(frozen=True)
class Layer:
    low: float  # velocity range (0..1) this sample plays
    high: float
    gain: float
    path: Path


@dataclass(frozen=True)
class Kit:
    name: str
    pieces: dict[str, tuple[Layer, ...]]  # role -> layers

    def plays(self) -> bool:
        return "kick" in self.pieces and "snare" in self.pieces and ("hat" in self.pieces or "ride" in self.pieces)


@dataclass(frozen=True)
class Hit:
    time: float  # seconds from the clip's start
    role: str
    velocity: float  # 0..1


def installed() -> bool:
    return KITS_DIR.is_dir() and bool(kits())


@lru_cache(maxsize=1)
def kits() -> tuple[Kit, ...]:
    """Every installed kit that can play a groove, by folder name."""
    found = []
    for xml in sorted(KITS_DIR.glob("*/drumkit.xml")) if KITS_DIR.is_dir() else []:
        kit = read_kit(xml)
        if kit.plays():
            found.append(kit)
    return tuple(found)


def read_kit(xml: Path) -> Kit:
    root = ET.parse(xml).getroot()
    for element in root.iter():  # newer kits name Hydrogen's namespace; older ones none
        element.tag = element.tag.rpartition("}")[2]
    pieces: dict[str, tuple[Layer, ...]] = {}
    for instrument in root.iter("instrument"):
        name = (instrument.findtext("name") or "").lower()
        role = next((r for r, pattern in ROLES.items() if re.search(pattern, name)), None)
        if role is None or role in pieces:
            continue
        volume = float(instrument.findtext("volume") or 1.0)
        layers = [
            Layer(float(lay.findtext("min") or 0), float(lay.findtext("max") or 1),
                  volume * float(lay.findtext("gain") or 1), xml.parent / (lay.findtext("filename") or ""))
            for lay in instrument.iter("layer")
        ]  # fmt: skip
        if not layers and instrument.findtext("filename"):
            layers = [Layer(0.0, 1.0, volume, xml.parent / instrument.findtext("filename"))]
        layers = [layer for layer in layers if layer.path.is_file()]
        if layers:
            pieces[role] = tuple(sorted(layers, key=lambda lay: lay.low))
    return Kit(xml.parent.name, pieces)


def groove(name: str, bpm: float, bar_quarters: float, seconds: float, rng: np.random.Generator) -> list[Hit]:
    """The hits of groove `name` ("backbeat" or "drive") for `seconds` at `bpm`, bar lines every
    `bar_quarters` quarter notes from time 0, with a fill into every fourth bar and a crash on its one."""
    spq = 60.0 / bpm
    beats = max(2, int(round(bar_quarters)))
    bars = math.ceil(seconds / (beats * spq))
    swing = float(rng.uniform(0.0, 0.08)) if name == "backbeat" else 0.0
    hits = []
    for bar in range(bars):
        fill = bar % 4 == 3
        for q in range(beats):
            for sixteenth in range(4):
                at = (bar * beats + q + sixteenth / 4) * spq
                if sixteenth == 2:
                    at += swing * spq
                for role, velocity in _strokes(name, q, sixteenth, beats, fill and q == beats - 1, rng):
                    hits.append((at, role, velocity))
        if bar % 4 == 0:
            hits.append((bar * beats * spq, "crash", 0.8))
    jitter = rng.normal(0.0, JITTER_SECONDS, len(hits))
    out = [
        Hit(max(0.0, at + float(j)), role, float(np.clip(v + rng.uniform(-0.08, 0.08), 0.05, 1.0)))
        for (at, role, v), j in zip(hits, jitter)
    ]
    return sorted((h for h in out if h.time < seconds), key=lambda h: h.time)


def _strokes(name: str, q: int, sixteenth: int, beats: int, fill: bool, rng) -> list[tuple[str, float]]:
    """What is struck on this sixteenth of this beat."""
    backbeat = q % 2 == 1 if beats % 2 == 0 else q > 0  # 2 and 4; in threes, 2 and 3
    if fill:  # the last beat of every fourth bar: sixteenths down the toms
        return [("tom_hi" if sixteenth < 2 else "tom_lo", 0.75 + 0.05 * sixteenth)]
    out = []
    if name == "backbeat":
        if sixteenth in (0, 2):
            open_hat = q == beats - 1 and sixteenth == 2 and rng.random() < 0.5
            out.append(("open_hat" if open_hat else "hat", 0.7 if sixteenth == 0 else 0.45))
        if sixteenth == 0 and not backbeat:
            out.append(("kick", 0.9))
        if q == beats - 2 and sixteenth == 2 and rng.random() < 0.4:
            out.append(("kick", 0.6))  # the "and" before the next backbeat
        if sixteenth == 0 and backbeat:
            out.append(("snare", 0.85))
    elif name == "drive":
        out.append(("hat", 0.75 if sixteenth == 0 else 0.4 if sixteenth == 2 else 0.3))
        if (sixteenth == 0 and (not backbeat or q == 0)) or (sixteenth == 3 and rng.random() < 0.25):
            out.append(("kick", 0.95 if sixteenth == 0 else 0.6))
        if sixteenth == 0 and backbeat:
            out.append(("snare", 0.95))
        if sixteenth == 2 and rng.random() < 0.15:
            out.append(("snare", 0.3))  # a ghost note
    else:
        raise ValueError(f"unknown groove {name!r}; known: backbeat, drive")
    return out


def render(kit: Kit, hits: list[Hit], seconds: float, sample_rate: int) -> np.ndarray:
    """(2, frames) float32: `hits` played on `kit`; a role the kit lacks falls back (FALLBACKS)."""
    from .effects import pan

    frames = int(round(seconds * sample_rate))
    out = np.zeros((2, frames), dtype=np.float32)
    hat_times = [h.time for h in hits if h.role == "hat"]
    for hit in hits:
        role = _available(kit, hit.role)
        if role is None:
            continue
        layer = next((lay for lay in kit.pieces[role] if lay.low <= hit.velocity <= lay.high), kit.pieces[role][-1])
        sample = _sample(str(layer.path), sample_rate) * (layer.gain * hit.velocity)
        if hit.role == "open_hat":
            sample = _choke(sample, next((t for t in hat_times if t > hit.time), None), hit.time, sample_rate)
        start = int(round(hit.time * sample_rate))
        n = min(sample.shape[-1], frames - start)
        if n <= 0:
            continue
        gains = pan(np.ones(1, dtype=np.float32), STAGE[hit.role])  # (2, 1), constant power
        out[:, start : start + n] += sample[:, :n] * gains
    return out


def _available(kit: Kit, role: str) -> str | None:
    for candidate in (role, *FALLBACKS.get(role, ())):
        if candidate in kit.pieces:
            return candidate
    return None


def _choke(sample: np.ndarray, next_hat: float | None, at: float, sample_rate: int) -> np.ndarray:
    if next_hat is None:
        return sample
    keep = int(round((next_hat - at) * sample_rate))
    fade = int(CHOKE_SECONDS * sample_rate)
    if keep >= sample.shape[-1]:
        return sample
    out = sample[:, : keep + fade].copy()
    out[:, keep:] *= np.linspace(1.0, 0.0, out.shape[-1] - keep, dtype=np.float32)
    return out


@lru_cache(maxsize=256)
def _sample(path: str, sample_rate: int) -> np.ndarray:
    """(2, n) float32 at `sample_rate`; a mono sample is the same in both channels."""
    import soundfile as sf

    from ..audio import resample

    data, rate = sf.read(path, dtype="float32", always_2d=True)
    data = data.T[:2]
    if rate != sample_rate:
        data = resample(data, rate, sample_rate)
    if len(data) == 1:
        data = np.repeat(data, 2, 0)
    data.setflags(write=False)
    return data
