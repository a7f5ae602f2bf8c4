"""TPDF dither for 16-bit files: the rounding to 16 bits becomes a steady noise floor (about -96 dBFS) instead of
distortion that follows the signal (audible on fades and quiet reverb tails).

The noise comes from a generator seeded per file, so a render is still bit-identical run to run.
"""

from __future__ import annotations

import numpy as np

LSB_16 = 1.0 / 32768.0  # one step of a 16-bit sample, full scale 1.0
SEED = 0x7D17


class TPDFDither:
    """Adds triangular noise of +-1 LSB (the sum of two uniform ones) to blocks before 16-bit quantisation."""

    def __init__(self, seed: int = SEED):
        self.rng = np.random.default_rng(seed)

    def __call__(self, block: np.ndarray) -> np.ndarray:
        noise = self.rng.random(block.shape) - self.rng.random(block.shape)
        return (block + noise * LSB_16).astype(np.float32)


def dither_for(subtype: str) -> TPDFDither | None:
    """The dither a file of this sample format needs: TPDF for 16-bit, none for 24-bit and float."""
    return TPDFDither() if subtype == "PCM_16" else None
