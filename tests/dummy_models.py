"""The tests' own model, as diffusers keeps its dummy models with its tests: a small random network with the
full machinery, fast enough to run every operation in seconds. It is not part of the product.

`tiny_pipeline()` builds it in memory; `TINY` is the same model saved as a model folder, for what runs in
another process (`reverie ... --model TINY`, `reverie serve`, `render`, Ray actors): loaded back it gives the
same bytes as the one in memory.
"""

from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import torch

from reverie.models.mel import MelConfig
from reverie.models.pipeline import PipelineConfig, ReveriePipeline
from reverie.models.unet import MelUNet1D


def tiny_pipeline(seed: int = 0, grid: bool = False) -> ReveriePipeline:
    """A small random model; `grid`: one that hears tempo and key. It leaves torch's global generator as it
    found it."""
    # Module initialisers draw from the global generator: seed a forked copy of it.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        unet = MelUNet1D(
            n_mels=32,
            channels=(32, 48),
            layers_per_level=1,
            attention_levels=(False,),
            attention_heads=2,
            time_embed_dim=64,
            grid=grid,
        )
        # A trained model's output layer (and grid input) is not zero: without this, style, melody and tempo
        # could not change a sample and tests could not tell a face that drops them.
        trained = [unet.embed_out.weight] + ([unet.grid_in.weight, unet.key_embed.weight] if grid else [])
        for weight in trained:
            torch.nn.init.normal_(weight, std=0.02)
    mel = MelConfig(n_fft=512, hop_length=256, n_mels=32, griffin_lim_iters=8)
    config = PipelineConfig(mel=mel, window_frames=64, context_frames=16, crossfade_frames=8, steps=4, guidance=2.0)
    return ReveriePipeline(unet, config)


def _saved() -> str:
    folder = Path(tempfile.mkdtemp(prefix="reverie-tiny-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return str(tiny_pipeline().save_pretrained(folder / "tiny"))


# The folder lives as long as the test session that made it.
TINY = _saved()
