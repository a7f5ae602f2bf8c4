"""Would new audio gain from a stereo image that moves in time? Measured on held-out real recordings.

    .venv/bin/python bench/stereo_image.py measure [--clips 14] [--predictor FILE] [--json OUT]
    .venv/bin/python bench/stereo_image.py data OUT.npz [--per-track 8]
    .venv/bin/python bench/stereo_image.py train DATA.npz OUT.pt [--steps 4000]

New audio made from a mid (generate; inpaint and continue at --variation 1) is finished with a static
image (detail.py): pan and spread per band, one set for the whole piece. `measure` takes each clip's own
mid and finishes it with
- the model's prior (what generate uses) and the clip's own static image (what a fill gets from the
  session around it);
- the clip's own image per band and frame, averaged over 0.25, 1 and 4 s: what a model that made its own
  image could at best reach (an oracle);
- with --predictor, an image predicted from the mid's mel frame by frame (a small dilated-convolution
  network, trained by `data` and `train` on the real training tracks: the best a head over a mid model
  can do without hearing the stereo).
Each is scored against the recording: ViSQOL (audio mode, each channel, mean); the side-to-mid ratio per
image band over 0.5 s blocks, RMS of its dB error weighted by each band's power (how width moves); the
same for the level difference between the channels.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.fidelity import Visqol  # noqa: E402
from bench.quality import entry_point, log, write_json  # noqa: E402
from reverie.models.corpus import real  # noqa: E402
from reverie.models.detail import (  # noqa: E402
    IMAGE_EDGES,
    QUIET,
    band_index,
    decorrelator,
    measure,
    pan_and_spread,
)
from reverie.models.spectrum import Spectrum  # noqa: E402

SECONDS = 12.0
SMOOTH_SECONDS = (0.25, 1.0, 4.0)
BLOCK_FRAMES = 21  # 0.5 s of 1024-sample hops at 44.1 kHz
BANDS = len(IMAGE_EDGES)


def per_band(values: np.ndarray, spectrum: Spectrum) -> np.ndarray:
    """(bins, T) -> (image bands, T): each band's sum."""
    out = np.zeros((BANDS, values.shape[-1]))
    np.add.at(out, band_index(spectrum.freqs, IMAGE_EDGES), values)
    return out


def moments(spec: np.ndarray, spectrum: Spectrum):
    """Per image band and STFT frame of a stereo spectrum (spectrum.analyse): mid power, the first channel's
    side-mid correlation (the second's is its negative: a pair's sides are opposite), side power."""
    mid = spec.mean(axis=0)
    side = spec[0] - mid
    power = per_band(np.abs(mid) ** 2, spectrum)
    return power, per_band((side * mid.conj()).real, spectrum), per_band(np.abs(side) ** 2, spectrum)


def image_over_time(power, cross, side, frames: int):
    """Pan (2, ..., bands, T) and spread (..., bands, T) of moments averaged over `frames`, as detail.Moments."""
    from scipy.ndimage import uniform_filter1d

    if frames > 1:
        power, cross, side = (uniform_filter1d(x, frames, axis=-1, mode="nearest") for x in (power, cross, side))
    mid = np.maximum(power, QUIET * power.sum(axis=-2, keepdims=True).mean(axis=-1, keepdims=True))
    pan, spread = pan_and_spread(mid, cross, side)
    return np.stack([pan, -pan]), spread


def finish_moving(mid: np.ndarray, rate: int, pan: np.ndarray, spread: np.ndarray) -> np.ndarray:
    """A mono mid -> (2, frames) with a pan and spread per band and frame (detail.py's decorrelator)."""
    spectrum = Spectrum.at(rate)
    rotate = decorrelator(2, spectrum)
    band = band_index(spectrum.freqs, IMAGE_EDGES)

    def apply(spec: np.ndarray, first: int) -> np.ndarray:
        at = np.minimum(np.arange(first, first + spec.shape[-1]), pan.shape[-1] - 1)
        m = spec[0]
        return m[None] + m[None] * (pan[:, band][..., at] + spread[band][..., at] * rotate)

    return spectrum.process(mid[None, :], apply)


def image_errors(out: np.ndarray, reference: np.ndarray, rate: int) -> dict:
    """dB RMS errors over 0.5 s blocks and image bands, weighted by the reference's mid power."""
    spectrum = Spectrum.at(rate)

    def blocks(x: np.ndarray) -> np.ndarray:
        from scipy.ndimage import uniform_filter1d

        return uniform_filter1d(x, BLOCK_FRAMES, axis=-1)[..., BLOCK_FRAMES // 2 :: BLOCK_FRAMES]

    def db(a, b):
        return 10 * np.log10(np.maximum(a, 1e-12) / np.maximum(b, 1e-12))

    spec_out, spec_ref = spectrum.analyse(out), spectrum.analyse(reference)
    (p_out, _, s_out), (p_ref, _, s_ref) = moments(spec_out, spectrum), moments(spec_ref, spectrum)
    p_ref = blocks(p_ref)
    weight = p_ref / p_ref.sum()
    width = db(blocks(s_out), blocks(p_out)) - db(blocks(s_ref), p_ref)
    lo, lr = ([blocks(per_band(np.abs(ch) ** 2, spectrum)) for ch in spec] for spec in (spec_out, spec_ref))
    balance = db(lo[0], lo[1]) - db(lr[0], lr[1])
    rms = lambda e: float(np.sqrt((weight * np.clip(e, -30, 30) ** 2).sum()))  # noqa: E731
    return {"width_db": rms(width), "balance_db": rms(balance)}


def mid_mel(pipe, samples: np.ndarray, rate: int):
    import torch

    from reverie.models.audio import Audio, to_model_rate

    with torch.inference_mode():
        return pipe.frontend.encode(torch.from_numpy(to_model_rate(Audio(samples, rate), pipe.sample_rate)))


def held_out_clips(count: int):
    import soundfile as sf

    tracks = real.tracks("held_out")
    for track in tracks[:: max(1, len(tracks) // count)][:count]:
        duration = sf.info(str(track.path)).duration
        if duration >= SECONDS + 2:
            samples, rate = real.read(track.path, duration / 2 - SECONDS / 2, SECONDS)
            if samples.shape[0] == 2:
                yield track.path.name, samples, rate


def run_measure(args) -> dict:
    from reverie.models.pipeline import load_pipeline

    visqol, pipe = Visqol(), load_pipeline(args.model)
    predictor = None if args.predictor is None else Imager.load(args.predictor)
    rows = []
    for name, samples, rate in held_out_clips(args.clips):
        mid, spectrum = samples.mean(axis=0), Spectrum.at(rate)
        outs = {
            "mono": np.stack([mid, mid]),
            "prior, static": pipe.prior.for_channels(2).finish(mid, rate, pipe.sample_rate),
            "the clip's own, static": measure(samples, rate).detail().finish(mid, rate, pipe.sample_rate),
        }
        found = moments(spectrum.analyse(samples), spectrum)
        for seconds in SMOOTH_SECONDS:
            frames = max(1, round(seconds * rate / spectrum.hop))
            outs[f"the clip's own over {seconds:g} s"] = finish_moving(mid, rate, *image_over_time(*found, frames))
        if predictor is not None:
            outs["predicted from the mid"] = finish_moving(mid, rate, *predictor.image(mid_mel(pipe, samples, rate)))
        row = {"clip": name}
        for label, out in outs.items():
            out = out[:, : samples.shape[1]]
            row[label] = {"visqol": visqol(samples, out, rate), **image_errors(out, samples, rate)}
        rows.append(row)
        log(f"stereo_image {name}: " + ", ".join(f"{k} {v['width_db']:.2f}" for k, v in row.items() if k != "clip"))
    print(f"{'image':<30} {'ViSQOL mean':>12} {'worst':>7} {'width err, median':>18} {'worst':>7} {'balance err':>12}")
    for label in [k for k in rows[0] if k != "clip"]:
        v, w, b = (np.array([r[label][m] for r in rows]) for m in ("visqol", "width_db", "balance_db"))
        width = f"{np.median(w):>15.2f} dB {w.max():>7.2f}"
        print(f"{label:<30} {v.mean():>12.3f} {v.min():>7.3f} {width} {np.median(b):>9.2f} dB")
    return write_json(args.json, {"model_hash": pipe.model_hash, "clips": rows})


def run_data(args) -> dict:
    """Mid mels and image moments of 12 s stretches at random places in every real training track."""
    import soundfile as sf

    from reverie.models.pipeline import load_pipeline

    pipe, rng = load_pipeline(args.model), np.random.default_rng(args.seed)
    mels, found = [], []
    for track in real.tracks("train"):
        duration = sf.info(str(track.path)).duration
        if duration < SECONDS + 2:
            continue
        for start in rng.uniform(0, duration - SECONDS, args.per_track):
            samples, rate = real.read(track.path, float(start), SECONDS)
            if samples.shape[0] != 2 or rate != pipe.sample_rate:
                continue
            spectrum = Spectrum.at(rate)
            mel, m = mid_mel(pipe, samples, rate).numpy(), moments(spectrum.analyse(samples), spectrum)
            n = min(mel.shape[-1], m[0].shape[-1])
            mels.append(mel[:, :n].astype(np.float16))
            found.append([x[:, :n] for x in m])
    power, cross, side = (np.stack([f[i] for f in found]).astype(np.float32) for i in range(3))
    np.savez(args.out, mel=np.stack(mels), power=power, cross=cross, side=side)
    log(f"stereo_image: {len(mels)} stretches written to {args.out}")
    return {"stretches": len(mels)}


class Imager:
    """A mid mel (n_mels, T) -> pan and spread per image band and frame: dilated convolutions."""

    def __init__(self, n_mels: int = 304, width: int = 96, dilations=(1, 2, 4, 8, 16)):
        import torch

        nn = torch.nn
        self.torch = torch
        self.net = nn.ModuleDict(
            {
                "inp": nn.Conv1d(n_mels, width, 5, padding=2),
                "blocks": nn.ModuleList(nn.Conv1d(width, width, 3, padding=d, dilation=d) for d in dilations),
                "norms": nn.ModuleList(nn.GroupNorm(1, width) for _ in dilations),
                "out": nn.Conv1d(width, 2 * BANDS, 1),
            }
        )

    def __call__(self, mel):
        gelu = self.torch.nn.functional.gelu
        h = self.net["inp"](mel)
        for conv, norm in zip(self.net["blocks"], self.net["norms"]):
            h = h + conv(gelu(norm(h)))
        out = self.net["out"](gelu(h))
        return self.torch.cat([out[:, :BANDS], self.torch.nn.functional.softplus(out[:, BANDS:])], 1)

    def image(self, mel):
        with self.torch.inference_mode():
            out = self(mel[None])[0].numpy().astype(np.float64)
        pan = out[:BANDS]
        return np.stack([pan, -pan]), out[BANDS:]

    @classmethod
    def load(cls, path: Path) -> "Imager":
        import torch

        imager = cls()
        imager.net.load_state_dict(torch.load(path))
        imager.net.eval()
        return imager


def run_train(args) -> dict:
    """L1 on pan and spread (0.25 s averages), each band weighted by its share of the frame's mid power. The
    tenth of the stretches kept out may share tracks with the rest; `measure` is on held-out tracks."""
    import torch

    torch.manual_seed(args.seed)
    data = np.load(args.data)
    frames = round(0.25 * 44100 / 1024)
    power = data["power"].astype(np.float64)  # (stretches, bands, T)
    pan, spread = image_over_time(power, data["cross"].astype(np.float64), data["side"].astype(np.float64), frames)
    weight = torch.from_numpy((power / power.sum(axis=1, keepdims=True).clip(1e-20)).astype(np.float32))
    target = torch.from_numpy(np.concatenate([pan[0], spread], 1).astype(np.float32))
    mel = torch.from_numpy(data["mel"].astype(np.float32))
    order = np.random.default_rng(args.seed).permutation(len(mel))
    held, train = order[: len(mel) // 10], order[len(mel) // 10 :]
    imager = Imager(mel.shape[1])
    opt = torch.optim.AdamW(imager.net.parameters(), 2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(opt, 2e-3, total_steps=args.steps)

    def loss(out, y, w):
        err = (out - y).abs()
        return ((err[:, :BANDS] + err[:, BANDS:]) * w).sum(1).mean()

    for step in range(args.steps):
        idx, start = np.random.choice(train, 16), np.random.randint(0, mel.shape[-1] - 256)
        window = slice(start, start + 256)
        value = loss(imager(mel[idx][..., window]), target[idx][..., window], weight[idx][..., window])
        opt.zero_grad()
        value.backward()
        opt.step()
        schedule.step()
        if step % 500 == 0 or step == args.steps - 1:
            with torch.no_grad():
                own = target[held].mean(-1, keepdim=True).expand_as(target[held])
                kept_out = loss(imager(mel[held]), target[held], weight[held])
                log(
                    f"step {step}: a tenth of the stretches kept out {kept_out:.4f}, "
                    f"each stretch's own static image {loss(own, target[held], weight[held]):.4f}"
                )
    torch.save(imager.net.state_dict(), args.out)
    return {"steps": args.steps}


def main(argv: list[str] | None = None) -> dict:
    import torch

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help="model folder; default: the embedded model")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    sub = parser.add_subparsers(dest="command", required=True)
    m = sub.add_parser("measure", help="score every image on held-out clips")
    m.add_argument("--clips", type=int, default=14)
    m.add_argument("--predictor", type=Path, default=None, help="a predictor written by `train`")
    m.add_argument("--json", type=Path, default=None)
    d = sub.add_parser("data", help="features of the real training tracks for `train`")
    d.add_argument("out", type=Path)
    d.add_argument("--per-track", type=int, default=8)
    t = sub.add_parser("train", help="train the image predictor")
    t.add_argument("data", type=Path)
    t.add_argument("out", type=Path)
    t.add_argument("--steps", type=int, default=4000)
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    return {"measure": run_measure, "data": run_data, "train": run_train}[args.command](args)


if __name__ == "__main__":
    entry_point(main)
