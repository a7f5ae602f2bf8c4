"""Start training from another model's weights, also across a change of mel resolution.

Only the first and last projections know the number of mel bins. A new bin
takes the weights of the old bin nearest to it on the mel scale, and input
weights are divided among the new bins that share an old one, so a mel whose
neighbouring bins repeat the old values gives the old model's output. The two
mels may span different bands (a 22.05 kHz model's 11 kHz to a 44.1 kHz
model's 20 kHz): new bins above the old band start from the old top bin.
Everything else is copied, so fine-tuning starts from what the old model knew
instead of from noise.
"""

from __future__ import annotations

import torch
from torch import nn

from ..errors import ReverieError
from ..mel import hz_to_mel
from ..unet import CHROMA_BINS, MelUNet1D

Band = tuple[float, float]  # a mel's (f_min, f_max), Hz


def warm_start(
    old: MelUNet1D,
    n_mels: int,
    styles: tuple[str, ...],
    old_band: Band | None = None,
    band: Band | None = None,
    grid: bool | None = None,
    middle_layers: int | None = None,
) -> MelUNet1D:
    """A model for `n_mels` bins over `band` and `styles`, initialised from `old` (bins over `old_band`;
    by default both bands are the same). `grid=True` adds the grid and key inputs to a model without
    them (they start at zero, so the new model begins as the old one); None keeps the old model's.
    `middle_layers` deepens the middle level: the new blocks come after the old ones with their last
    projections at zero, so each passes its input through and the new model begins as the old one."""
    if tuple(old.config.styles) != tuple(styles):
        raise ReverieError(
            f"the model to start from knows styles {', '.join(old.config.styles)}; the data has "
            f"{', '.join(styles) or '(none)'}; give --styles in the same order or start from scratch",
            field="init_from",
        )
    config = {k: v for k, v in dict(old.config).items() if not k.startswith("_")}
    adds_grid = bool(grid) and not config.get("grid", False)
    if grid is not None and not grid and config.get("grid", False):
        raise ReverieError("the model to start from hears a grid; a model without one cannot start from it")
    old_middle = len(old.mid.blocks)
    middle = old_middle if middle_layers is None else middle_layers
    if middle < old_middle:
        raise ReverieError(
            f"the model to start from has {old_middle} middle blocks; --middle-layers may add blocks, not drop "
            f"them (got {middle})",
            field="middle_layers",
        )
    deepened = {"middle_layers": middle} if middle != old_middle else {}
    new = MelUNet1D(
        **{**config, **deepened, "n_mels": n_mels, "styles": tuple(styles), "grid": config.get("grid") or adds_grid}
    )
    state = old.state_dict()
    if n_mels != old.config.n_mels or (old_band and band and old_band != band):
        source = nearest_bins(old.config.n_mels, n_mels, old_band, band)
        state = _remap_mel_layers(state, source, old.config.n_mels, n_mels, old.config.patch)
    if adds_grid:
        state = {**state, **{k: v for k, v in new.state_dict().items() if k.startswith(("grid_in.", "key_embed."))}}
    if deepened:
        state = {**_identity_blocks(new, old_middle), **state}
    new.load_state_dict(state)
    return new


def _identity_blocks(new: MelUNet1D, first: int) -> dict:
    """The weights of `new`'s middle blocks from index `first` on, each residual branch's output at zero."""
    mid = new.mid
    for i in range(first, len(mid.blocks)):
        outputs = [mid.blocks[i].fc2] + ([mid.attention[i].out] if mid.attention is not None else [])
        for layer in outputs:
            nn.init.zeros_(layer.weight)
            nn.init.zeros_(layer.bias)
    prefixes = tuple(f"mid.{part}.{i}." for part in ("blocks", "attention") for i in range(first, len(mid.blocks)))
    return {k: v for k, v in new.state_dict().items() if k.startswith(prefixes)}


def nearest_bins(old_n: int, new_n: int, old_band: Band | None = None, band: Band | None = None) -> torch.Tensor:
    """For each new bin, the old bin whose centre is nearest on the (slaney) mel scale."""
    old_band = old_band or band or (0.0, 1.0)
    band = band or old_band
    lo, hi = (hz_to_mel(f) for f in old_band)
    new_lo, new_hi = (hz_to_mel(f) for f in band)
    # Filter k's centre sits k + 1 steps above the band's bottom, a step being the band over n + 1.
    centres = new_lo + (torch.arange(new_n, dtype=torch.float64) + 1) * (new_hi - new_lo) / (new_n + 1)
    index = (centres - lo) * (old_n + 1) / (hi - lo)
    return (index.round().long() - 1).clamp(0, old_n - 1)


def _remap_mel_layers(state: dict, source: torch.Tensor, old_n: int, new_n: int, patch: int) -> dict:
    share = 1.0 / torch.bincount(source, minlength=old_n).clamp(min=1)[source]  # split among repeats
    old_in, new_in = 2 * old_n + 1 + CHROMA_BINS, 2 * new_n + 1 + CHROMA_BINS
    # Input token layout per frame: sample bins, context bins, mask, chroma.
    columns = torch.cat([source, old_n + source, torch.arange(2 * old_n, old_in)])
    scale = torch.cat([share, share, torch.ones(1 + CHROMA_BINS)])
    w = state["embed_in.weight"].reshape(-1, patch, old_in)
    state = dict(state)
    state["embed_in.weight"] = (w[:, :, columns] * scale).reshape(-1, patch * new_in)
    w_out = state["embed_out.weight"].reshape(patch, old_n, -1)
    state["embed_out.weight"] = w_out[:, source].reshape(patch * new_n, -1)
    state["embed_out.bias"] = state["embed_out.bias"].reshape(patch, old_n)[:, source].reshape(-1)
    return state
