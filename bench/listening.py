"""What a listener checks of a clip that the tests and benches share: how wide (side over mid) and how
bright (the share of power in the air). Measures, not product: the pipeline holds new audio with its own
anchors (models/detail.py, models/drift.py).
"""

from __future__ import annotations

import numpy as np

from reverie.models.detail import SILENT
from reverie.models.spectrum import Spectrum

HF_SHARE_HZ = 11500.0
FLOOR_DB = -120.0  # what "none at all" (or silence) reads as


def side_to_mid_db(samples: np.ndarray, sample_rate: int) -> float:
    """Power of the channels' deviation from their mean over the mean's (dB); a stereo pair's S/M ratio.
    FLOOR_DB for mono, identical channels or silence."""
    spec = Spectrum.at(sample_rate).analyse(samples)
    mid = spec.mean(axis=0)
    side, centre = (np.abs(spec - mid) ** 2).sum() / len(spec), (np.abs(mid) ** 2).sum()
    if centre <= SILENT:
        return FLOOR_DB
    return max(FLOOR_DB, float(10 * np.log10(max(side, 1e-30) / centre)))


def hf_share_db(samples, sample_rate: int, above: float = HF_SHARE_HZ) -> float:
    """The share of all channels' power above `above` Hz (dB), of a clip (channels, frames) or of a list of
    pieces of one session (a region's surroundings: before it and after it).

    Only frames whose window lies wholly inside a piece count: a cut is a step that leaks over the whole
    band, and on music with little air its two or three frames outweighed everything else (a wind bed's
    cut stretch read -53 dB where its frames read -66).
    """
    spectrum = Spectrum.at(sample_rate)
    high = total = 0.0
    for piece in [samples] if isinstance(samples, np.ndarray) else samples:
        power = np.abs(spectrum.analyse(piece)[..., spectrum.whole_frames(piece.shape[-1])]) ** 2
        high, total = high + power[:, spectrum.bin(above) :].sum(), total + power.sum()
    if total <= SILENT:
        return FLOOR_DB
    return max(FLOOR_DB, float(10 * np.log10(max(high, 1e-30) / total)))
