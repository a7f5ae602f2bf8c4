"""Warm starts: a model for a finer mel starts out computing what the coarser model did."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from reverie.models.errors import ReverieError
from reverie.models.training.warm_start import nearest_bins, warm_start
from reverie.models.unet import MelUNet1D

SMALL = dict(channels=(32, 48), layers_per_level=1, attention_levels=(False,), attention_heads=2, time_embed_dim=64)


def model(n_mels: int) -> MelUNet1D:
    torch.manual_seed(0)
    unet = MelUNet1D(n_mels=n_mels, **SMALL)
    torch.nn.init.normal_(unet.embed_out.weight, std=0.05)  # a trained model's output layer is not zero
    return unet.eval()


def test_nearest_bins_cover_the_old_bins_in_order():
    source = nearest_bins(128, 256)
    assert source.tolist() == sorted(source.tolist())
    assert set(source.tolist()) == set(range(128))
    assert nearest_bins(64, 64).tolist() == list(range(64))


@pytest.mark.parametrize("old_n,new_n", [(32, 64), (32, 32), (48, 40)])
def test_a_repeated_coarse_mel_gives_the_coarse_models_output(old_n, new_n):
    old = model(old_n)
    new = warm_start(old, new_n, tuple(old.config.styles))
    source = nearest_bins(old_n, new_n)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, old_n, 64, generator=g)
    ctx = torch.randn(2, old_n, 64, generator=g)
    mask = (torch.arange(64) < 20).float().expand(2, 1, 64)
    chroma = torch.zeros(2, 12, 64)
    chroma[:, 4] = 1
    t, style = torch.tensor([300, 700]), torch.tensor([1, 5])
    with torch.no_grad():
        coarse = old(x, t, ctx, mask, chroma, style)
        fine = new(x[:, source], t, ctx[:, source], mask, chroma, style)
    if new_n >= old_n:  # every old bin has a new one: the sums are exact
        assert torch.allclose(fine, coarse[:, source], atol=1e-5)
    else:
        assert fine.shape == (2, new_n, 64)


def test_styles_must_match():
    with pytest.raises(ReverieError, match="knows styles sleep, calm, happy, sad, tense"):
        warm_start(model(32), 32, ("rock", "pop"))


def test_a_full_band_mel_starts_from_the_old_bins_at_the_same_pitch():
    """22.05 kHz (256 bins to 11 kHz) -> 44.1 kHz (304 to 19.8 kHz): a bin takes the old bin at its own
    frequency; bins above the old band start from the old top bin."""
    from reverie.models.mel import MelConfig, MelFrontend

    old, new = MelConfig.for_rate(22050), MelConfig.for_rate(44100)
    source = nearest_bins(old.n_mels, new.n_mels, (old.f_min, old.f_max), (new.f_min, new.f_max)).numpy()
    old_centres, new_centres = MelFrontend(old).centres, MelFrontend(new).centres
    inside = new_centres < old.f_max * 0.98
    step = np.diff(old_centres)  # spacing of the old bins around each one
    error = np.abs(old_centres[source[inside]] - new_centres[inside])
    assert (error <= np.maximum(np.append(step, step[-1])[source[inside]], 11)).all()
    assert (source[~inside] >= old.n_mels - 2).all()
    assert (np.diff(source) >= 0).all()


def test_a_deeper_middle_starts_out_computing_what_the_shallower_model_did_and_then_learns():
    old = model(32)
    new = warm_start(old, 32, tuple(old.config.styles), middle_layers=3)
    assert len(new.mid.blocks) == 3 and len(old.mid.blocks) == 1
    assert new.config.middle_layers == 3
    g = torch.Generator().manual_seed(2)
    x, ctx = torch.randn(2, 32, 64, generator=g), torch.randn(2, 32, 64, generator=g)
    mask = (torch.arange(64) < 20).float().expand(2, 1, 64)
    args = (x, torch.tensor([300, 700]), ctx, mask, torch.zeros(2, 12, 64), torch.tensor([1, 5]))
    with torch.no_grad():
        assert torch.equal(new(*args), old(*args))
    # the new blocks are not dead: one step of training moves the output
    new.train()
    (new(*args) - x).square().mean().backward()
    assert new.mid.blocks[2].fc2.weight.grad.abs().sum() > 0
    with pytest.raises(ReverieError, match="may add blocks, not drop them"):
        warm_start(new, 32, tuple(old.config.styles), middle_layers=2)
