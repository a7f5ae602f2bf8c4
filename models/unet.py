"""The denoiser: a 1D U-Net over time with mel bins as channels (Msanii's tokenisation).

Inputs, stacked as channels: the noisy mel, the known-context mel times its
mask, the mask itself and a 12-bin melody chroma. A style label (with a null
label for classifier-free guidance) is added to the timestep embedding.
Residual blocks everywhere, attention only at the low resolutions where the
sequence is short.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.embeddings import TimestepEmbedding, Timesteps
from diffusers.models.modeling_utils import ModelMixin
from torch import nn

CHROMA_BINS = 12


def _norm(channels: int) -> nn.GroupNorm:
    return nn.GroupNorm(min(32, channels // 4), channels)


class ResBlock(nn.Module):
    """Pre-norm conv, embedding added, then a ConvNeXt-style pointwise MLP (Msanii §3.1.2)."""

    def __init__(self, cin: int, cout: int, emb_dim: int, kernel: int = 5, mlp_factor: int = 2):
        super().__init__()
        self.norm_in = _norm(cin)
        self.conv = nn.Conv1d(cin, cout, kernel, padding=kernel // 2)
        self.emb = nn.Linear(emb_dim, cout)
        self.norm_mlp = _norm(cout)
        self.mlp = nn.Sequential(
            nn.Conv1d(cout, cout * mlp_factor, 1), nn.GELU(), nn.Conv1d(cout * mlp_factor, cout, 1)
        )
        self.skip = nn.Conv1d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.conv(F.silu(self.norm_in(x))) + self.emb(emb)[:, :, None]
        h = h + self.mlp(F.gelu(self.norm_mlp(h)))
        return h + self.skip(x)


class Attention(nn.Module):
    def __init__(self, channels: int, heads: int):
        super().__init__()
        self.heads = heads
        self.norm = _norm(channels)
        self.qkv = nn.Conv1d(channels, channels * 3, 1)
        self.out = nn.Conv1d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, t = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(b, 3, self.heads, c // self.heads, t).unbind(1)
        h = F.scaled_dot_product_attention(q.transpose(-1, -2), k.transpose(-1, -2), v.transpose(-1, -2))
        return x + self.out(h.transpose(-1, -2).reshape(b, c, t))


class Level(nn.Module):
    def __init__(self, cins: list[int], cout: int, emb_dim: int, attention: bool, heads: int, kernel: int):
        super().__init__()
        self.blocks = nn.ModuleList(ResBlock(cin, cout, emb_dim, kernel) for cin in cins)
        self.attn = nn.ModuleList(Attention(cout, heads) if attention else nn.Identity() for _ in cins)


class MelUNet1D(ModelMixin, ConfigMixin):
    config_name = "config.json"

    @register_to_config
    def __init__(
        self,
        n_mels: int = 128,
        channels: tuple[int, ...] = (128, 160, 192, 256),
        layers_per_level: int = 2,
        attention_levels: tuple[bool, ...] = (False, False, True, True),
        attention_heads: int = 4,
        kernel_size: int = 5,
        time_embed_dim: int = 256,
        styles: tuple[str, ...] = ("sleep", "calm", "happy", "sad", "tense"),
    ):
        super().__init__()
        c0 = channels[0]
        in_channels = n_mels * 2 + 1 + CHROMA_BINS
        self.time_proj = Timesteps(c0, flip_sin_to_cos=True, downscale_freq_shift=0)
        self.time_embed = TimestepEmbedding(c0, time_embed_dim)
        # index len(styles) is the null style: unconditional, and dropped-out labels in training
        self.style_embed = nn.Embedding(len(styles) + 1, time_embed_dim)
        self.conv_in = nn.Conv1d(in_channels, c0, kernel_size, padding=kernel_size // 2)

        self.down = nn.ModuleList()
        self.downsample = nn.ModuleList()
        skips = [c0]
        cin = c0
        for i, ch in enumerate(channels):
            cins = [cin] + [ch] * (layers_per_level - 1)
            self.down.append(Level(cins, ch, time_embed_dim, attention_levels[i], attention_heads, kernel_size))
            skips += [ch] * layers_per_level
            cin = ch
            if i < len(channels) - 1:
                self.downsample.append(nn.Conv1d(ch, ch, 3, stride=2, padding=1))
                skips.append(ch)

        self.mid = Level([cin, cin], cin, time_embed_dim, True, attention_heads, kernel_size)

        self.up = nn.ModuleList()
        self.upsample = nn.ModuleList()
        for i, ch in reversed(list(enumerate(channels))):
            cins = []
            for _ in range(layers_per_level + 1):
                cins.append(cin + skips.pop())
                cin = ch
            self.up.append(Level(cins, ch, time_embed_dim, attention_levels[i], attention_heads, kernel_size))
            if i > 0:
                self.upsample.append(nn.ConvTranspose1d(ch, ch, 4, stride=2, padding=1))

        self.norm_out = _norm(c0)
        self.conv_out = nn.Conv1d(c0, n_mels, kernel_size, padding=kernel_size // 2)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    @property
    def null_style(self) -> int:
        return len(self.config.styles)

    @property
    def frame_multiple(self) -> int:
        return 2 ** (len(self.config.channels) - 1)

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor,
        context: torch.Tensor,
        mask: torch.Tensor,
        chroma: torch.Tensor,
        style: torch.Tensor,
    ) -> torch.Tensor:
        """sample, context: (B, n_mels, T); mask: (B, 1, T), 1 = known; chroma: (B, 12, T); style: (B,) long."""
        frames = sample.shape[-1]
        pad = (-frames) % self.frame_multiple
        x = torch.cat([sample, context * mask, mask, chroma], dim=1)
        if pad:
            x = F.pad(x, (0, pad))
        t = timestep.expand(sample.shape[0]) if timestep.ndim else timestep.repeat(sample.shape[0])
        emb = self.time_embed(self.time_proj(t).to(x.dtype)) + self.style_embed(style)

        h = self.conv_in(x)
        skips = [h]
        for i, level in enumerate(self.down):
            for block, attn in zip(level.blocks, level.attn):
                h = attn(block(h, emb))
                skips.append(h)
            if i < len(self.downsample):
                h = self.downsample[i](h)
                skips.append(h)
        for block, attn in zip(self.mid.blocks, self.mid.attn):
            h = attn(block(h, emb))
        for i, level in enumerate(self.up):
            for block, attn in zip(level.blocks, level.attn):
                h = attn(block(torch.cat([h, skips.pop()], dim=1), emb))
            if i < len(self.upsample):
                h = self.upsample[i](h)
        out = self.conv_out(F.silu(self.norm_out(h)))
        return out[..., :frames]
