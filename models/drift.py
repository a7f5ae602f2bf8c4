"""Long pieces keep their spectral balance: each window may drift only so far from how the piece began.

A long generate is a chain of continuations, and small biases compound: a 21-minute sleep drone
from the shipped model gained 13-18 dB in its 40-90 Hz band around minute 11 and kept it. Level
matching (one reference level per call) holds the total; `BandAnchor` does the same per band. The
first window (or, for a continuation, the input's context) sets each band's level; a later window's
band may then differ from it by up to `limit_db` freely (music evolves), and only what goes beyond
is taken back, as an exact gain on that band's mel bins.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from .detail import band_index

# Band edges (Hz) that the balance is held in; the last runs to the top of the mel.
BAND_EDGES = (0, 90, 250, 500, 1000, 2000, 4000, 8000, 12000, 16000)


class BandAnchor:
    def __init__(self, frontend, limit_db: float | None, reference: torch.Tensor | None = None):
        self.frontend = frontend
        self.limit_db = limit_db
        self.band = band_index(frontend.centres, BAND_EDGES)
        self.reference = None if reference is None or reference.shape[-1] == 0 else self._levels(reference)

    def _levels(self, x: torch.Tensor) -> torch.Tensor:
        """dB of the mean mel power in each band over all frames of a normalised mel (1, n_mels, T)."""
        power = self.frontend.linear_mel(x).square().mean(dim=-1)[0]  # (n_mels,)
        sums = torch.zeros(len(BAND_EDGES), dtype=power.dtype).index_add_(0, torch.from_numpy(self.band), power)
        counts = np.bincount(self.band, minlength=len(BAND_EDGES))
        return 10 * torch.log10((sums / torch.from_numpy(np.maximum(counts, 1))).clamp(min=1e-24))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """New frames (1, n_mels, T), with any band beyond the limit brought back to it."""
        if self.limit_db is None or x.shape[-1] == 0:
            return x
        levels = self._levels(x)
        if self.reference is None:
            self.reference = levels
            return x
        deviation = levels - self.reference
        excess = torch.sign(deviation) * (deviation.abs() - self.limit_db).clamp(min=0)
        nepers = -excess[torch.from_numpy(self.band)] * (math.log(10) / 20)
        return x + (nepers / self.frontend.std)[None, :, None]
