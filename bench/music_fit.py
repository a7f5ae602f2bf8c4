"""Musical fit: does new audio continue the music around it? Measured on held-out real recordings.

    .venv/bin/python bench/music_fit.py [--model DIR|tiny] [--seconds S] [--only KIND,..] [--png DIR]
                                        [--json OUT] [--threads N]

Each clip is S seconds (default 12) from the middle of a held-out track (models/corpus/real.py: every
fourth track of each package, never trained on), of the kinds in CLIPS: rock or metal with drums,
electronic, orchestral, ambient. Every operation's new audio is measured against the session around it,
and so is a real stretch of the same recording in its place: the natural variation, the bar to meet.

- inpaint 1, 2 and 4 s centred at 35%, 50% and 65% of the clip: the region against the rest of the clip;
  natural: the recording's own region.
- continue 6 and 30 s: the new part against the clip's last 6 s; natural: the next 6 or 30 s of the track.
- interpolate (ratio 0.5, the default timestep) between the clip and the S seconds after it: against both
  (a blend's session is its two sources); natural: the S seconds after those, against the same two.

The measures, on the mono mix at the clip's rate (a 10 ms hop; figures are new against around):
- groove: cosine of the onset envelopes' autocorrelations over lags 0.15-2 s (1: the same pulse);
- onset rate: onsets per second, ratio;
- transient crest: the onset envelope's 99th percentile over its mean, ratio (1: hits as sharp);
- loudest 50 ms: dB over the surroundings' loudest 50 ms (models/headroom.py);
- share above 11.5 kHz: dB difference (bench/listening.py's hf_share_db, on frames clear of every cut);
- chroma: cosine of the mean 12-bin chroma (1: the same pitch classes);
- from loop: how far the new audio is from the audio before it simply looped at its own period (mean
  |dB| over 40 bands, every 10 ms): 0 is a plain loop; the natural figure is how far the music itself
  moves from one.
- off beats: how far (ms) the new audio's hits sit from the recording's own in the same place, over the
  last 6 s (where the recording has a pulse there).
A second table: per clip, how far groove, onsets, crest and chroma are from the natural figure, median
over clips: where the recording's own stretch is a break, a fill that matches its surroundings better
than the recording does is not what the recording plays.
Medians over clips (and a fill's three places) per operation, and the worst where the issue's bar is on the
worst. A
spectrogram PNG per clip (input, each operation's result) goes to --png.
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

from bench.listening import hf_share_db  # noqa: E402
from bench.models import HELP as MODEL_HELP  # noqa: E402
from bench.models import model_spec  # noqa: E402
from bench.quality import entry_point, log, write_json  # noqa: E402
from reverie.models.audio import Audio  # noqa: E402
from reverie.models.corpus import real  # noqa: E402
from reverie.models.errors import ReverieError  # noqa: E402
from reverie.models.headroom import loudest_db  # noqa: E402

# (kind, package, the held-out track's file name): two of each kind, none trained on (every fourth track).
CLIPS = (
    ("rock", "hedgewars-data", "Rock.ogg"),
    ("rock", "supertux-data", "battle_theme.ogg"),
    ("electronic", "supertuxkart-data", "SkyVibe-HighFrequency.ogg"),
    ("electronic", "freedroidrpg-data", "hellforce.ogg"),
    ("orchestral", "wesnoth-1.16-music", "casualties_of_war.ogg"),
    ("orchestral", "widelands-data", "ingame_23.ogg"),
    ("ambient", "flare-game", "wind_ambient.ogg"),
    ("ambient", "freedroidrpg-data", "underground.ogg"),
)
HOP_SECONDS = 0.01
# Where in the clip each fill is centred (share of its length). One gap per clip left the 1 s medians to chance:
# over 8 clips the natural figure itself sat at 0.51, split between clips with a pulse and clips without.
INPAINT_PLACES = (0.35, 0.5, 0.65)
GROOVE_LAGS = (0.15, 2.0)
GRID_HOP_SECONDS, GRID_REACH, PULSE = 0.002, 0.25, 0.3
# The measures whose distance from the natural figure, clip by clip, is printed as well: a fill can match its
# surroundings better than the recording's own stretch does, where that stretch is a break.
LIKE_THE_RECORDING = ("groove", "onset_rate", "crest", "chroma")
MEASURES = ("grid_ms", "groove", "onset_rate", "crest", "loudest_db", "hf_db", "chroma", "loop_db")
# (what each figure is, better is, its bar from the issue; None: printed only)
BARS = {
    "grid_ms": ("off the recording's beats (ms, last 6 s, where it has a pulse), worst", "<=", None),
    "groove": ("groove (autocorrelation cosine), median", ">=", 0.5),
    "onset_rate": ("onset rate ratio, median", "in", (0.8, 1.25)),
    "crest": ("transient crest ratio, median", ">=", 0.8),
    "loudest_db": ("loudest 50 ms vs surroundings, worst", "<=", 2.0),
    "hf_db": ("share above 11.5 kHz, worst |dB|", "<=", 4.0),
    "chroma": ("chroma cosine, median", ">=", None),
    "loop_db": ("distance from the session looped, median dB", ">=", None),
}


def _frames(mono: np.ndarray, rate: int, n_fft: int = 2048, hop_seconds: float = HOP_SECONDS):
    """Magnitude STFT (frames, bins) every `hop_seconds` (10 ms), and the bins' frequencies."""
    hop = round(hop_seconds * rate)
    if len(mono) < n_fft:
        mono = np.pad(mono, (0, n_fft - len(mono)))
    count = 1 + (len(mono) - n_fft) // hop
    index = np.arange(n_fft)[None, :] + hop * np.arange(count)[:, None]
    spec = np.abs(np.fft.rfft(mono[index] * np.hanning(n_fft), axis=-1))
    return spec, np.fft.rfftfreq(n_fft, 1 / rate)


def onset_envelope(samples: np.ndarray, rate: int, hop_seconds: float = HOP_SECONDS) -> np.ndarray:
    """Spectral flux of the log-compressed magnitude on 40 log-spaced bands, half-wave rectified."""
    spec, freqs = _frames(samples.mean(axis=0), rate, hop_seconds=hop_seconds)
    edges = np.geomspace(40.0, min(16000.0, rate / 2), 41)
    bands = np.stack([spec[:, (freqs >= lo) & (freqs < hi)].sum(axis=1) for lo, hi in zip(edges[:-1], edges[1:])], 1)
    log_bands = np.log1p(1000.0 * bands)
    return np.maximum(0.0, np.diff(log_bands, axis=0)).sum(axis=1)


def groove_profile(envelope: np.ndarray) -> np.ndarray:
    """The envelope's normalised autocorrelation over the groove lags."""
    e = envelope - envelope.mean()
    lo, hi = (round(s / HOP_SECONDS) for s in GROOVE_LAGS)
    hi = min(hi, len(e) - 1)
    full = np.correlate(e, e, mode="full")[len(e) - 1 :]
    return full[lo : hi + 1] / (full[0] + 1e-12)


def grid_offset_ms(new: np.ndarray, natural: np.ndarray, rate: int) -> float:
    """How far (ms) the hits of `new` sit from those of `natural` (the recording's own audio in its place,
    the same length): the lag, within GRID_REACH, at which their onset envelopes (2 ms hop) best match.
    0: on the recording's beats. A loop whose period is a little off drifts further with every repeat.
    NaN where the recording has no pulse there (its envelope repeats at no lag of 0.25-2 s by PULSE)."""
    a, b = (onset_envelope(x, rate, GRID_HOP_SECONDS) for x in (new, natural))
    n = min(len(a), len(b))
    a, b = a[:n] - a[:n].mean(), b[:n] - b[:n].mean()
    own = [
        cosine(b[:-k], b[k:]) for k in range(round(0.25 / GRID_HOP_SECONDS), min(round(2.0 / GRID_HOP_SECONDS), n // 2))
    ]
    if not own or max(own) < PULSE:
        return float("nan")
    reach = round(GRID_REACH / GRID_HOP_SECONDS)
    lags = np.arange(-reach, reach + 1)
    match = [np.dot(a[max(0, k) : n + min(0, k)], b[max(0, -k) : n - max(0, k)]) for k in lags]
    return float(abs(lags[int(np.argmax(match))]) * GRID_HOP_SECONDS * 1000)


def onset_rate(envelope: np.ndarray) -> float:
    """Onsets per second: local maxima (within 50 ms) above the envelope's running median plus its spread."""
    from scipy.ndimage import maximum_filter1d, median_filter

    baseline = median_filter(envelope, size=round(1.0 / HOP_SECONDS), mode="nearest")
    threshold = baseline + 0.5 * envelope.std()
    peaks = (envelope == maximum_filter1d(envelope, size=round(0.1 / HOP_SECONDS) | 1)) & (envelope > threshold)
    return float(peaks.sum() / (len(envelope) * HOP_SECONDS))


def crest(envelope: np.ndarray) -> float:
    return float(np.percentile(envelope, 99) / (envelope.mean() + 1e-12))


def chroma(samples: np.ndarray, rate: int) -> np.ndarray:
    """Mean 12-bin chroma (power per pitch class, 55-2000 Hz)."""
    spec, freqs = _frames(samples.mean(axis=0), rate, n_fft=8192)
    keep = (freqs >= 55) & (freqs <= 2000)
    pitch_class = np.round(12 * np.log2(freqs[keep] / 440.0)).astype(int) % 12
    power = (spec[:, keep] ** 2).mean(axis=0)
    return np.bincount(pitch_class, weights=power, minlength=12)


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    n = min(len(a), len(b))
    a, b = a[:n], b[:n]
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b) + 1e-12))


def band_db(samples: np.ndarray, rate: int) -> np.ndarray:
    """(frames, 40) dB of the mono mix on 40 log-spaced bands, 10 ms hop, 46 ms frames."""
    spec, freqs = _frames(samples.mean(axis=0), rate)
    edges = np.geomspace(40.0, min(16000.0, rate / 2), 41)
    power = np.stack([(spec[:, (freqs >= lo) & (freqs < hi)] ** 2).sum(1) for lo, hi in zip(edges[:-1], edges[1:])], 1)
    return 10 * np.log10(power + 1e-10)


def loop_distance(new: np.ndarray, before: np.ndarray, rate: int) -> float:
    """How far `new` is from `before` (the audio it follows) simply looped: the mean |dB| difference over
    40 bands and every 10 ms between `new` and the last period of `before` repeated, the period being the
    lag (1-8 s) where `before`'s onset envelope best matches itself. 0: a plain loop."""
    env = onset_envelope(before, rate)
    e = env - env.mean()
    lags = np.arange(round(1.0 / HOP_SECONDS), min(round(8.0 / HOP_SECONDS), len(e) // 2) + 1)
    if not len(lags):
        return float("nan")
    scores = [cosine(e[:-k], e[k:]) for k in lags]
    lag = round(lags[int(np.argmax(scores))] * HOP_SECONDS * rate)
    tile = before[:, -lag:]
    loop = np.concatenate([tile] * -(-new.shape[-1] // lag), axis=1)[:, : new.shape[-1]]
    a, b = band_db(new, rate), band_db(loop, rate)
    loud = b > b.max() - 60  # where the loop has something to compare against
    return float(np.abs(a - b)[loud].mean())


def fit(new: np.ndarray, pieces: list[np.ndarray], rate: int, before: np.ndarray | None = None, natural=None) -> dict:
    """Every measure of `new` (channels, frames) against the session around it, in `pieces` (before and
    after a region); with `before` (the audio `new` follows), also its distance from `before` looped; with
    `natural` (the recording's own audio in its place), how far its last 6 s sit off the recording's beats."""
    around = np.concatenate(pieces, axis=1)
    env_new, env_around = onset_envelope(new, rate), onset_envelope(around, rate)
    loop = {} if before is None else {"loop_db": loop_distance(new, before, rate)}
    last = slice(-6 * rate, None)
    return {
        **loop,
        "grid_ms": float("nan") if natural is None else grid_offset_ms(new[:, last], natural[:, last], rate),
        "groove": cosine(groove_profile(env_new), groove_profile(env_around)),
        "onset_rate": onset_rate(env_new) / max(onset_rate(env_around), 1e-6),
        "crest": crest(env_new) / crest(env_around),
        "loudest_db": loudest_db(new, rate) - loudest_db(around, rate),
        "hf_db": hf_share_db(new, rate) - hf_share_db(pieces, rate),
        "chroma": cosine(chroma(new, rate), chroma(around, rate)),
    }


def material(seconds: float, need: float, only: list[str]) -> list[tuple[str, str, np.ndarray, int]]:
    """(kind, track, samples, rate): `need` seconds from the middle of the held-out track of each kind."""
    import soundfile as sf

    held = {(t.package, t.path.name): t for t in real.tracks("held_out")}
    out = []
    for kind, package, name in CLIPS:
        if only and kind not in only:
            continue
        track = held.get((package, name))
        if track is None:
            log(f"music_fit: the held-out {kind} track {name} ({package}) is missing: run scripts/install-corpus")
            continue
        duration = sf.info(str(track.path)).duration
        if duration < need:
            log(f"music_fit: {name} is {duration:.0f} s, shorter than the {need:.0f} s measured; skipped")
            continue
        samples, rate = real.read(track.path, max(0.0, duration / 2 - need / 2), need)
        out.append((kind, name, samples, rate))
    if not out:
        raise ReverieError("no held-out recordings of the kinds measured are installed", field="clips")
    return out


def measure_clip(pipe, samples: np.ndarray, rate: int, seconds: float, seed: int) -> tuple[dict, dict]:
    """{operation: [{"reverie": fit, "natural": fit}, ...]} for one clip (a fill at each of INPAINT_PLACES, one
    continuation or blend), and the outputs to picture (the fills in the middle)."""
    n = round(seconds * rate)
    clip = Audio(samples[:, :n], rate)
    rows, pictures = {}, {"input": clip.samples}
    for length in (1.0, 2.0, 4.0):
        rows[f"inpaint {length:g} s"] = []
        for place in INPAINT_PLACES:
            centre = place * seconds
            a, b = round((centre - length / 2) * rate), round((centre + length / 2) * rate)
            out = pipe.inpaint(clip, a / rate, b / rate, seed=seed)
            outside = [clip.samples[:, :a], clip.samples[:, b:]]
            before = clip.samples[:, :a]
            real = clip.samples[:, a:b]
            rows[f"inpaint {length:g} s"].append(
                {
                    "reverie": fit(out.samples[:, a:b], outside, rate, before, real),
                    "natural": fit(real, outside, rate, before, real),
                }
            )
            if place == 0.5:
                pictures[f"inpaint {length:g} s"] = out.samples
    tail = clip.samples[:, -6 * rate :]
    for length in (6, 30):
        out = pipe.continue_(clip, float(length), seed=seed)
        real = samples[:, n : n + length * rate]
        rows[f"continue {length} s"] = [
            {
                "reverie": fit(out.samples[:, n:], [tail], rate, clip.samples, real),
                "natural": fit(real, [tail], rate, clip.samples, real),
            }
        ]
        pictures[f"continue {length} s"] = out.samples
    after = Audio(samples[:, n : 2 * n], rate)
    out = pipe.interpolate(clip, after, ratio=0.5, seed=seed)
    sources = [clip.samples, after.samples]
    rows["interpolate"] = [
        {
            "reverie": fit(out.samples, sources, rate, clip.samples),
            "natural": fit(samples[:, 2 * n : 3 * n], sources, rate, clip.samples),
        }
    ]
    pictures["interpolate"] = out.samples
    return rows, pictures


def save_png(pictures: dict, rate: int, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(len(pictures), 1, figsize=(12, 2.2 * len(pictures)), squeeze=False)
    for ax, (name, samples) in zip(axes[:, 0], pictures.items()):
        spec, freqs = _frames(samples.mean(axis=0), rate)
        db = 20 * np.log10(spec.T + 1e-6)
        seconds = spec.shape[0] * HOP_SECONDS
        ax.imshow(db, origin="lower", aspect="auto", extent=(0, seconds, 0, freqs[-1] / 1000), vmin=db.max() - 80)
        ax.set_ylabel("kHz")
        ax.set_title(name, fontsize=9, loc="left")
    axes[-1, 0].set_xlabel("seconds")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def summarise(per_clip: dict) -> dict:
    """{operation: {measure: {"reverie": (median, worst), "natural": (median, worst)}}}."""
    ops = next(iter(per_clip.values())).keys()
    out = {}
    for op in ops:
        out[op] = {}
        for m in MEASURES:
            row = {}
            for side in ("reverie", "natural"):
                values = np.array([one[side][m] for c in per_clip for one in per_clip[c][op]])
                values = values[~np.isnan(values)]  # not measured there (grid_ms: no pulse, or interpolate)
                if not len(values):
                    row[side] = (float("nan"), float("nan"))
                    continue
                worst = values[np.abs(values).argmax()] if m in ("loudest_db", "hf_db", "grid_ms") else values.min()
                if m == "onset_rate":
                    worst = values[np.abs(np.log(np.maximum(values, 1e-6))).argmax()]
                row[side] = (float(np.median(values)), float(worst))
            if m in LIKE_THE_RECORDING:  # per clip: how far from what the recording itself plays there
                gaps = [abs(one["reverie"][m] - one["natural"][m]) for c in per_clip for one in per_clip[c][op]]
                row["to_natural"] = float(np.nanmedian(gaps))
            out[op][m] = row
    return out


def print_table(summary: dict, header: str) -> None:
    print(f"\n{header}")
    print("median (worst) over clips; reverie | natural: a real stretch of the same recording in its place")
    names = {
        "grid_ms": "off beats ms",
        "groove": "groove",
        "onset_rate": "onsets",
        "crest": "crest",
        "loudest_db": "loud dB",
        "hf_db": "HF dB",
    }
    names["chroma"], names["loop_db"] = "chroma", "from loop dB"
    print(f"{'operation':<14}" + "".join(f"{names[m]:>26}" for m in MEASURES))
    for op, row in summary.items():
        cells = []
        for m in MEASURES:
            (rm, rw), (nm, nw) = row[m]["reverie"], row[m]["natural"]
            cells.append(f"{rm:6.2f} ({rw:5.2f}) | {nm:5.2f} ({nw:5.2f})")
        print(f"{op:<14}" + "".join(f"{c:>26}" for c in cells))
    print("\nlike the recording: median over clips of |reverie - natural| (0: what the recording plays there)")
    print(f"{'operation':<14}" + "".join(f"{names[m]:>14}" for m in LIKE_THE_RECORDING))
    for op, row in summary.items():
        print(f"{op:<14}" + "".join(f"{row[m]['to_natural']:14.2f}" for m in LIKE_THE_RECORDING))
    print("\nbars (issue 19): " + "; ".join(f"{label} {op} {bar}" for label, op, bar in BARS.values() if bar))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help=MODEL_HELP)
    parser.add_argument("--seconds", type=float, default=12.0, help="length of each clip")
    parser.add_argument("--only", default="", help="comma-separated kinds to measure (default: every kind of CLIPS)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=2, help="torch threads")
    parser.add_argument("--png", type=Path, default=None, help="write a spectrogram PNG per clip here")
    parser.add_argument("--json", type=Path, default=None, help="also write every number here")
    args = parser.parse_args(argv)
    args.model = model_spec(args.model)

    import torch

    from reverie.models.pipeline import load_pipeline

    torch.set_num_threads(args.threads)
    started = time.perf_counter()
    pipe = load_pipeline(args.model)
    need = max(3 * args.seconds, args.seconds + 30)
    per_clip = {}
    for kind, name, samples, rate in material(args.seconds, need, [k for k in args.only.split(",") if k]):
        t0 = time.perf_counter()
        rows, pictures = measure_clip(pipe, samples, rate, args.seconds, args.seed)
        per_clip[f"{kind}: {name}"] = rows
        if args.png:
            args.png.mkdir(parents=True, exist_ok=True)
            save_png(pictures, rate, args.png / f"{kind}-{Path(name).stem}.png", f"{kind}: {name}")
        log(f"music_fit {kind} ({name}): {time.perf_counter() - t0:.0f} s")
    summary = summarise(per_clip)
    print_table(
        summary,
        f"Reverie musical fit: model {pipe.model_hash} ({args.model or 'embedded default'}), {len(per_clip)} "
        f"held-out clips of {args.seconds:g} s ({', '.join(per_clip)}), seed {args.seed}, "
        f"{(time.perf_counter() - started) / 60:.1f} min",
    )
    result = {"model_hash": pipe.model_hash, "summary": summary, "clips": per_clip}
    return write_json(args.json, result)


if __name__ == "__main__":
    entry_point(main)
