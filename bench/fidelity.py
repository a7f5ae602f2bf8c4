"""Fidelity report: does Reverie's audio fit a real stereo 44.1 kHz session? Measured on held-out recordings.

    .venv/bin/python bench/fidelity.py [--model DIR|tiny] [--clips N] [--seconds S] [--long-minutes M]
                                       [--styles a,b] [--json OUT] [--threads N]

The material is real produced music from Debian packages (models/corpus/real.py; install it with
scripts/install-music): every fourth track, held out from the detail prior and from training. Each
clip is --seconds long, cut from the middle of a track, at the track's own rate and channels.

- Light touch: `transform` at strength 0.05, ViSQOL v3 MOS-LQO (visqol-python, audio mode, both
  channels at 48 kHz, averaged) against the input. Bar >= 4.0, goal >= 4.5.
- Session fit: the new audio's side/mid ratio and its share of power above 11.5 kHz (detail.py's
  side_to_mid_db, hf_share_db) against the audio around it: transform 0.3 (all of it against the
  input), inpaint of the middle 2 s (the region inside its seams against the rest of the clip),
  continue by 6 s (the new part against the input's last 6 s). Bar: within 4 dB, goal 2 dB.
- Generate: side/mid and HF share of 20 s per style at 44.1 kHz stereo. Bar >= -25 dB and >= -55 dB;
  the held-out recordings' own values are printed beside them.
- Vocoder round trip: each channel of a clip through the model's mel and Griffin-Lim (from random
  phases), as a strong transform of a stereo recording is made (touch.channel_resynthesis), ViSQOL
  against the clip. Bar >= 4.5. References: new audio's path, the clip's mid through the mel and
  Griffin-Lim finished with the clip's own image and air (inpaint, continue and generate have no
  channels of their own to keep), and that mid alone in both channels.
- Long form (--long-minutes M, default 0: left out): generate M minutes per style and take each
  band's (40-90, 90-250, 250-1000, 1000-3000 Hz) share of power per minute; the deviation is the
  largest distance of a minute's share from that band's median over the piece. Bar <= 8 dB, goal 6.

Deterministic for a seed (bar the timings). Six clips take about 4 minutes on 2 busy cores.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench.listening import hf_share_db, side_to_mid_db  # noqa: E402
from bench.models import HELP as MODEL_HELP  # noqa: E402
from bench.models import model_spec  # noqa: E402
from bench.quality import Report, entry_point, log, write_json  # noqa: E402
from reverie.models.audio import Audio, fit_length, resample  # noqa: E402
from reverie.models.corpus import real  # noqa: E402
from reverie.models.detail import measure  # noqa: E402
from reverie.models.errors import ReverieError  # noqa: E402

TARGETS = {"light_touch": 4.0, "fit_db": 4.0, "generate_side_db": -25.0, "generate_hf_db": -55.0, "vocoder": 4.5}
LONG_BANDS = ((40, 90), (90, 250), (250, 1000), (1000, 3000))
VISQOL_RATE = 48000


class Visqol:
    def __init__(self):
        from visqol.api import VisqolApi

        self.api = VisqolApi()
        self.api.create(mode="audio")

    def __call__(self, reference: np.ndarray, degraded: np.ndarray, sample_rate: int) -> float:
        """MOS-LQO of (channels, frames) audio, each channel at 48 kHz, averaged over channels."""
        ref = resample(reference, sample_rate, VISQOL_RATE).astype(np.float64)
        deg = resample(degraded, sample_rate, VISQOL_RATE).astype(np.float64)
        return float(np.mean([self.api.measure_from_arrays(r, d, VISQOL_RATE).moslqo for r, d in zip(ref, deg)]))


def clips(count: int, seconds: float) -> list[tuple[str, Audio]]:
    """`count` held-out clips, one per track in turn, from each track's middle."""
    tracks = real.tracks("held_out")
    if not tracks:
        raise ReverieError("no held-out recordings are installed; run scripts/install-music", field="clips")
    out = []
    for track in tracks[:count]:
        import soundfile as sf

        middle = sf.info(str(track.path)).duration / 2
        samples, rate = real.read(track.path, max(0.0, middle - seconds / 2), seconds)
        out.append((track.path.stem, Audio(samples, rate)))
    return out


def fit(new: np.ndarray, pieces: list[np.ndarray], rate: int) -> dict:
    """`new` against the session around it, in `pieces` (before and after a region)."""
    return {
        "side_db": side_to_mid_db(new, rate) - side_to_mid_db(np.concatenate(pieces, axis=1), rate),
        "hf_db": hf_share_db(new, rate) - hf_share_db(pieces, rate),
    }


def band_deviation(samples: np.ndarray, rate: int) -> dict:
    """Per band: the largest distance (dB) of a minute's share of power from the band's median minute."""
    mono = samples.mean(axis=0)
    minute = 60 * rate
    shares = []
    for start in range(0, len(mono) - minute + 1, minute):
        power = np.abs(np.fft.rfft(mono[start : start + minute])) ** 2
        freqs = np.fft.rfftfreq(minute, 1 / rate)
        total = power.sum()
        shares.append([10 * np.log10(power[(freqs >= lo) & (freqs < hi)].sum() / total) for lo, hi in LONG_BANDS])
    shares = np.array(shares)
    deviation = np.abs(shares - np.median(shares, axis=0)).max(axis=0)
    return {f"{lo}-{hi}": float(d) for (lo, hi), d in zip(LONG_BANDS, deviation)}


def channel_trip(pipe, audio: Audio, seed: int) -> np.ndarray:
    """Each channel of `audio` through the model's mel and Griffin-Lim on its own (touch.channel_resynthesis,
    what a strong transform of a stereo recording is made of), from random phases: what the mel keeps of
    a stereo recording when the image is not rebuilt from a mid."""
    import torch

    from reverie.models.touch import channel_resynthesis

    with torch.inference_mode():
        out = channel_resynthesis(pipe.frontend, audio, None, torch.Generator().manual_seed(seed), keep_phase=False)
    return fit_length(resample(out, pipe.sample_rate, audio.sample_rate), audio.frames)


def run(pipe, report: Report, args) -> dict:
    visqol = Visqol()
    detail: dict = {}
    material = clips(args.clips, args.seconds)
    styles = pipe.styles

    # --- light touch and session fit ---
    rows = []
    for i, (name, audio) in enumerate(material):
        t0 = time.perf_counter()
        style, rate = styles[i % len(styles)], audio.sample_rate
        light = pipe.transform(audio, strength=0.05, style=style, seed=args.seed + i)
        moved = pipe.transform(audio, strength=0.3, style=style, seed=args.seed + i)
        middle = audio.seconds / 2
        filled = pipe.inpaint(audio, middle - 1.0, middle + 1.0, style=style, seed=args.seed + i)
        seam = round(0.05 * rate)
        a, b = round((middle - 1.0) * rate), round((middle + 1.0) * rate)
        outside = [audio.samples[:, :a], audio.samples[:, b:]]
        longer = pipe.continue_(audio, 6.0, style=style, seed=args.seed + i)
        tail = audio.samples[:, -6 * rate :]
        rows.append(
            {
                "clip": name,
                "style": style,
                "light_visqol": visqol(audio.samples, light.samples, rate),
                "transform_0.3": fit(moved.samples, [audio.samples], rate),
                "inpaint": fit(filled.samples[:, a + seam : b - seam], outside, rate),
                "continue": fit(longer.samples[:, audio.frames :], [tail], rate),
                "input_side_db": side_to_mid_db(audio.samples, rate),
                "input_hf_db": hf_share_db(audio.samples, rate),
            }
        )
        took = time.perf_counter() - t0
        log(f"fidelity {i + 1}/{len(material)} {name}: light {rows[-1]['light_visqol']:.2f} ({took:.0f} s)")
    detail["clips"] = rows
    report.section(f"Light touch (transform 0.05; ViSQOL audio mode vs the input; {len(rows)} held-out clips)")
    light = [r["light_visqol"] for r in rows]
    report.metric("light_touch", "ViSQOL MOS-LQO, worst clip", min(light), TARGETS["light_touch"])
    report.ref("light_touch_mean", "mean over clips", float(np.mean(light)))
    report.section("Session fit (new audio vs the audio around it; |difference|, worst clip)")
    for op in ("transform_0.3", "inpaint", "continue"):
        for key, what in (("side_db", "side/mid"), ("hf_db", "share above 11.5 kHz")):
            worst = max(abs(r[op][key]) for r in rows)
            report.metric(
                f"fit_{op}_{key}", f"{op}: {what}", worst, TARGETS["fit_db"], higher=False, fmt="{:.1f}", unit=" dB"
            )
    report.ref(
        "input_side",
        "the clips' own side/mid (mean)",
        float(np.mean([r["input_side_db"] for r in rows])),
        "{:.1f}",
        " dB",
    )
    report.ref(
        "input_hf",
        "the clips' own share above 11.5 kHz (mean)",
        float(np.mean([r["input_hf_db"] for r in rows])),
        "{:.1f}",
        " dB",
    )

    # --- vocoder round trip ---
    import torch

    from reverie.models.audio import to_model_rate

    trips = []
    for name, audio in material:
        rate = audio.sample_rate
        mid = to_model_rate(audio, pipe.sample_rate)
        with torch.inference_mode():
            mel = pipe.frontend.encode(torch.from_numpy(mid))
            decoded = pipe.frontend.decode(mel, len(mid), torch.Generator().manual_seed(args.seed)).numpy()
        back = fit_length(resample(decoded[None, :], pipe.sample_rate, rate)[0], audio.frames)
        finished = (
            measure(audio.samples, rate).detail().for_channels(audio.channels).finish(back, rate, pipe.sample_rate)
        )
        plain = np.repeat(back[None, :], audio.channels, 0)
        trips.append(
            {
                "clip": name,
                "finished": visqol(audio.samples, finished, rate),
                "mono": visqol(audio.samples, plain, rate),
                "channels": visqol(audio.samples, channel_trip(pipe, audio, args.seed), rate),
            }
        )
    detail["vocoder"] = trips
    report.section(
        f"Vocoder round trip at the clips' rate, stereo ({pipe.config.mel.griffin_lim_iters} Griffin-Lim iterations)"
    )
    report.metric(
        "vocoder",
        "each channel through the mel and Griffin-Lim, ViSQOL (mean)",
        float(np.mean([t["channels"] for t in trips])),
        TARGETS["vocoder"],
    )
    report.ref(
        "vocoder_finished",
        "new audio's path: the mid, finished with the clip's image and air",
        float(np.mean([t["finished"] for t in trips])),
    )
    report.ref("vocoder_mono", "the mid alone, in both channels", float(np.mean([t["mono"] for t in trips])))

    # --- generate ---
    gens = {}
    for style in args.styles or styles:
        out = pipe.generate(20.0, sample_rate=44100, channels=2, style=style, seed=args.seed)
        gens[style] = {"side_db": side_to_mid_db(out.samples, 44100), "hf_db": hf_share_db(out.samples, 44100)}
    detail["generate"] = gens
    report.section("Generate (20 s per style, 44.1 kHz stereo)")
    for style, g in gens.items():
        for key, what, target in (
            ("side", "side/mid", "generate_side_db"),
            ("hf", "share above 11.5 kHz", "generate_hf_db"),
        ):
            value = g[f"{key}_db"]
            report.metric(
                f"generate_{key}_{style}", f"{style}: {what}", value, TARGETS[target], fmt="{:.1f}", unit=" dB"
            )

    # --- long form ---
    if args.long_minutes:
        longs = {}
        for style in args.styles or styles:
            t0 = time.perf_counter()
            chunks = [
                c.samples
                for c in pipe.stream_generate(
                    args.long_minutes * 60, sample_rate=22050, channels=1, style=style, seed=args.seed
                )
            ]
            longs[style] = band_deviation(np.concatenate(chunks, axis=1), 22050)
            log(f"long {style}: {max(longs[style].values()):.1f} dB ({time.perf_counter() - t0:.0f} s)")
        detail["long"] = longs
        report.section(
            f"Long form ({args.long_minutes:g} min per style; per-minute band share, worst distance from the median)"
        )
        for style, dev in longs.items():
            report.metric(
                f"long_{style}",
                f"{style} (worst band of {', '.join(dev)} Hz)",
                max(dev.values()),
                8.0,
                higher=False,
                fmt="{:.1f}",
                unit=" dB",
            )
    return detail


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help=MODEL_HELP)
    parser.add_argument("--clips", type=int, default=6, help="held-out clips (one per track)")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each clip")
    parser.add_argument("--long-minutes", type=float, default=0.0, help="long-form generate per style (0: skip)")
    parser.add_argument("--styles", default="", help="comma-separated styles for generate and long form (default: all)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--json", type=Path, default=None, help="also write every number here")
    args = parser.parse_args(argv)
    args.model = model_spec(args.model)
    args.styles = [s for s in args.styles.split(",") if s]

    import torch

    from reverie.models.pipeline import load_pipeline

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    pipe = load_pipeline(args.model)
    report = Report()
    detail = run(pipe, report, args)
    report.print(
        f"Reverie fidelity report: model {pipe.model_hash} ({args.model or 'embedded default'}), "
        f"{args.clips} held-out clips of {args.seconds:g} s, seed {args.seed}, "
        f"{(time.perf_counter() - started) / 60:.1f} min"
    )
    result = {"model_hash": pipe.model_hash, "metrics": report.results, "detail": detail}
    return write_json(args.json, result)


if __name__ == "__main__":
    entry_point(main)
