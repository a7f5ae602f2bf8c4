"""Measure each style's balance in a model's training data into its reverie.json (style_bands_db).

    python -m reverie.models.training.balance MODEL_DIR DATA_DIR

`reverie train` measures it while training; this adds it to a model trained before it did, from the same
DATA_DIR (one subfolder per style, unlabelled clips directly in it). A generation with nothing around it
then starts with its style's air (drift.STYLE_AIR_DB).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from ..audio import load_audio, to_model_rate
from ..errors import ReverieError
from ..mel import MelConfig, MelFrontend
from .data import median_bands, scan


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="the model folder (its reverie.json is updated)")
    parser.add_argument("data", type=Path, help="the training folder it was trained on")
    args = parser.parse_args(argv)
    config_file = args.model / "reverie.json"
    config = json.loads(config_file.read_text())
    frontend = MelFrontend(MelConfig(**config["mel"]))
    try:
        items = scan(args.data)
    except ReverieError as exc:
        raise SystemExit(f"balance: {exc.message}") from None
    rate = frontend.config.sample_rate
    clips = ((i.style, frontend.encode(torch.from_numpy(to_model_rate(load_audio(i.audio), rate)))) for i in items)
    config["style_bands_db"] = median_bands(frontend, clips)
    config_file.write_text(json.dumps(config, indent=2) + "\n")
    air = {name: round(bands[-1], 1) for name, bands in config["style_bands_db"].items()}
    print(f"{len(items)} clips: share of the top band (dB) {air}, written to {config_file}")


if __name__ == "__main__":
    main()
