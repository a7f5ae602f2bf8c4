"""The denoiser: a 1D U-Net over time with mel bins as channels (Msanii's tokenisation).

Inputs, stacked per frame: the noisy mel, the known-context mel times its
mask, the mask itself and a 12-bin melody chroma. A style label (with a null
label for classifier-free guidance) joins the timestep embedding, which
modulates every block (scale and shift after the norm). A model built with
`grid=True` also hears the musical grid (grid.py: beat and bar pulses and
phases per frame, added to the first tokens) and a key (an embedding beside
the style's); both start at zero, so a model warm-started into them begins
exactly where it was.

Built for a laptop CPU: tensors stay (batch, time, channels) so every
projection is one matrix product (on this CPU a Linear is about 4x faster than
the same 1x1 Conv1d), neighbouring frames mix by shifting channel groups in
time before each MLP (a free, conv-like receptive field), the first layer
folds `patch` frames into one token, levels halve the time axis by merging
token pairs, and attention runs only at the low resolutions.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

from .grid import GRID_FEATURES, KEYS

CHROMA_BINS = 12
SHIFTS = (1, -1, 2, -2)  # frame offsets of the first four of eight channel groups


def shift_tokens(h: torch.Tensor) -> torch.Tensor:
    """Move four channel groups by +-1 and +-2 frames (zero-padded); the rest stay. Padding first and
    cutting after keeps sequences shorter than the shift (a clip of a few frames) the right length."""
    groups = h.chunk(8, dim=-1)
    frames = h.shape[1]
    moved = []
    for g, s in zip(groups, SHIFTS):
        moved.append(F.pad(g, (0, 0, s, 0))[:, :frames] if s > 0 else F.pad(g, (0, 0, 0, -s))[:, -s:])
    return torch.cat(moved + list(groups[len(SHIFTS) :]), dim=-1)


class Block(nn.Module):
    def __init__(self, channels: int, emb_dim: int, mlp_factor: int):
        super().__init__()
        self.norm = nn.LayerNorm(channels, elementwise_affine=False)
        self.modulation = nn.Linear(emb_dim, channels * 2)
        self.fc1 = nn.Linear(channels, channels * mlp_factor)
        self.fc2 = nn.Linear(channels * mlp_factor, channels)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        scale, shift = self.modulation(emb)[:, None].chunk(2, dim=-1)
        h = shift_tokens(self.norm(x) * (1 + scale) + shift)
        return x + self.fc2(F.gelu(self.fc1(h), approximate="tanh"))


class Attention(nn.Module):
    def __init__(self, channels: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm = nn.LayerNorm(channels)
        self.qkv = nn.Linear(channels, channels * 3)
        self.out = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, c = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        h = F.scaled_dot_product_attention(q, k, v)
        return x + self.out(h.transpose(1, 2).reshape(b, t, c))


class Level(nn.Module):
    def __init__(self, channels: int, depth: int, emb_dim: int, mlp_factor: int, attention: bool, heads: int):
        super().__init__()
        self.blocks = nn.ModuleList(Block(channels, emb_dim, mlp_factor) for _ in range(depth))
        self.attention = nn.ModuleList(Attention(channels, heads) for _ in range(depth)) if attention else None

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        for i, block in enumerate(self.blocks):
            x = block(x, emb)
            if self.attention is not None:
                x = self.attention[i](x)
        return x


class MelUNet1D(ModelMixin, ConfigMixin):
    config_name = "config.json"

    @register_to_config
    def __init__(
        self,
        n_mels: int = 256,
        patch: int = 4,
        channels: tuple[int, ...] = (128, 192, 256),
        layers_per_level: int = 2,
        attention_levels: tuple[bool, ...] = (False, True, True),
        attention_heads: int = 4,
        mlp_factor: int = 2,
        time_embed_dim: int = 256,
        styles: tuple[str, ...] = ("sleep", "calm", "happy", "sad", "tense"),
        grid: bool = False,
        middle_layers: int | None = None,
    ):
        super().__init__()
        # One entry per level from the finest down; the last level (the middle, the lowest resolution)
        # attends unless a last entry says otherwise. Older configs, the shipped one among them, give only
        # the down/up levels' entries: their middle attends, as it always has.
        levels = len(channels)
        if len(attention_levels) not in (levels - 1, levels):
            raise ValueError(
                f"attention_levels needs {levels - 1} or {levels} entries (one per level, the middle's "
                f"optional), got {len(attention_levels)}"
            )
        middle_attends = bool(attention_levels[levels - 1]) if len(attention_levels) == levels else True
        c0 = channels[0]
        self.time_proj = Timesteps(128, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embed = TimestepEmbedding(128, time_embed_dim)
        # index len(styles) is the null style: unconditional, and dropped-out labels in training
        self.style_embed = nn.Embedding(len(styles) + 1, time_embed_dim)
        self.embed_in = nn.Linear((n_mels * 2 + 1 + CHROMA_BINS) * patch, c0)

        depth = layers_per_level
        self.down = nn.ModuleList(
            Level(ch, depth, time_embed_dim, mlp_factor, attn, attention_heads)
            for ch, attn in zip(channels[:-1], attention_levels)
        )
        self.merge = nn.ModuleList(nn.Linear(2 * a, b) for a, b in zip(channels[:-1], channels[1:]))
        # The middle sees the whole window at a token per 0.37 s: where depth buys rhythm over seconds cheaply.
        middle = depth if middle_layers is None else middle_layers
        self.mid = Level(channels[-1], middle, time_embed_dim, mlp_factor, middle_attends, attention_heads)
        self.split = nn.ModuleList(nn.Linear(b, 2 * a) for a, b in zip(channels[:-1], channels[1:]))
        self.up = nn.ModuleList(
            Level(ch, depth, time_embed_dim, mlp_factor, attn, attention_heads)
            for ch, attn in zip(channels[:-1], attention_levels)
        )
        self.norm_out = nn.LayerNorm(c0)
        self.embed_out = nn.Linear(c0, n_mels * patch)
        nn.init.zeros_(self.embed_out.weight)
        nn.init.zeros_(self.embed_out.bias)
        if grid:
            self.grid_in = nn.Linear(GRID_FEATURES * patch, c0)
            self.key_embed = nn.Embedding(KEYS + 1, time_embed_dim)  # index KEYS: the key is not known
            for weight in (self.grid_in.weight, self.grid_in.bias, self.key_embed.weight):
                nn.init.zeros_(weight)

    @property
    def null_style(self) -> int:
        return len(self.config.styles)

    @property
    def frame_multiple(self) -> int:
        return self.config.patch * 2 ** (len(self.config.channels) - 1)

    def _mixed_style(self, weights: torch.Tensor) -> torch.Tensor:
        """A mood's weights (B, styles + 1) -> its embedding: the weighted mean of the styles' embeddings, as
        long as their weighted mean length. The learned embeddings are near orthogonal, so their plain mean
        is shorter than any the network was trained with; kept at length, a mix lands nearer between its
        styles (docs/model.md, bench/controls.py). One style's weights give exactly its embedding."""
        table = self.style_embed.weight
        mean = weights @ table
        several = (weights > 0).sum(dim=-1, keepdim=True) > 1
        length = (weights @ table.norm(dim=-1))[:, None] / mean.norm(dim=-1, keepdim=True).clamp(min=1e-12)
        return torch.where(several, mean * length, mean)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        context: torch.Tensor,
        mask: torch.Tensor,
        chroma: torch.Tensor,
        style: torch.Tensor,
        grid: torch.Tensor | None = None,
        key: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """sample, context: (B, n_mels, T); mask: (B, 1, T), 1 = known; chroma: (B, 12, T); style: (B,) long,
        or (B, styles + 1) float weights: the model hears their mean of its style embeddings (a mood);
        grid: (B, GRID_FEATURES, T) or None (not known); key: (B,) long, KEYS or None for not known. A model
        built without `grid` ignores both."""
        b, n_mels, frames = sample.shape
        patch = self.config.patch
        x = torch.cat([sample, context * mask, mask, chroma], dim=1)
        pad = (-frames) % self.frame_multiple
        if pad:
            x = F.pad(x, (0, pad))
        tokens = (frames + pad) // patch
        # (B, C, T) -> (B, T / patch, patch * C): each token is `patch` consecutive frames
        x = x.transpose(1, 2).reshape(b, tokens, patch * x.shape[1])
        t = timestep.expand(b) if timestep.ndim == 0 else timestep
        style_emb = self._mixed_style(style.to(x.dtype)) if style.is_floating_point() else self.style_embed(style)
        if self.config.grid:  # the key joins the style: what the music is, beside how it feels
            known = torch.full((b,), KEYS, dtype=torch.long) if key is None else key.expand(b)
            style_emb = style_emb + self.key_embed(known)
        emb = F.silu(self.time_embed(self.time_proj(t).to(x.dtype)) + style_emb)

        h = self.embed_in(x)
        if self.config.grid and grid is not None:
            g = F.pad(grid.to(x.dtype), (0, pad)) if pad else grid.to(x.dtype)
            h = h + self.grid_in(g.transpose(1, 2).reshape(b, tokens, patch * GRID_FEATURES))
        skips = []
        for level, merge in zip(self.down, self.merge):
            h = level(h, emb)
            skips.append(h)
            h = merge(h.reshape(b, h.shape[1] // 2, -1))
        h = self.mid(h, emb)
        for level, split in zip(reversed(self.up), reversed(self.split)):
            skip = skips.pop()
            h = split(h).reshape(skip.shape) + skip
            h = level(h, emb)
        out = self.embed_out(self.norm_out(h))  # (B, tokens, patch * n_mels)
        out = out.reshape(b, tokens * patch, n_mels).transpose(1, 2)
        return out[..., :frames]
