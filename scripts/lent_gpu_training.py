"""Stage 6 of the default model: `reverie train`'s loop on a lent GPU machine, which can receive 64 MiB a call.

    pack DATA_DIR PACK_DIR      here: the features `reverie train` computes for DATA_DIR (44.1 kHz, the
                                five styles), log-mels normalised per bin by the training statistics,
                                quantised to 1/8 of a standard deviation (0.036 RMS), differenced in time
                                and lzma'd: 704 clips of data/corpus6/train are 49 MB
    train PACK_DIR OUT MINUTES BATCH LR
                                there: unpacked, then models.training.loop.train on cuda, warm-started from
                                the embedded model, with the CLI's architecture and defaults

PACK_DIR/mels.xz may be split into mels.xz.* pieces (carried in separate calls); train joins them.
"""

from __future__ import annotations

import lzma
import sys
from pathlib import Path

import numpy as np
import torch

from reverie.models.corpus.styles import STYLES

STEP = 1 / 8


def pack(data_dir: Path, out: Path) -> None:
    from reverie.models.mel import MelConfig
    from reverie.models.training.data import bin_statistics, featurise, scan

    features = featurise(scan(data_dir), MelConfig.for_rate(44100), STYLES)
    mean, std = bin_statistics(features)
    m, s = torch.tensor(mean)[:, None], torch.tensor(std)[:, None]
    lengths = [x.shape[-1] for x in features.log_mels]
    q = torch.cat([torch.round((x.float() - m) / s / STEP).clamp(-127, 127) for x in features.log_mels], 1)
    q = q.to(torch.int16).numpy()
    starts = np.cumsum([0] + lengths[:-1])
    d = np.diff(q, axis=1, prepend=0)
    d[:, starts] = q[:, starts]  # each clip starts from its own values
    out.mkdir(parents=True, exist_ok=True)
    (out / "mels.xz").write_bytes(lzma.compress(d.astype(np.int8).T.tobytes(), preset=6))
    chroma = torch.cat(features.chromas, 1).numpy().astype(bool)
    meta = dict(lengths=lengths, n_mels=len(mean), mean=mean, std=std, styles=features.styles,
                chroma=np.packbits(chroma, axis=1), chroma_frames=chroma.shape[1])  # fmt: skip
    torch.save(meta, out / "meta.pt")


def unpack(pack_dir: Path):
    from reverie.models.training.data import Features

    meta = torch.load(pack_dir / "meta.pt", weights_only=False)
    pieces = sorted(pack_dir.glob("mels.xz.*")) or [pack_dir / "mels.xz"]
    raw = lzma.decompress(b"".join(p.read_bytes() for p in pieces))
    lengths = meta["lengths"]
    d = np.frombuffer(raw, dtype=np.int8).reshape(-1, meta["n_mels"]).T.astype(np.int16)
    m, s = torch.tensor(meta["mean"])[:, None], torch.tensor(meta["std"])[:, None]
    clips = np.split(d, np.cumsum(lengths)[:-1], axis=1)
    log_mels = [(torch.from_numpy(np.cumsum(c, axis=1).astype(np.float32)) * STEP * s + m).half() for c in clips]
    chroma = torch.from_numpy(np.unpackbits(meta["chroma"], axis=1)[:, : meta["chroma_frames"]])
    return Features(log_mels, list(torch.split(chroma, lengths, dim=1)), meta["styles"], STYLES), meta


def train(pack_dir: Path, out: Path, minutes: float, batch: int, lr: float) -> None:
    from reverie.models.mel import MelConfig
    from reverie.models.pipeline import load_pipeline
    from reverie.models.training.loop import TrainConfig
    from reverie.models.training.loop import train as run

    torch.backends.cuda.matmul.allow_tf32 = True
    features, meta = unpack(pack_dir)
    mel = MelConfig(**{**MelConfig.for_rate(44100).to_dict(), "mean": meta["mean"], "std": meta["std"]})
    source = load_pipeline(None)
    config = TrainConfig(steps=10**6, batch_size=batch, lr=lr, save_every=2000, minutes=minutes, device="cuda")
    # No architecture of its own: a warm start takes the embedded model's (loop.train).
    run(features, out, mel, {}, config, init_from=source.unet, init_mel=source.config.mel)


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    if command == "pack":
        pack(Path(args[0]), Path(args[1]))
    elif command == "train":
        train(Path(args[0]), Path(args[1]), float(args[2]), int(args[3]), float(args[4]))
    else:
        sys.exit(f"usage: {sys.argv[0]} pack DATA_DIR PACK_DIR | train PACK_DIR OUT MINUTES BATCH LR")
