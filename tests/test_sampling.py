"""The pieces under the pipeline: sampling loops, window plans and the U-Net's attention levels."""

import pytest
import torch

from reverie.models.pipeline import DEFAULT_MODEL_DIR
from reverie.models.sampling import Run, Sampling, slerp
from reverie.models.stream import fade_span, plan_windows
from reverie.models.unet import MelUNet1D


def sampling(**changes) -> Sampling:
    return Sampling(**{**dict(style=0, melody=None, seed=0, steps=4, guidance=1.0, sampler="ddim"), **changes})


def test_windows_cover_the_frames_with_growing_then_fixed_context():
    windows = plan_windows(150, 0, window_frames=64, context_frames=16)
    assert windows[0] == (0, 64) and all(c == 16 for c, _ in windows[1:])
    assert sum(new for _, new in windows) == 150
    assert all(c + n <= 64 for c, n in windows)
    assert plan_windows(10, 5, 64, 16) == ((5, 10),)
    assert fade_span(16, 8, 256) == (8 * 256, 4 * 256)  # centred in the overlap
    assert fade_span(4, 8, 256) == (4 * 256, 0)  # never longer than the overlap


def test_add_noise_and_epsilon_invert_each_other_for_both_predictions(pipe):
    denoiser = pipe.denoiser
    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(1, 32, 20, generator=g), torch.randn(1, 32, 20, generator=g)
    t = 600
    xt = denoiser.add_noise(x0, noise, t)
    a = denoiser.alphas_cumprod[t]
    v = a.sqrt() * noise - (1 - a).sqrt() * x0
    for prediction, output in (("sample", x0), ("v_prediction", v)):
        config = dict(pipe.config.scheduler, prediction_type=prediction)
        denoiser.config.scheduler, saved = config, denoiser.config.scheduler
        try:
            assert torch.allclose(denoiser.epsilon(output, xt, t), noise, atol=1e-4)
        finally:
            denoiser.config.scheduler = saved


def test_a_run_counts_every_step_and_its_noise_is_its_seeds(pipe):
    seen = []
    run = Run(pipe.denoiser, sampling(seed=5), 4, lambda step, total: seen.append((step, total)))
    again = Run(pipe.denoiser, sampling(seed=5), 4, None)
    assert torch.equal(run.noise((2, 3)), again.noise((2, 3)))
    scheduler, timesteps = run.schedule()
    x = run.denoise(run.noise((1, 32, 16)), scheduler, timesteps, run.conditions(16))
    assert x.shape == (1, 32, 16) and seen == [(i, 4) for i in range(1, 5)]
    _, cut = run.schedule(start=500)
    assert len(cut) == pipe.denoiser.steps(run.sampling, 500) and int(cut.max()) <= 500


def test_slerp_keeps_the_ends_and_the_norm_of_orthogonal_inputs():
    a, b = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    assert torch.allclose(slerp(a, b, 0.0), a) and torch.allclose(slerp(a, b, 1.0), b)
    assert float(slerp(a, b, 0.5).norm()) == pytest.approx(1.0)
    assert torch.allclose(slerp(a, a, 0.3), a)  # parallel: falls back to a straight blend


def test_attention_levels_name_every_level_and_the_middle_attends_unless_told():
    small = dict(n_mels=8, channels=(16, 24, 32), layers_per_level=1, attention_heads=2, time_embed_dim=16)
    old_style = MelUNet1D(attention_levels=(False, True), **small)
    assert old_style.mid.attention is not None and old_style.down[0].attention is None
    assert old_style.down[1].attention is not None and old_style.up[1].attention is not None
    assert MelUNet1D(attention_levels=(False, True, True), **small).mid.attention is not None
    assert MelUNet1D(attention_levels=(False, False, False), **small).mid.attention is None
    with pytest.raises(ValueError, match="attention_levels needs 2 or 3 entries"):
        MelUNet1D(attention_levels=(False,), **small)


def test_the_shipped_unet_config_loads_with_an_attending_middle():
    unet = MelUNet1D.from_pretrained(DEFAULT_MODEL_DIR / "unet", low_cpu_mem_usage=False)
    assert list(unet.config.attention_levels) == [False, True]
    assert unet.mid.attention is not None
    n = unet.config.n_mels
    out = unet(
        torch.zeros(1, n, 64),
        torch.tensor(10),
        torch.zeros(1, n, 64),
        torch.zeros(1, 1, 64),
        torch.zeros(1, 12, 64),
        torch.tensor([0]),
    )
    assert out.shape == (1, n, 64) and bool(torch.isfinite(out).all())
