"""Training data: any folder of audio becomes mel + chroma + style tensors, cached once.

Labels: a file's style is the name of the folder it sits in (DATA/calm/x.wav is
"calm"), or comes from a CSV with `path,style` rows. Files directly in DATA,
or rows without a style, are unlabelled and train the unconditional branch.
A MIDI file beside an audio file (same stem) gives its melody; otherwise, or where
it has no notes, the melody is read from the audio itself (dominant chroma bin per
frame). Where that MIDI file states a tempo, time signature and key (the corpus
builder's do, for real music where two listeners agree), they label the clip's
grid and key (grid.from_midi); otherwise both are unknown.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..audio import load_audio, to_model_rate
from ..errors import ReverieError
from ..grid import KEYS, Grid, from_midi, key_index
from ..mel import MelConfig, MelFrontend

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg")


@dataclass
class Item:
    audio: Path
    style: str | None
    midi: Path | None


def scan(data_dir: str | Path, labels_csv: str | Path | None = None) -> list[Item]:
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise ReverieError(f"training data folder not found: {data_dir}", field="data_dir")
    files = sorted(p for p in data_dir.rglob("*") if p.suffix.lower() in AUDIO_SUFFIXES)
    if not files:
        raise ReverieError(
            f"no audio in {data_dir}; put .wav, .flac or .ogg files there (one subfolder per style)",
            field="data_dir",
        )
    labels = _read_labels(labels_csv, data_dir) if labels_csv else None
    items = []
    for path in files:
        if labels is not None:
            style = labels.get(path.resolve())
        else:
            style = path.parent.name if path.parent != data_dir else None
        midi = path.with_suffix(".mid")
        items.append(Item(path, style, midi if midi.is_file() else None))
    return items


def _read_labels(labels_csv, data_dir: Path) -> dict[Path, str]:
    labels = {}
    with open(labels_csv, newline="") as f:
        for row in csv.DictReader(f):
            if "path" not in row or "style" not in row:
                raise ReverieError(f"{labels_csv} needs the columns path and style", field="labels")
            if row["style"]:
                labels[(data_dir / row["path"]).resolve()] = row["style"]
    return labels


@dataclass
class Features:
    """Per clip: log-mel (n_mels, T) float16, chroma (12, T) uint8, style index (or -1), and where known
    its grid as (bpm, quarter notes per bar, first bar line in seconds) and its key (grid.key_index)."""

    log_mels: list[torch.Tensor]
    chromas: list[torch.Tensor]
    styles: torch.Tensor
    style_names: tuple[str, ...]
    grids: list[tuple[float, float, float] | None] | None = None
    keys: torch.Tensor | None = None

    def __post_init__(self) -> None:
        if self.grids is None:  # a cache written before grids were read: nothing is known
            self.grids = [None] * len(self.log_mels)
        if self.keys is None:
            self.keys = torch.full((len(self.log_mels),), KEYS, dtype=torch.long)

    def grid(self, index: int) -> Grid | None:
        known = self.grids[index]
        return None if known is None else Grid.steady(known[0], known[1], known[2])

    def save(self, path: Path) -> None:
        torch.save(self.__dict__, path)

    @classmethod
    def load(cls, path: Path) -> "Features":
        return cls(**torch.load(path))


def featurise(items: list[Item], mel: MelConfig, style_names: tuple[str, ...], progress=None) -> Features:
    from ..melody import Melody, audio_chroma
    from ..melody.midi import has_notes

    frontend = MelFrontend(MelConfig(**{**mel.to_dict(), "mean": 0.0, "std": 1.0}))
    log_mels, chromas, styles, grids, keys = [], [], [], [], []
    for item in items:
        mono = to_model_rate(load_audio(item.audio), mel.sample_rate)
        log_mel = frontend.encode(torch.from_numpy(mono))
        frames = log_mel.shape[-1]
        grid = key = None
        if item.midi is not None:
            grid, key = from_midi(item.midi)
        melody = Melody.from_midi(item.midi) if item.midi is not None and has_notes(item.midi) else None
        if melody is not None:
            chroma = melody.chroma(mel.frame_rate, frames)
        else:
            chroma = audio_chroma(mono, mel.sample_rate, mel.frame_rate, frames)
        log_mels.append(log_mel.half())
        chromas.append(torch.as_tensor(np.asarray(chroma) > 0.5, dtype=torch.uint8))
        styles.append(style_names.index(item.style) if item.style in style_names else -1)
        grids.append(None if grid is None else (grid.steady_bpm, grid.beats_per_bar, grid.downbeat))
        keys.append(key_index(key))
        if progress is not None:
            progress()
    return Features(log_mels, chromas, torch.tensor(styles), style_names, grids, torch.tensor(keys))


def bin_statistics(features: Features) -> tuple[list[float], list[float]]:
    """Per mel bin mean and standard deviation of the log-mel, for scaling into the model's range."""
    stacked = torch.cat([m.float() for m in features.log_mels], dim=1)
    return stacked.mean(dim=1).tolist(), stacked.std(dim=1).clamp(min=1e-3).tolist()


def style_levels(features: Features, mel: MelConfig) -> dict[str, float]:
    """Median clip level (MelFrontend.level_db) per style and over every clip ("any"):
    the level a generation starts from (PipelineConfig.levels_db)."""
    frontend = MelFrontend(mel)
    levels = torch.tensor([float(frontend.level_db(frontend.normalise(m.float()))) for m in features.log_mels])
    out = {"any": round(float(levels.median()), 2)}
    for index, name in enumerate(features.style_names):
        mine = levels[features.styles == index]
        if len(mine):
            out[name] = round(float(mine.median()), 2)
    return out


def style_bands(features: Features, mel: MelConfig) -> dict[str, list[float]]:
    """Each style's balance (and every clip's, "any"): PipelineConfig.style_bands_db."""
    frontend = MelFrontend(mel)
    names = [features.style_names[s] if s >= 0 else None for s in features.styles.tolist()]
    return median_bands(frontend, ((n, frontend.normalise(m.float())) for n, m in zip(names, features.log_mels)))


def median_bands(frontend: MelFrontend, clips) -> dict[str, list[float]]:
    """Per style, the median over `clips` ((style name or None, normalised mel) pairs) of each band's
    share (drift.band_shares_db); "any" over them all."""
    from ..drift import band_shares_db

    shares: dict[str, list[torch.Tensor]] = {}
    for name, x in clips:
        share = band_shares_db(frontend, x)
        for key in {"any", name} - {None}:
            shares.setdefault(key, []).append(share)
    return {key: [round(float(v), 2) for v in torch.stack(s).median(dim=0).values] for key, s in shares.items()}
