"""A generation with nothing around it starts with its style's air, as measured on the training data."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch
from conftest import held_out_mid

from bench.listening import hf_share_db
from reverie.models.drift import AIR_FROM_HZ, BAND_EDGES, STYLE_AIR_DB, BandAnchor, band_shares_db
from reverie.models.mel import MelConfig, MelFrontend
from reverie.models.pipeline import ReveriePipeline

AIR = torch.tensor(BAND_EDGES) >= AIR_FROM_HZ


@pytest.fixture(scope="module")
def music() -> np.ndarray:
    return held_out_mid(2, 6.0)


def shifted_air(frontend: MelFrontend, x: torch.Tensor, db: float) -> torch.Tensor:
    air_bins = torch.from_numpy(frontend.centres >= AIR_FROM_HZ)
    nepers = torch.where(air_bins, db * math.log(10) / 20, 0.0)
    return x + (nepers / frontend.std)[None, :, None]


def test_first_frames_get_their_style_air_and_nothing_else_moves(music):
    frontend = MelFrontend(MelConfig.for_rate(44100))
    x = frontend.encode(torch.from_numpy(music))[None]
    style = band_shares_db(frontend, x)
    for darker in (-10.0, 8.0):  # a darker and a brighter generation than the style's data
        off = shifted_air(frontend, x, darker)
        held = BandAnchor(frontend, 4.0, style_shares=style)(off)
        deviation = band_shares_db(frontend, held) - style
        assert (deviation[AIR].abs() <= STYLE_AIR_DB + 0.3).all(), deviation
        assert (deviation[AIR].abs() >= STYLE_AIR_DB - 0.3).all()  # only what is past the limit is taken back
        below = ~torch.from_numpy(frontend.centres >= AIR_FROM_HZ)
        assert torch.equal(held[0, below], off[0, below])
    # within the limit: untouched; and without a style's balance, the model's own air stays
    assert torch.equal(
        BandAnchor(frontend, 4.0, style_shares=style)(shifted_air(frontend, x, -1.0)), shifted_air(frontend, x, -1.0)
    )
    assert torch.equal(BandAnchor(frontend, 4.0)(shifted_air(frontend, x, -10.0)), shifted_air(frontend, x, -10.0))


def test_generate_follows_the_style_air_the_model_was_given():
    pipe = ReveriePipeline.from_pretrained()
    made = lambda p: hf_share_db(p.generate(6.0, sample_rate=44100, channels=2, style="calm", seed=3).samples, 44100)  # noqa: E731
    bands = pipe.config.style_bands_db
    assert set(bands) == {"any", *pipe.styles} and all(len(b) == len(BAND_EDGES) for b in bands.values())
    brighter = {k: [v + 12.0 * bool(a) for v, a in zip(b, AIR.tolist())] for k, b in bands.items()}
    own = made(ReveriePipeline(pipe.unet, dataclasses.replace(pipe.config, style_bands_db={})))
    shipped, bright = (
        made(pipe),
        made(ReveriePipeline(pipe.unet, dataclasses.replace(pipe.config, style_bands_db=brighter))),
    )
    assert bright > shipped + 6, (own, shipped, bright)
