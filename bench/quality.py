"""Quality report: melody adherence, style, inpainting, realism and speed, on held-out material.

    .venv/bin/python bench/quality.py [--model DIR|tiny] [--corpus data/corpus] [--clips N] [--seconds S]
                                      [--seed N] [--json OUT] [--hum-clips N] [--inpaint-clips N]
                                      [--skip hum,inpaint,speed] [--png-dir DIR] [--threads N]
                                      [--steps N] [--guidance G]

Prints one table: every metric with its target and PASS/FAIL, and the
reference rows that say what a number means (refs are not pass/fail).
With --model omitted the embedded default model is measured. A model folder
that a training run is still rewriting (runs/default) should be copied first:
    mkdir -p /tmp/m && cp -r runs/default/reverie.json runs/default/unet /tmp/m/

What is measured (all on the corpus's held-out split, each clip cut to --seconds from its start):

- Melody from MIDI: for --clips held-out clips per style, generate with the
  clip's MIDI melody and style; accuracy = frame-wise dominant pitch class of
  the generated audio (`audio_chroma`) against the melody's chroma, at the
  model's mel frame rate (`pitch_class_accuracy`; chance 1/12 = 0.08).
  Target >= 0.80. References: the held-out audio itself against its own MIDI
  (what the corpus scores: the accompaniment also votes), and each generated
  clip against another clip's melody (the metric's chance level in practice).
- Melody from a hum: for --hum-clips clips per style, `synthesize_hum` of the
  melody (harmonics, vibrato, glides, breath) -> `Melody.from_hum` -> generate;
  accuracy against the ORIGINAL melody. Target >= 0.70. Reference: the
  transcription's own accuracy (its chroma against the original's).
- Style: a small classifier (bench/style_classifier.py: log-mel, flux, onset
  and level statistics -> tanh hidden layer of 8 -> softmax), trained on the
  train split only and cached under runs/quality/ keyed by the manifest hash,
  classifies the MIDI-melody clips above (generated with their style). Target:
  every style >= 0.80. Sanity floor: its accuracy on held-out corpus clips.
- Inpainting: for --inpaint-clips clips per style, regenerate --region seconds
  in the middle with method "trained" and "repaint" (same seed, the clip's
  style, no melody). Measured on a fixed log-mel in dB (64 bins, 1024/256 at
  22.05 kHz, floor -80 dB; not the model's frontend, so checkpoints compare):
  mel L1 = mean |dB difference| per bin over the region's frames against the
  original; seam score = spectral flux across each seam / the clip's median
  flux, where the flux is taken between frames 104 ms apart, on either side
  of the 50 ms crossfade plus one analysis window (a crossfade spreads a jump
  over several frames, which a frame-to-frame flux would dilute), averaged over
  the 5 positions nearest each fade's centre and over the two seams.
  Lower wins; the trained path must win both. References: the original clip
  (seam score of untouched audio at the same places) and a "novel sample" fill
  (the same region from another held-out clip of the style, crossfaded in like
  the pipeline does): what "sounds like a completely novel sample" scores.
- Realism proxy: Fréchet distance on the classifier's 8-d hidden layer between
  the generated clips and all held-out clips, beside the floor (as many train
  clips, per style alike) and the ceiling (as many white/pink noise clips).
  Small samples (tens of clips) bias every FD upward; compare rows within one
  run, not across runs with different --clips.
- Speed: real-time factor of `generate` for --speed-seconds (30) at default
  settings (bench/speed.py's timing), best of --speed-repeat. Target >= 10x on
  2 CPU cores; it is measured with --threads torch threads on whatever else the
  machine is doing (the load average is printed beside it).

Defaults (5 clips per style, 3 for hum and inpainting, 8 s) take about 12 minutes
on 2 busy cores (load average 9), the first run 1 minute more to train the classifier. A larger run (about an hour):
    .venv/bin/python bench/quality.py --model DIR --clips 9 --hum-clips 5 --inpaint-clips 5 --seconds 10 --threads 2
Deterministic for a seed (every number but the timings).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import torch  # noqa: E402

from bench import style_classifier as sc  # noqa: E402
from bench.models import HELP as MODEL_HELP  # noqa: E402
from bench.models import model_spec  # noqa: E402
from reverie.models.audio import load_audio, resample, to_mid  # noqa: E402  first: sets torch's thread wait policy
from reverie.models.errors import ReverieError  # noqa: E402
from reverie.models.melody import Melody, Note, audio_chroma, pitch_class_accuracy, synthesize_hum  # noqa: E402

TARGETS = {
    "melody_midi": 0.80,
    "melody_hum": 0.70,
    "style_per_style": 0.80,
    "classifier_heldout": 0.80,
    "speed_rtf": 10.0,
}
PARTS = ("melody", "hum", "style", "inpaint", "fd", "speed")
TRAIN_CROPS = 3  # crops per train clip for the classifier (start, middle, end)


@dataclass
class Clip:
    clip_id: str
    split: str
    style: str
    audio: Path
    midi: Path


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# --- corpus -------------------------------------------------------------------------


def read_manifest(corpus: Path) -> list[Clip]:
    path = corpus / "manifest.csv"
    if not path.is_file():
        raise ReverieError(
            f"no manifest.csv in {corpus}; build the corpus with `reverie corpus {corpus}`", field="corpus"
        )
    with open(path, newline="") as f:
        return [
            Clip(r["clip_id"], r["split"], r["style"], corpus / r["audio"], corpus / r["midi"])
            for r in csv.DictReader(f)
        ]


def select(clips: list[Clip], split: str, styles: tuple[str, ...], per_style: int, seed: int) -> list[Clip]:
    """`per_style` clips of each style from a split, in a seeded order (the same for a seed)."""
    rng = np.random.default_rng(seed)
    chosen = []
    for style in styles:
        pool = sorted((c for c in clips if c.split == split and c.style == style), key=lambda c: c.clip_id)
        order = rng.permutation(len(pool))
        chosen += [pool[i] for i in order[:per_style]]
    return chosen


def load_mono(path: Path) -> tuple[np.ndarray, int]:
    audio = load_audio(path)
    return to_mid(audio), audio.sample_rate


def crop_melody(melody: Melody, seconds: float) -> Melody:
    """The notes that sound before `seconds`, cut at it."""
    notes = [Note(n.start, min(n.end, seconds), n.pitch, n.velocity) for n in melody.notes if n.start < seconds - 1e-3]
    return Melody(tuple(notes))


def splice(
    original: np.ndarray, fill: np.ndarray, sample_rate: int, start: float, end: float, fade_seconds: float = 0.05
) -> np.ndarray:
    """`original` with [start, end) crossfaded to `fill` (raised-cosine fades inside the region, as inpaint does)."""
    from reverie.models.stream import fade_curve

    a, b = round(start * sample_rate), round(end * sample_rate)
    seam = min(round(fade_seconds * sample_rate), (b - a) // 2)
    weight = np.ones(b - a, dtype=np.float32)
    weight[:seam] = fade_curve(seam)
    weight[len(weight) - seam :] = fade_curve(seam)[::-1]
    out = np.array(original, dtype=np.float32, copy=True)
    out[a:b] = out[a:b] * (1 - weight) + fill[a:b] * weight
    return out


# --- the classifier --------------------------------------------------------------------


def classifier_for(
    clips: list[Clip], corpus: Path, styles: tuple[str, ...], seconds: float, seed: int, cache_dir: Path
):
    """Train (or load from the cache) the style classifier on train-split crops of `seconds`."""
    key = sc.cache_key(corpus / "manifest.csv", seconds, seed)
    path = cache_dir / f"style_classifier-{key}.npz"
    if path.is_file():
        log(f"style classifier: cached {path}")
        clf, data = sc.StyleClassifier.load(path)
        return clf, data
    log(f"style classifier: features of {len(clips)} clips ({TRAIN_CROPS} crops per train clip) ...")
    x, y, ids, first = [], [], [], []
    hx, hy, hids = [], [], []
    for i, clip in enumerate(clips):
        if clip.style not in styles or clip.split not in ("train", "heldout"):
            continue
        mono, sr = load_mono(clip.audio)
        if clip.split == "train":
            offsets = np.linspace(0, max(0.0, len(mono) / sr - seconds), TRAIN_CROPS)
            for j, off in enumerate(offsets):
                x.append(sc.features(sc.crop(mono, sr, off, seconds), sr))
                y.append(styles.index(clip.style))
                ids.append(clip.clip_id)
                first.append(j == 0)
        else:
            hx.append(sc.features(sc.crop(mono, sr, 0.0, seconds), sr))
            hy.append(styles.index(clip.style))
            hids.append(clip.clip_id)
        if (i + 1) % 100 == 0:
            log(f"  {i + 1}/{len(clips)}")
    log("style classifier: training ...")
    clf = sc.train_classifier(np.array(x), np.array(y), styles, seed=seed)
    data = dict(
        train_x=np.array(x),
        train_y=np.array(y),
        train_ids=np.array(ids),
        train_first=np.array(first),
        heldout_x=np.array(hx),
        heldout_y=np.array(hy),
        heldout_ids=np.array(hids),
    )
    clf.save(path, **data)
    log(f"style classifier: saved {path}")
    return clf, data


# --- the report ----------------------------------------------------------------------------


class Report:
    def __init__(self):
        self.rows: list[tuple[str, str, str, str]] = []
        self.results: dict = {}

    def metric(
        self,
        key: str,
        label: str,
        value: float,
        target: float | None,
        higher: bool = True,
        fmt: str = "{:.3f}",
        unit: str = "",
    ) -> None:
        ok = None if target is None or not np.isfinite(value) else (value >= target if higher else value <= target)
        self.results[key] = {"value": _num(value), "target": target, "pass": ok}
        t = "" if target is None else (">= " if higher else "<= ") + fmt.format(target) + unit
        self.rows.append((label, fmt.format(value) + unit, t, "" if ok is None else ("PASS" if ok else "FAIL")))

    def check(
        self, key: str, label: str, value: float, relation: str, bound: float, fmt: str = "{:.3f}", unit: str = ""
    ) -> None:
        """A comparison against another measured number: relation "<" (value below bound) or ">=" ."""
        ok = bool(value < bound) if relation == "<" else bool(value >= bound)
        self.results[key] = {"value": _num(value), "target": f"{relation} {_num(bound)}", "pass": ok}
        self.rows.append((label, fmt.format(value) + unit, f"{relation} {fmt.format(bound)}", "PASS" if ok else "FAIL"))

    def ref(self, key: str, label: str, value: float, fmt: str = "{:.3f}", unit: str = "") -> None:
        self.results[key] = {"value": _num(value), "reference": True}
        self.rows.append(("  " + label, fmt.format(value) + unit, "ref", ""))

    def section(self, title: str) -> None:
        self.rows.append((title, "", "", ""))

    def print(self, header: str) -> None:
        width = max(len(r[0]) for r in self.rows if r[1] or r[2]) + 2
        print(header)
        print(f"{'metric':<{width}}{'value':>10}  {'target':<10}  result")
        for label, value, target, result in self.rows:
            if not value and not target:
                print(f"\n{label}")
            else:
                print(f"{label:<{width}}{value:>10}  {target:<10}  {result}")
        failed = [k for k, v in self.results.items() if v.get("pass") is False]
        print(
            f"\n{sum(v.get('pass') is True for v in self.results.values())} passed, {len(failed)} failed"
            + (f": {', '.join(failed)}" if failed else "")
        )


def rms_db(x: np.ndarray) -> float:
    return float(10 * np.log10(np.mean(np.square(np.asarray(x, np.float64))) + 1e-20))


def _num(v):
    v = float(v)
    return v if np.isfinite(v) else None


def _mean(values) -> float:
    values = [v for v in values if v is not None and np.isfinite(v)]
    return float(np.mean(values)) if values else float("nan")


def save_spectrograms(pairs: dict[str, tuple[np.ndarray, np.ndarray]], sample_rate: int, out_dir: Path) -> list[Path]:
    """One PNG per style: the held-out clip that gave the melody above, the generated clip below."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for style, (original, generated) in pairs.items():
        fig, axes = plt.subplots(2, 1, figsize=(10, 5.5), sharex=True)
        for ax, name, x in zip(axes, ("held-out (melody source)", "generated"), (original, generated)):
            mel = sc.log_mel_db(x, sample_rate)
            top = float(np.percentile(mel, 99.9))  # each panel its own 80 dB: levels are in the title
            t = mel.shape[1] * sc.HOP / sc.FEATURE_RATE
            im = ax.imshow(
                mel, origin="lower", aspect="auto", extent=(0, t, 0, sc.N_MELS), vmin=top - 80, vmax=top, cmap="magma"
            )
            ax.set_title(
                f"{style}: {name}   RMS {rms_db(x):.1f} dBFS, peak {20 * np.log10(np.abs(x).max() + 1e-12):.1f} dBFS"
            )
            ax.set_ylabel("mel bin")
            fig.colorbar(im, ax=ax, label="dB")
        axes[-1].set_xlabel("seconds")
        path = out_dir / f"generated_{style}.png"
        fig.savefig(path, dpi=90)
        plt.close(fig)
        paths.append(path)
    return paths


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help=MODEL_HELP)
    parser.add_argument("--corpus", type=Path, default=ROOT / "data" / "corpus")
    parser.add_argument("--clips", type=int, default=5, help="held-out clips per style for melody, style and FD")
    parser.add_argument("--hum-clips", type=int, default=3, help="clips per style for the hummed melody")
    parser.add_argument("--inpaint-clips", type=int, default=3, help="clips per style for inpainting")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of every generated / compared clip")
    parser.add_argument("--region", type=float, default=2.0, help="inpainted seconds, centred in the clip")
    parser.add_argument("--speed-seconds", type=float, default=30.0)
    parser.add_argument("--speed-repeat", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the cores are shared)")
    parser.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    parser.add_argument("--guidance", type=float, default=None, help="guidance scale (default: the model's)")
    parser.add_argument("--skip", default="", help=f"comma-separated parts to leave out: {','.join(PARTS)}")
    parser.add_argument("--json", type=Path, default=None, help="also write every number (and per-clip detail) here")
    parser.add_argument(
        "--png-dir", default="/tmp/reverie_quality", help="spectrograms of generated clips, one per style ('' for none)"
    )
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "quality", help="classifier cache folder")
    args = parser.parse_args(argv)
    args.model = model_spec(args.model)
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = skip - set(PARTS)
    if unknown:
        parser.error(f"unknown --skip parts {', '.join(sorted(unknown))}; allowed: {', '.join(PARTS)}")
    torch.set_num_threads(args.threads)
    sampling = {"steps": args.steps, "guidance": args.guidance}
    started = time.perf_counter()

    from reverie.models.pipeline import load_pipeline

    pipe = load_pipeline(args.model)
    styles = pipe.styles
    sr = pipe.sample_rate  # generate at the model's rate, mono: no resampling in the measurement
    fr = pipe.config.mel.frame_rate
    S = float(args.seconds)
    n_frames = int(S * fr)
    clips = read_manifest(args.corpus)
    corpus_styles = {c.style for c in clips}
    if not set(styles) <= corpus_styles:
        raise ReverieError(
            f"the model's styles {styles} are not all in the corpus ({sorted(corpus_styles)})", field="corpus"
        )

    report = Report()
    detail: dict = {"clips": {}}
    chosen = select(clips, "heldout", styles, args.clips, args.seed)

    # --- melody from MIDI (and the generated clips for style and FD) ---
    generated: list[tuple[Clip, np.ndarray]] = []
    melodies = {c.clip_id: Melody.from_midi(c.midi) for c in chosen}
    need_generated = not {"melody", "style", "fd"} <= skip
    if need_generated:
        rows = []
        for i, clip in enumerate(chosen):
            t0 = time.perf_counter()
            out = pipe.generate(
                S,
                sample_rate=sr,
                channels=1,
                style=clip.style,
                melody=melodies[clip.clip_id],
                seed=args.seed + i,
                **sampling,
            )
            mono = out.samples[0]
            generated.append((clip, mono))
            ref = melodies[clip.clip_id].chroma(fr, n_frames)
            gen = audio_chroma(mono, sr, fr, n_frames)
            # The same clip against another clip's melody (next in its style): the metric's chance level.
            same = [c for c in chosen if c.style == clip.style]
            other = same[(same.index(clip) + 1) % len(same)] if len(same) > 1 else chosen[(i + 1) % len(chosen)]
            original, osr = load_mono(clip.audio)
            rows.append(
                {
                    "clip": clip.clip_id,
                    "style": clip.style,
                    "seed": args.seed + i,
                    "accuracy": pitch_class_accuracy(ref, gen),
                    "mismatched": pitch_class_accuracy(melodies[other.clip_id].chroma(fr, n_frames), gen)
                    if other is not clip
                    else float("nan"),
                    "corpus": pitch_class_accuracy(ref, audio_chroma(sc.crop(original, osr, 0, S), osr, fr, n_frames)),
                }
            )
            log(
                f"melody {i + 1}/{len(chosen)} {clip.clip_id}: {rows[-1]['accuracy']:.3f} "
                f"({time.perf_counter() - t0:.1f} s)"
            )
        detail["melody_midi"] = rows
        if "melody" not in skip:
            report.section(f"Melody adherence (frame-wise dominant pitch class at {fr:.2f} frames/s; chance 0.08)")
            report.metric(
                "melody_midi",
                f"from MIDI ({len(rows)} clips)",
                _mean(r["accuracy"] for r in rows),
                TARGETS["melody_midi"],
            )
            for style in styles:
                corpus = _mean(r["corpus"] for r in rows if r["style"] == style)
                report.ref(
                    f"melody_midi_{style}",
                    f"from MIDI, {style} (its held-out audio: {corpus:.3f})",
                    _mean(r["accuracy"] for r in rows if r["style"] == style),
                )
            report.ref(
                "melody_midi_mismatched", "generated vs another clip's melody", _mean(r["mismatched"] for r in rows)
            )
            report.ref(
                "melody_corpus",
                "held-out audio vs its own MIDI (a faithful model's level)",
                _mean(r["corpus"] for r in rows),
            )

    # --- melody from a hum ---
    if "hum" not in skip:
        hum_clips = select(clips, "heldout", styles, min(args.hum_clips, args.clips), args.seed)
        rows = []
        for i, clip in enumerate(hum_clips):
            t0 = time.perf_counter()
            original = crop_melody(melodies.get(clip.clip_id) or Melody.from_midi(clip.midi), S)
            hum = synthesize_hum(original, sample_rate=22050, seed=args.seed + i)
            ref = original.chroma(fr, n_frames)
            row = {"clip": clip.clip_id, "style": clip.style, "seed": args.seed + 1000 + i}
            try:
                heard = Melody.from_hum(hum)
            except ReverieError as exc:  # nothing transcribed: the generation cannot follow, a miss
                row.update(notes=0, transcription=0.0, accuracy=0.0, error=str(exc))
            else:
                out = pipe.generate(
                    S, sample_rate=sr, channels=1, style=clip.style, melody=heard, seed=args.seed + 1000 + i, **sampling
                )
                row.update(
                    notes=len(heard),
                    original_notes=len(original),
                    transcription=pitch_class_accuracy(ref, heard.chroma(fr, n_frames)),
                    accuracy=pitch_class_accuracy(ref, audio_chroma(out.samples[0], sr, fr, n_frames)),
                )
            rows.append(row)
            log(
                f"hum {i + 1}/{len(hum_clips)} {clip.clip_id}: transcription {row['transcription']:.3f}, "
                f"generated {row['accuracy']:.3f} ({time.perf_counter() - t0:.1f} s)"
            )
        detail["melody_hum"] = rows
        if "melody" in skip:
            report.section("Melody adherence (chance 0.08)")
        report.metric(
            "melody_hum",
            f"from a synthetic hum ({len(rows)} clips)",
            _mean(r["accuracy"] for r in rows),
            TARGETS["melody_hum"],
        )
        report.ref(
            "hum_transcription", "hum transcription vs the original melody", _mean(r["transcription"] for r in rows)
        )

    # --- style ---
    clf = data = None
    if not {"style", "fd"} <= skip:
        clf, data = classifier_for(clips, args.corpus, styles, S, args.seed, args.cache)
        heldout_pred = clf.logits(data["heldout_x"]).argmax(axis=1)
        heldout_acc = float((heldout_pred == data["heldout_y"]).mean())
        gen_x = np.array([sc.features(m, sr) for _, m in generated]) if generated else np.zeros((0, sc.N_FEATURES))
    if "style" not in skip and generated:
        predicted = clf.predict(gen_x)
        per_style = {s: _mean(float(p == s) for (c, _), p in zip(generated, predicted) if c.style == s) for s in styles}
        report.section("Style (classifier trained on the train split only)")
        worst = min(per_style, key=lambda s: per_style[s])
        report.check(
            "style",
            f"generated, the worst style ({worst}; {len(generated)} clips)",
            per_style[worst],
            ">=",
            TARGETS["style_per_style"],
        )
        for s in styles:
            confused = [p for (c, _), p in zip(generated, predicted) if c.style == s]
            report.ref(f"style_{s}", f"{s}: classified as {', '.join(confused)}", per_style[s])
        report.ref(
            "style_overall",
            "generated, all styles",
            _mean(float(p == c.style) for (c, _), p in zip(generated, predicted)),
        )
        report.metric(
            "classifier_heldout",
            f"classifier on held-out corpus clips ({len(heldout_pred)}; sanity)",
            heldout_acc,
            TARGETS["classifier_heldout"],
        )
        detail["style"] = {
            "predicted": {c.clip_id: p for (c, _), p in zip(generated, predicted)},
            "per_style": per_style,
            "heldout_accuracy": heldout_acc,
        }

    # --- inpainting ---
    if "inpaint" not in skip:
        in_clips = select(clips, "heldout", styles, min(args.inpaint_clips, args.clips), args.seed)
        rows = []
        for i, clip in enumerate(in_clips):
            audio = load_audio(clip.audio)
            original = to_mid(audio)
            mid = audio.seconds / 2
            start, end = mid - args.region / 2, mid + args.region / 2
            mel_orig = sc.log_mel_db(original, audio.sample_rate)
            row = {
                "clip": clip.clip_id,
                "style": clip.style,
                "start": start,
                "end": end,
                "seed": args.seed + 2000 + i,
                "original_seam": sc.seam_score(mel_orig, [start, end]),
            }
            same = [c for c in in_clips if c.style == clip.style]
            other = (
                same[(same.index(clip) + 1) % len(same)]
                if len(same) > 1
                else next(c for c in clips if c.split == "heldout" and c.style == clip.style and c is not clip)
            )
            donor, dsr = load_mono(other.audio)
            donor = resample(donor[None, :], dsr, audio.sample_rate)[0]
            novel = splice(original, np.resize(donor, len(original)), audio.sample_rate, start, end)
            mel_novel = sc.log_mel_db(novel, audio.sample_rate)
            row["novel_l1"] = sc.region_l1(mel_novel, mel_orig, start, end)
            row["novel_seam"] = sc.seam_score(mel_novel, [start, end])
            for method in ("trained", "repaint"):
                t0 = time.perf_counter()
                out = pipe.inpaint(
                    audio, start, end, method=method, style=clip.style, seed=args.seed + 2000 + i, **sampling
                )
                mel = sc.log_mel_db(to_mid(out), out.sample_rate)
                row[f"{method}_l1"] = sc.region_l1(mel, mel_orig, start, end)
                row[f"{method}_seam"] = sc.seam_score(mel, [start, end])
                row[f"{method}_seconds"] = time.perf_counter() - t0
            rows.append(row)
            log(
                f"inpaint {i + 1}/{len(in_clips)} {clip.clip_id}: L1 trained {row['trained_l1']:.2f} repaint "
                f"{row['repaint_l1']:.2f} dB; seam trained {row['trained_seam']:.2f} repaint {row['repaint_seam']:.2f}"
            )
        detail["inpaint"] = rows
        l1 = {m: _mean(r[f"{m}_l1"] for r in rows) for m in ("trained", "repaint", "novel")}
        seam = {m: _mean(r[f"{m}_seam"] for r in rows) for m in ("trained", "repaint", "novel", "original")}
        report.section(
            f"Inpainting ({len(rows)} clips, {args.region:g} s in the middle; own log-mel in dB; lower is better)"
        )
        report.check(
            "inpaint_l1", "mel L1 in the region: trained beats repaint", l1["trained"], "<", l1["repaint"], unit=" dB"
        )
        report.ref("inpaint_l1_repaint", "mel L1, repaint", l1["repaint"], "{:.3f}", " dB")
        report.ref("inpaint_l1_novel", "mel L1, a novel sample (another clip)", l1["novel"], "{:.2f}", " dB")
        report.check("inpaint_seam", "seam flux / median: trained beats repaint", seam["trained"], "<", seam["repaint"])
        report.ref("inpaint_seam_repaint", "seam score, repaint", seam["repaint"], "{:.3f}")
        report.ref("inpaint_seam_original", "seam score, the untouched original", seam["original"], "{:.2f}")
        report.ref("inpaint_seam_novel", "seam score, a novel sample spliced in", seam["novel"], "{:.2f}")
        report.ref(
            "inpaint_trained_wins_clips",
            "clips where trained wins both",
            _mean(float(r["trained_l1"] < r["repaint_l1"] and r["trained_seam"] < r["repaint_seam"]) for r in rows),
        )

    # --- realism proxy ---
    if "fd" not in skip and generated:
        held = clf.embed(data["heldout_x"])
        n = len(generated)
        floor_clips = select(clips, "train", styles, args.clips, args.seed)
        index = {cid: k for k, (cid, first) in enumerate(zip(data["train_ids"], data["train_first"])) if first}
        floor_x = data["train_x"][[index[c.clip_id] for c in floor_clips]]
        noise_x = np.array(
            [
                sc.features(
                    sc.noise_clip(S, sr, args.seed + k, ("white", "pink")[k % 2], rms_db=-30 + 15 * (k % 3) / 2), sr
                )
                for k in range(n)
            ]
        )
        fd = {
            "generated": sc.frechet_distance(clf.embed(gen_x), held),
            "floor": sc.frechet_distance(clf.embed(floor_x), held),
            "ceiling": sc.frechet_distance(clf.embed(noise_x), held),
        }
        report.section(
            f"Realism proxy: Fréchet distance on the classifier's {clf.w1.shape[1]}-d embedding, "
            f"{n} clips vs {len(held)} held-out"
        )
        report.check("fd", "generated vs held-out: below the noise ceiling", fd["generated"], "<", fd["ceiling"])
        report.ref("fd_floor", "floor: train clips vs held-out", fd["floor"])
        report.ref("fd_ceiling", "ceiling: white/pink noise vs held-out", fd["ceiling"])
        span = fd["ceiling"] - fd["floor"]
        report.ref(
            "fd_position",
            "position between floor (0) and ceiling (1)",
            (fd["generated"] - fd["floor"]) / span if span > 0 else float("nan"),
        )
        # Level is one of the classifier's cues; say it outright (RMS over each clip, median over clips).
        levels = {
            "generated": float(np.median([rms_db(m) for _, m in generated])),
            "heldout": float(np.median([rms_db(sc.crop(*load_mono(c.audio), 0, S)) for c, _ in generated])),
        }
        report.ref(
            "level_generated", "level of the generated clips (median RMS)", levels["generated"], "{:.1f}", " dBFS"
        )
        report.ref(
            "level_heldout", "level of their held-out sources (median RMS)", levels["heldout"], "{:.1f}", " dBFS"
        )
        detail["fd"] = {**fd, "levels": levels}

    # --- speed ---
    if "speed" not in skip:
        from bench.speed import _timed

        kwargs = dict(seconds=args.speed_seconds, style=styles[0])
        best = min(_timed(pipe, "generate", kwargs) for _ in range(max(1, args.speed_repeat)))
        load = os.getloadavg()[0]
        report.section(
            f"Speed (generate {args.speed_seconds:g} s, {styles[0]}, defaults: {pipe.config.steps} steps, "
            f"guidance {pipe.config.guidance}, {pipe.config.sampler}; {torch.get_num_threads()} torch "
            f"thread(s), load average {load:.1f} on {os.cpu_count()} cores)"
        )
        report.metric(
            "speed_rtf",
            "real-time factor of generate",
            args.speed_seconds / best,
            TARGETS["speed_rtf"],
            fmt="{:.1f}",
            unit="x",
        )
        report.ref("speed_wall", "wall seconds", best, "{:.1f}", " s")
        detail["speed"] = {
            "seconds": args.speed_seconds,
            "wall": best,
            "threads": torch.get_num_threads(),
            "load_average": load,
        }

    # --- pictures ---
    pngs = []
    if args.png_dir and generated:
        pairs = {}
        for clip, mono in generated:
            if clip.style not in pairs:
                original, osr = load_mono(clip.audio)
                original = resample(original[None, :], osr, sr)[0]
                pairs[clip.style] = (sc.crop(original, sr, 0, S), mono)
        pngs = [str(p) for p in save_spectrograms(pairs, sr, Path(args.png_dir))]

    elapsed = time.perf_counter() - started
    header = (
        f"Reverie quality report: model {pipe.model_hash} ({args.model or 'embedded default'}), corpus "
        f"{args.corpus}, seed {args.seed}, {args.clips} clips/style ({args.hum_clips} hum, "
        f"{args.inpaint_clips} inpaint), {S:g} s clips, {elapsed / 60:.1f} min"
    )
    report.print(header)
    if pngs:
        print(f"spectrograms: {', '.join(pngs)}")
    result = {
        "model": str(args.model),
        "model_hash": pipe.model_hash,
        "seed": args.seed,
        "seconds": S,
        "clips_per_style": args.clips,
        "hum_clips_per_style": args.hum_clips,
        "inpaint_clips_per_style": args.inpaint_clips,
        "frame_rate": fr,
        "minutes": elapsed / 60,
        "metrics": report.results,
        "detail": detail,
        "spectrograms": pngs,
    }
    return write_json(args.json, result)


def entry_point(main) -> None:
    """Run a bench's `main`: bad input ends in its one-line message, not a traceback."""
    try:
        main()
    except ReverieError as exc:
        sys.exit(f"error: {exc}")


def write_json(path: Path | None, result: dict) -> dict:
    """`result`, also written to `path` (when given) as JSON."""
    if path is not None:
        save_json(path, result)
    return result


def save_json(path: Path, result: dict) -> None:
    """A report's numbers as JSON: numpy scalars as Python, NaN and infinities as null."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_plain(result), indent=2, allow_nan=False) + "\n")


def _plain(v):
    """JSON-ready: numpy scalars to Python, NaN and infinities to null."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_plain(x) for x in v]
    if isinstance(v, (np.floating, np.integer, np.bool_)):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


if __name__ == "__main__":
    entry_point(main)
