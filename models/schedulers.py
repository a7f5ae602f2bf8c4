"""Samplers from diffusers, all built from the one training noise schedule saved with a model."""
from __future__ import annotations

from .errors import ReverieError

SCHEDULERS = ("ddim", "dpm", "ddpm", "repaint")


def training_scheduler_config() -> dict:
    """The forward process the model is trained on: cosine betas (Msanii, appendix B), v-prediction."""
    return {
        "num_train_timesteps": 1000,
        "beta_schedule": "squaredcos_cap_v2",
        "prediction_type": "v_prediction",
        "clip_sample": False,
    }


def make_scheduler(name: str, config: dict):
    from diffusers import (
        DDIMScheduler,
        DDPMScheduler,
        DPMSolverMultistepScheduler,
        RePaintScheduler,
    )

    if name not in SCHEDULERS:
        raise ReverieError(
            f"unknown scheduler {name!r}; allowed: {', '.join(SCHEDULERS)}", field="scheduler"
        )
    # "trailing" spacing starts sampling at the last training step, so few steps still begin from pure noise.
    if name == "ddim":
        return DDIMScheduler.from_config(config, timestep_spacing="trailing", set_alpha_to_one=False)
    if name == "dpm":
        return DPMSolverMultistepScheduler.from_config(
            config, timestep_spacing="trailing", algorithm_type="dpmsolver++", final_sigmas_type="zero"
        )
    if name == "ddpm":
        return DDPMScheduler.from_config(config, timestep_spacing="trailing")
    # RePaint predicts with epsilon; the pipeline converts the model's v-prediction before each step.
    return RePaintScheduler.from_config(
        {k: v for k, v in config.items() if k != "prediction_type"}
    )
