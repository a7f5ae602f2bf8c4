"""The training loop: x0 (or v) prediction on random crops, random context masks, condition dropout, EMA.

Context masks teach one network three jobs: no mask (plain generation), a
known prefix (continuation, and the windows of long generation) and known
audio on both sides of a gap (inpainting). Style and melody are dropped at
random so classifier-free guidance has an unconditional branch to push from.
"""

from __future__ import annotations

import contextlib
import copy
import json
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from ..grid import GRID_FEATURES, KEYS
from ..mel import MelConfig
from ..pipeline import PipelineConfig, ReveriePipeline
from ..schedulers import loss_weight, make_scheduler, training_scheduler_config, training_target
from ..unet import MelUNet1D
from .data import Features, style_bands, style_levels
from .warm_start import warm_start

STATE_FILE = "training_state.pt"


@dataclass
class TrainConfig:
    steps: int = 20000
    batch_size: int = 8
    crop_frames: int = 512
    lr: float = 3e-4
    warmup: int = 500
    ema_decay: float = 0.999
    style_dropout: float = 0.2
    melody_dropout: float = 0.3
    grid_dropout: float = 0.3  # for a model with grid inputs: the grid and the key, each on its own
    # The grid and key inputs learn this many times faster: warm-started at zero into a trained network,
    # they have everything to learn while the rest only adjusts.
    new_inputs_lr_scale: float = 10.0
    # The share of draws from the style-labelled clips, the rest from the unlabelled (real music); None:
    # every clip equally likely. Hours of unlabelled real music would otherwise starve the styles.
    labelled_share: float | None = None
    p_prefix: float = 0.3
    p_gap: float = 0.3
    seed: int = 0
    save_every: int = 500
    minutes: float | None = None
    device: str = "cpu"
    bf16: bool = False
    prediction_type: str = "sample"  # x0; see docs/architecture.md


class Batches:
    """Random crops with their conditioning, drawn from a seeded generator (resumable by step)."""

    def __init__(self, features: Features, mel: MelConfig, config: TrainConfig, null_style: int):
        self.features, self.config, self.null_style = features, config, null_style
        self.mean = torch.tensor(mel.mean)[:, None]
        self.std = torch.tensor(mel.std)[:, None]
        self.lengths = torch.tensor([m.shape[-1] for m in features.log_mels])
        self.frame_rate = mel.frame_rate
        labelled = features.styles >= 0
        self.pools = (torch.nonzero(labelled)[:, 0], torch.nonzero(~labelled)[:, 0])

    def clip_index(self, g: torch.Generator) -> int:
        """The clip a draw crops from."""
        share, pools = self.config.labelled_share, self.pools
        if share is None or not all(len(p) for p in pools):
            return int(torch.randint(len(self.features.log_mels), (1,), generator=g))
        pool = pools[0] if float(torch.rand(1, generator=g)) < share else pools[1]
        return int(pool[int(torch.randint(len(pool), (1,), generator=g))])

    def draw(self, g: torch.Generator):
        c = self.config
        x0, chroma, ctx_mask = [], [], []
        styles = torch.empty(c.batch_size, dtype=torch.long)
        keys = torch.full((c.batch_size,), KEYS, dtype=torch.long)
        grids = torch.zeros(c.batch_size, GRID_FEATURES, c.crop_frames)
        for i in range(c.batch_size):
            k = self.clip_index(g)
            length = int(self.lengths[k])
            crop = min(c.crop_frames, length)
            start = int(torch.randint(length - crop + 1, (1,), generator=g))
            mel = (self.features.log_mels[k][:, start : start + crop].float() - self.mean) / self.std
            ch = self.features.chromas[k][:, start : start + crop].float()
            if crop < c.crop_frames:  # short clips: pad with the quietest value the data has
                mel = torch.nn.functional.pad(mel, (0, c.crop_frames - crop), value=float(mel.min()))
                ch = torch.nn.functional.pad(ch, (0, c.crop_frames - crop))
            style = int(self.features.styles[k])
            if style < 0 or float(torch.rand(1, generator=g)) < c.style_dropout:
                style = self.null_style
            if float(torch.rand(1, generator=g)) < c.melody_dropout:
                ch = torch.zeros_like(ch)
            # Drawn for every clip, known grid or not, so a batch's other draws do not depend on labels.
            keep_grid, keep_key = (float(u) >= c.grid_dropout for u in torch.rand(2, generator=g))
            grid = self.features.grid(k)
            if grid is not None and keep_grid:
                grids[i, :, :crop] = torch.from_numpy(grid.features(self.frame_rate, crop, start / self.frame_rate))
            if keep_key:
                keys[i] = self.features.keys[k]
            x0.append(mel)
            chroma.append(ch)
            ctx_mask.append(self._mask(g))
            styles[i] = style
        return torch.stack(x0), torch.stack(chroma), torch.stack(ctx_mask), styles, grids, keys

    def _mask(self, g: torch.Generator) -> torch.Tensor:
        c, frames = self.config, self.config.crop_frames
        mask = torch.zeros(1, frames)
        u = float(torch.rand(1, generator=g))
        if u < c.p_prefix:
            known = int(torch.randint(frames // 16, frames * 3 // 4, (1,), generator=g))
            mask[:, :known] = 1
        elif u < c.p_prefix + c.p_gap:
            gap = int(torch.randint(frames // 16, frames // 2, (1,), generator=g))
            at = int(torch.randint(1, frames - gap, (1,), generator=g))
            mask[:] = 1
            mask[:, at : at + gap] = 0
        return mask


def train(
    features: Features,
    output: Path,
    mel: MelConfig,
    unet_kwargs: dict,
    config: TrainConfig,
    resume: bool = False,
    log=print,
    init_from: MelUNet1D | None = None,
    init_mel: MelConfig | None = None,
    grid: bool | None = None,
) -> ReveriePipeline:
    """Train (or resume) into `output`. `init_from`: weights to start from instead of noise
    (its architecture wins over `unet_kwargs`, bar a deeper middle: see warm_start), made for `init_mel`
    (default: `mel`)."""
    device = torch.device(config.device)
    output.mkdir(parents=True, exist_ok=True)
    state_path = output / STATE_FILE
    if resume and state_path.is_file():
        state = torch.load(state_path, weights_only=False)
        unet = MelUNet1D.from_config(state["unet_config"])
        unet.load_state_dict(state["model"])
        mel = MelConfig(**state["mel"])
    elif init_from is not None:
        state = None
        old = init_mel or mel
        bands = (old.f_min, old.f_max), (mel.f_min, mel.f_max)
        unet = warm_start(
            init_from,
            mel.n_mels,
            tuple(features.style_names),
            *bands,
            grid=grid,
            middle_layers=unet_kwargs.get("middle_layers"),
        )
        log(
            f"starting from a model trained elsewhere ({init_from.config.n_mels} mel bins to {old.f_max:g} Hz "
            f"-> {mel.n_mels} to {mel.f_max:g} Hz)"
        )
    else:
        state = None
        unet = MelUNet1D(styles=tuple(features.style_names), n_mels=mel.n_mels, grid=bool(grid), **unet_kwargs)
    unet.to(device).train()
    ema = copy.deepcopy(unet).eval().requires_grad_(False)
    optimiser = torch.optim.AdamW(_param_groups(unet, config), lr=config.lr, betas=(0.9, 0.99), weight_decay=0.01)
    step = 0
    if state is not None:
        ema.load_state_dict(state["ema"])
        optimiser.load_state_dict(state["optimiser"])
        step = state["step"]
        log(f"resumed at step {step}")
    scheduler_config = training_scheduler_config(config.prediction_type)
    schedule = make_scheduler("ddpm", scheduler_config)
    alphas = schedule.alphas_cumprod.to(device)
    batches = Batches(features, mel, config, unet.null_style)
    pipeline_config = PipelineConfig(
        mel=mel,
        scheduler=scheduler_config,
        window_frames=config.crop_frames,
        levels_db=style_levels(features, mel),
        style_bands_db=style_bands(features, mel),
    )

    from tqdm import tqdm

    started = time.monotonic()
    bar = tqdm(total=config.steps, initial=step, unit="step", dynamic_ncols=True)
    losses = []
    saved = step if state is not None else 0
    try:
        while step < config.steps:
            # A generator per step, seeded by (seed, step): a resumed run draws the same batches.
            g = torch.Generator().manual_seed(config.seed * 1_000_003 + step)
            x0, chroma, mask, styles, grids, keys = (t.to(device) for t in batches.draw(g))
            noise = torch.randn(x0.shape, generator=g).to(device)
            t = torch.randint(0, len(alphas), (x0.shape[0],), generator=g).to(device)
            a = alphas[t][:, None, None]
            xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
            target = training_target(x0, noise, a, config.prediction_type)
            for group in optimiser.param_groups:
                group["lr"] = group.get("base_lr", config.lr) * min(1.0, (step + 1) / config.warmup)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=config.bf16):
                pred = unet(xt, t, x0, mask, chroma, styles, grids, keys)
            # Known frames are easy (the context holds them); weight the frames the model must invent.
            weight = (1.0 - 0.75 * mask) * loss_weight(a, config.prediction_type)
            loss = ((pred.float() - target) ** 2 * weight).mean()
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(unet.parameters(), 1.0)
            optimiser.step()
            decay = min(config.ema_decay, (1 + step) / (10 + step))
            with torch.no_grad():
                for p_ema, p in zip(ema.parameters(), unet.parameters()):
                    p_ema.lerp_(p, 1 - decay)
            step += 1
            losses.append(float(loss))
            bar.update(1)
            bar.set_postfix(loss=f"{sum(losses[-50:]) / len(losses[-50:]):.4f}")
            out_of_time = config.minutes is not None and time.monotonic() - started > config.minutes * 60
            if step % config.save_every == 0 or step == config.steps or out_of_time:
                with _whole_on_ctrl_c():
                    _save(output, unet, ema, optimiser, step, mel, pipeline_config, losses)
                    saved = step
            if out_of_time:
                log(f"stopped after {config.minutes:g} minutes at step {step}")
                break
    except KeyboardInterrupt as exc:
        bar.close()
        # Ctrl-C keeps the last checkpoint: say which and how to go on (cli/errors.py prints this).
        exc.kept = (
            f"the checkpoint of step {saved} is in {output}; run the same command with --resume to go on"
            if saved
            else f"no checkpoint was saved yet (the first comes at step {config.save_every})"
        )
        raise
    bar.close()
    return ReveriePipeline.from_pretrained(output)


def _param_groups(unet: MelUNet1D, config: TrainConfig) -> list[dict]:
    new = ("grid_in.", "key_embed.")
    named = list(unet.named_parameters())
    groups = [
        {"params": [p for n, p in named if not n.startswith(new)], "base_lr": config.lr},
        {"params": [p for n, p in named if n.startswith(new)], "base_lr": config.lr * config.new_inputs_lr_scale},
    ]
    return [g for g in groups if g["params"]]


@contextlib.contextmanager
def _whole_on_ctrl_c():
    """Ctrl-C during a checkpoint lands just after it, so a checkpoint on disk is always a whole one."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread hears SIGINT
        return
    pending = []
    previous = signal.signal(signal.SIGINT, lambda *_: pending.append(True))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if pending:
        raise KeyboardInterrupt


def _save(output: Path, unet, ema, optimiser, step: int, mel: MelConfig, pipeline_config, losses) -> None:
    pipe = ReveriePipeline(copy.deepcopy(ema).cpu().float(), pipeline_config)
    pipe.save_pretrained(output)
    tmp = output / f".{STATE_FILE}.partial"
    torch.save(
        {
            "model": unet.state_dict(),
            "ema": ema.state_dict(),
            "optimiser": optimiser.state_dict(),
            "step": step,
            "mel": mel.to_dict(),
            "unet_config": dict(unet.config),
        },
        tmp,
    )
    tmp.replace(output / STATE_FILE)
    with open(output / "training_log.jsonl", "a") as f:
        recent = losses[-200:]
        f.write(json.dumps({"step": step, "loss": sum(recent) / max(len(recent), 1), "time": time.time()}) + "\n")
