"""Calibrate a model's mel inversion: the gain per mel band that gives each band its power back.

    python -m reverie.models.calibration MODEL_DIR AUDIO_DIR [--clips 120]

A mel band sums its bins' magnitudes; the least-squares inverse spreads that sum evenly over the bins,
and an even spread has less power than the peaked spectrum it came from (a harmonic, a transient). The
loss grows with the band's width: on held-out real music, mel and Griffin-Lim returned 1.2 dB too
little at 4-8 kHz, 1.6 dB at 8-11.5 kHz and 2.3 dB above 11.5 kHz, so every new part of a session came
back darker than the audio around it. The gain is measured on the whole path (inversion and
Griffin-Lim) over training clips: per band, the mean over clips of the dB between the original's power
and the decoded audio's, each weighted by the band's filter.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from .mel import MelConfig, MelFrontend

MAX_GAIN_DB = 12.0  # a band quieter than this after inversion is a measurement's noise, not a loss
QUIET = 1e-6  # a band under -60 dB of the clip's loudest says nothing about the inversion
SMOOTH_BANDS = 5  # the loss follows band width, which changes slowly; neighbours' jitter (0.1-0.4 dB) is noise


def band_power(frontend: MelFrontend, audio: torch.Tensor) -> torch.Tensor:
    """Each mel band's filter-weighted STFT power over a clip (n_mels,)."""
    return frontend.filters.T @ frontend.stft(audio).abs().square().sum(dim=-1)


def measure_gain(frontend: MelFrontend, clips: list[torch.Tensor], seed: int = 0) -> list[float]:
    """The amplitude gain per mel band that makes the decoded clips' band powers their originals'."""
    uncalibrated = MelFrontend(MelConfig(**{**frontend.config.to_dict(), "magnitude_gain": 1.0}))
    ratios, counts = torch.zeros(frontend.config.n_mels, dtype=torch.float64), torch.zeros(frontend.config.n_mels)
    for k, audio in enumerate(clips):
        decoded = uncalibrated.decode(uncalibrated.encode(audio), len(audio), torch.Generator().manual_seed(seed + k))
        before, after = band_power(frontend, audio), band_power(frontend, decoded)
        heard = (before > QUIET * before.max()) & (after > 0)
        ratios[heard] += 10 * torch.log10(before[heard] / after[heard]).double()
        counts[heard] += 1
    gain_db = (ratios / counts.clamp(min=1)).clamp(-MAX_GAIN_DB, MAX_GAIN_DB).float()
    padded = torch.nn.functional.pad(gain_db[None, None], (SMOOTH_BANDS // 2,) * 2, mode="replicate")
    gain_db = torch.nn.functional.avg_pool1d(padded, SMOOTH_BANDS, 1)[0, 0]
    return (10 ** (gain_db / 20)).tolist()


def main(argv: list[str] | None = None) -> None:
    from .audio import load_audio, to_model_rate
    from .errors import ReverieError
    from .training.data import scan

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("model", type=Path, help="the model folder (its reverie.json is updated)")
    parser.add_argument("audio", type=Path, help="a folder of training audio (wav, flac, ogg), searched recursively")
    parser.add_argument("--clips", type=int, default=120, help="how many clips, spread over the folder (default 120)")
    args = parser.parse_args(argv)
    config_file = args.model / "reverie.json"
    config = json.loads(config_file.read_text())
    frontend = MelFrontend(MelConfig(**config["mel"]))
    try:
        files = [item.audio for item in scan(args.audio)]
    except ReverieError as exc:
        raise SystemExit(f"calibration: {exc.message}") from None
    picks = files[:: max(1, len(files) // args.clips)][: args.clips]
    rate = frontend.config.sample_rate
    clips = [torch.from_numpy(to_model_rate(load_audio(f), rate)) for f in picks]
    gain = measure_gain(frontend, clips)
    config["mel"]["magnitude_gain"] = [round(g, 5) for g in gain]
    config_file.write_text(json.dumps(config, indent=2) + "\n")
    db = 20 * np.log10(gain)
    print(f"{len(clips)} clips: gain {db.min():+.1f} to {db.max():+.1f} dB, written to {config_file}")


if __name__ == "__main__":
    main()
