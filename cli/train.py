"""`reverie train DATA_DIR -o MODEL_DIR`: train a model on any folder of audio."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import click

from reverie.cli.errors import reports_errors
from reverie.models.errors import ReverieError


def _csv_ints(value: str) -> tuple[int, ...]:
    try:
        return tuple(int(v) for v in value.split(","))
    except ValueError:
        raise ReverieError(
            f"--channels must be whole numbers separated by commas, got {value!r}", field="channels"
        ) from None


DEVICE_HELP = "Where to train: cuda needs an NVIDIA GPU and PyTorch's CUDA build (PyPI's Linux torch is one)."


@click.command()
@click.argument("data_dir", type=click.Path(file_okay=False))
@click.option(
    "-o", "--output", required=True, type=click.Path(file_okay=False), help="Model folder to write (and resume from)."
)
@click.option(
    "--labels",
    type=click.Path(dir_okay=False),
    help="CSV with path,style rows (paths relative to DATA_DIR). Default: subfolder names.",
)
@click.option(
    "--styles", help="Style names in the order the model should know them, comma-separated. Default: sorted labels."
)
@click.option("--steps", type=int, default=20000, show_default=True, help="Optimiser steps in total.")
@click.option("--minutes", type=float, help="Stop (and save) after this many minutes, whatever the step.")
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    default=8,
    show_default=True,
    help="Clips per training step: more is smoother and needs more memory (a GPU takes 32 or more).",
)
@click.option(
    "--crop-frames",
    type=int,
    default=512,
    show_default=True,
    help="Training window in mel frames (also the generation window).",
)
@click.option("--lr", type=float, default=3e-4, show_default=True, help="Peak learning rate (AdamW, linear warm-up).")
@click.option(
    "--labelled-share",
    type=click.FloatRange(0.0, 1.0),
    help="Draw this share of clips from the style-labelled ones and the rest from the unlabelled (a corpus "
    "of many hours of real music has far more of those). Default: every clip equally likely.",
)
@click.option(
    "--sample-rate",
    type=click.Choice(["22050", "44100", "48000"]),
    default="44100",
    show_default=True,
    help="The model's rate: 44100 and 48000 make the whole band (to 20 kHz); 22050 makes up to 11 kHz, "
    "and new audio gets its air rebuilt above 10 kHz.",
)
@click.option("--channels", default="128,192,256", show_default=True, help="U-Net widths per level.")
@click.option("--layers", type=int, default=2, show_default=True, help="Blocks per U-Net level.")
@click.option(
    "--middle-layers",
    type=int,
    help="Blocks in the U-Net's middle level, where attention sees the whole window: more of them learn "
    "rhythm and form over several seconds, at little cost. Default: --layers. With --init-from, deepens "
    "the model it starts from (the new blocks start as identities, so it sounds the same at step 0).",
)
@click.option("--patch", type=int, default=4, show_default=True, help="Mel frames per token (more: faster, coarser).")
@click.option("--save-every", type=int, default=500, show_default=True, help="Checkpoint every N steps.")
@click.option("--resume", is_flag=True, help="Continue from the checkpoint in the output folder.")
@click.option(
    "--init-from",
    metavar="MODEL",
    help="Start from this model's weights instead of noise: a model folder, or 'default' for the "
    "embedded model (fine-tune it on your own music). Its mel resolution may differ.",
)
@click.option(
    "--prediction",
    type=click.Choice(["x0", "v"]),
    default="x0",
    show_default=True,
    help="What the network predicts: the clean mel (x0) or v (velocity, Salimans & Ho). x0 gave cleaner "
    "samples with this architecture (docs/model.md, stage 4).",
)
@click.option(
    "--grid/--no-grid",
    default=True,
    show_default=True,
    help="Teach the model tempo, metre and key (what generate --bpm/--key ask for), learned from the "
    "tempo, time signature and key signature of the MIDI file beside each clip (the corpus builder "
    "writes them); clips without them train the grid-free case. Starting from a model without the grid "
    "inputs adds them, at zero.",
)
@click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True, help=DEVICE_HELP)
@click.option("--bf16", is_flag=True, help="bf16 autocast for the forward pass.")
@click.option(
    "--seed",
    type=int,
    default=0,
    show_default=True,
    help="Seeds the batches each step draws (crops and noise), so a resumed run draws the same.",
)
@click.option("--threads", type=int, help="CPU threads for torch (1 is faster when other jobs share the cores).")
@reports_errors
def train(
    data_dir,
    output,
    labels,
    styles,
    steps,
    minutes,
    batch_size,
    crop_frames,
    lr,
    labelled_share,
    sample_rate,
    channels,
    layers,
    middle_layers,
    patch,
    save_every,
    resume,
    init_from,
    prediction,
    grid,
    device,
    bf16,
    seed,
    threads,
):
    """Train a model on a folder of audio: one subfolder per style, MIDI beside audio for melody.

    \b
    Example (the default model):
      reverie corpus data/corpus --hours 2
      reverie train data/corpus/train -o my_model --styles sleep,calm,happy,sad,tense --minutes 90
    """
    import torch

    from reverie.models.mel import MelConfig
    from reverie.models.training.data import Features, bin_statistics, featurise, scan
    from reverie.models.training.loop import TrainConfig
    from reverie.models.training.loop import train as run_training

    if threads:
        torch.set_num_threads(threads)
    items = scan(data_dir, labels)
    found = sorted({i.style for i in items if i.style})
    names = tuple(s.strip() for s in styles.split(",")) if styles else tuple(found)
    unknown = sorted(set(found) - set(names))
    if unknown:
        raise ReverieError(f"labels {', '.join(unknown)} are not in --styles ({', '.join(names)})", field="styles")
    widths = _csv_ints(channels)
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)
    mel = MelConfig.for_rate(int(sample_rate))
    key = hashlib.sha256(
        # "grid": the features know each clip's grid and key (a cache from before did not)
        json.dumps([[str(i.audio), i.style, str(i.midi)] for i in items] + [mel.to_dict(), names, "grid"]).encode()
    ).hexdigest()[:16]
    cache = output / f"features-{key}.pt"
    if cache.is_file():
        features = Features.load(cache)
    else:
        from tqdm import tqdm

        with tqdm(total=len(items), desc="features", unit="clip") as bar:
            features = featurise(items, mel, names, progress=lambda: bar.update(1))
        features.save(cache)
    click.echo(f"{len(items)} clips, styles: {', '.join(names) or '(none: unconditional)'}", err=True)
    prediction_type = {"x0": "sample", "v": "v_prediction"}[prediction]
    config = TrainConfig(
        steps=steps,
        batch_size=batch_size,
        crop_frames=crop_frames,
        lr=lr,
        labelled_share=labelled_share,
        seed=seed,
        save_every=save_every,
        minutes=minutes,
        device=device,
        bf16=bf16,
        prediction_type=prediction_type,
    )
    unet_kwargs = dict(
        channels=widths,
        layers_per_level=layers,
        middle_layers=middle_layers,
        patch=patch,
        attention_levels=(False,) + (True,) * (len(widths) - 2),
    )
    start = start_mel = None
    if init_from and not (resume and (output / "training_state.pt").is_file()):
        from reverie.models.pipeline import load_pipeline

        source = load_pipeline(None if init_from == "default" else init_from)
        start, start_mel = source.unet, source.config.mel
        if source.config.scheduler.get("prediction_type") != prediction_type:
            # From v to x0 or back: at high noise v is about -x0, so a negated output layer starts close.
            start.embed_out.weight.data.neg_()
            start.embed_out.bias.data.neg_()
    mean, std = bin_statistics(features)
    if start_mel is not None and _same_layout(start_mel, mel):
        # Its weights learned this scaling; new data rescaled would move every input it knows.
        mean, std = start_mel.mean, start_mel.std
        click.echo("keeping the scaling of the model it starts from (the same mel bins)", err=True)
    mel = MelConfig(**{**mel.to_dict(), "mean": mean, "std": std})
    run_training(
        features,
        output,
        mel,
        unet_kwargs,
        config,
        resume=resume,
        log=lambda m: click.echo(m, err=True),
        init_from=start,
        init_mel=start_mel,
        grid=grid,
    )
    click.echo(f"model written to {output}", err=True)


def _same_layout(a, b) -> bool:
    """Whether two mel configs have the same bins, whatever their scaling."""
    scaling = ("mean", "std")
    return {k: v for k, v in a.to_dict().items() if k not in scaling} == {
        k: v for k, v in b.to_dict().items() if k not in scaling
    }
