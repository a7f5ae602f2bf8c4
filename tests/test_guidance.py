"""Balanced guidance: the style's change is sharpened over time, each band's average stays the style's."""

from __future__ import annotations

import dataclasses

import torch
from dummy_models import tiny_pipeline

from reverie.models.pipeline import ReveriePipeline
from reverie.models.sampling import Conditions


def outputs(pipe: ReveriePipeline, guidance: float, known: int = 0) -> torch.Tensor:
    frames, n_mels = 48, pipe.config.mel.n_mels
    g = torch.Generator().manual_seed(0)
    x = torch.randn(1, n_mels, frames, generator=g)
    mask = torch.zeros(1, 1, frames)
    mask[..., :known] = 1
    context = torch.randn(1, n_mels, frames, generator=g) * mask
    cond = Conditions(2, torch.zeros(1, 12, frames), context, mask, guidance)
    with torch.no_grad():
        return pipe.denoiser.output(x, 500, cond)


def test_guidance_keeps_each_bands_average_where_the_style_puts_it():
    pipe = tiny_pipeline()
    style_only = outputs(pipe, 1.0, known=16)  # guidance 1: the conditional branch alone
    balanced = outputs(pipe, 3.0, known=16)
    pipe.config = dataclasses.replace(pipe.config, balanced_guidance=False)
    pipe.denoiser.config = pipe.config
    plain = outputs(pipe, 3.0, known=16)
    made = slice(16, None)  # the average is over the frames to be made, not the known context
    assert torch.allclose(balanced[..., made].mean(-1), style_only[..., made].mean(-1), atol=1e-5)
    assert (plain[..., made].mean(-1) - style_only[..., made].mean(-1)).abs().max() > 1e-3
    # what changes over time is still sharpened exactly as plain guidance sharpens it
    centred = lambda y: y[..., made] - y[..., made].mean(-1, keepdim=True)  # noqa: E731
    assert torch.allclose(centred(balanced), centred(plain), atol=1e-5)
    assert not torch.allclose(centred(balanced), centred(style_only), atol=1e-3)
