"""Samplers from diffusers, all built from the one training noise schedule saved with a model."""

from __future__ import annotations

import torch

from .errors import ReverieError
from .operations import NOISE_TIMESTEPS

SCHEDULERS = ("ddim", "dpm", "ddpm", "repaint")


# What the network predicts. "v_prediction": v = sqrt(a) eps - sqrt(1 - a) x0. "sample": x0 itself.
PREDICTIONS = ("v_prediction", "sample")


def training_scheduler_config(prediction_type: str = "sample") -> dict:
    """The forward process the model is trained on: cosine betas (Msanii, appendix B). The network predicts
    x0 ("sample") unless told otherwise, as the shipped model and `reverie train` do."""
    if prediction_type not in PREDICTIONS:
        raise ReverieError(
            f"unknown prediction type {prediction_type!r}; allowed: {', '.join(PREDICTIONS)}", field="prediction"
        )
    return {
        "num_train_timesteps": NOISE_TIMESTEPS,
        "beta_schedule": "squaredcos_cap_v2",
        "prediction_type": prediction_type,
        "clip_sample": False,
    }


def to_epsilon(output, x, alpha_bar, prediction_type: str):
    """The noise estimate implied by a network output at x (alpha_bar: that step's cumulative alpha)."""
    a, s = alpha_bar**0.5, (1 - alpha_bar) ** 0.5
    if prediction_type == "sample":
        return (x - a * output) / s
    return a * output + s * x


def training_target(x0, noise, alpha_bar, prediction_type: str):
    """What the network should output for x_t = sqrt(a) x0 + sqrt(1 - a) noise."""
    if prediction_type == "sample":
        return x0
    return alpha_bar**0.5 * noise - (1 - alpha_bar) ** 0.5 * x0


def loss_weight(alpha_bar, prediction_type: str):
    """Per-sample loss weight. For x0 prediction: SNR + 1 (what a v loss weighs x0 errors by),
    capped at 5 so the nearly clean steps, which are easy, do not dominate."""
    if prediction_type == "sample":
        return (1 / (1 - alpha_bar)).clamp(max=5.0)
    return torch.ones_like(alpha_bar)


def make_scheduler(name: str, config: dict):
    from diffusers import (
        DDIMScheduler,
        DDPMScheduler,
        DPMSolverMultistepScheduler,
        RePaintScheduler,
    )

    if name not in SCHEDULERS:
        raise ReverieError(f"unknown scheduler {name!r}; allowed: {', '.join(SCHEDULERS)}", field="scheduler")
    # "trailing" spacing starts sampling at the last training step, so few steps still begin from pure noise.
    if name == "ddim":
        return DDIMScheduler.from_config(config, timestep_spacing="trailing", set_alpha_to_one=False)
    if name == "dpm":
        return DPMSolverMultistepScheduler.from_config(
            config, timestep_spacing="trailing", algorithm_type="dpmsolver++", final_sigmas_type="zero"
        )
    if name == "ddpm":
        return DDPMScheduler.from_config(config, timestep_spacing="trailing")
    # RePaint steps with epsilon; the pipeline converts the model's prediction before each step.
    return RePaintScheduler.from_config({k: v for k, v in config.items() if k != "prediction_type"})
