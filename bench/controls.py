"""Musical controls, measured: does a mood land where it is asked, and does a trajectory follow its curve?

    .venv/bin/python bench/controls.py --corpus data/corpus6 [--seeds 3] [--json out/controls.json]

The listener here is independent of the model: bench/style_classifier.py's classifier, trained on the
labelled corpus's own audio (its fixed log-mel, never the model's), read as a valence/arousal regressor:
a clip's mood estimate is its style probabilities' mean of the styles' points (models/mood.py,
STYLE_POINTS). On the corpus's held-out clips that estimate is printed first: the listener's own error.

- mood as asked: every style, and points between two styles, generated with `mood` (no melody), at
  several seeds; the distance in the plane from the asked point, and each axis's error.
- trajectory following: a generate whose mood moves (tense -> calm -> sleep by default); per minute,
  the estimate over that minute (the mean of its crops' probabilities) against the asked curve's mean
  point over the minute; mean error per axis (the issue's bar: at most 0.25).
- no seam where it moves: the level step across the trajectory's window joins (0.5 s either side)
  against the same piece's steps everywhere else, median and p95: a seam makes the joins stand out of
  the music's own movement. Also the largest change of loudness between consecutive seconds, and across
  the joins, against pieces of each mood it names (these count a calm piece's rests as steps).

- continue keeps the input's tempo: held-out corpus clips of known tempo whose first 8 s the listener
  hears at it, continued by 8 s; the share whose new 8 s it hears at the same tempo.
- tempo, key and the loop (a model trained with the grid): generates of whole bars at asked tempos (60-160
  bpm) and keys, every style, several seeds. Tempo by librosa's beat tracker (librosa.feature.tempo over
  the onset envelope), a hit within 4% of the asked bpm, octave errors counted as misses; key by
  Krumhansl-Kessler profiles against librosa's CQT chroma. Keys are asked in each style's own mode (the
  corpus's calm is always major, sad always minor) and, as a separate row, in the other mode. Each
  listener is first run on held-out corpus clips whose tempo and key are known, and on the generates
  against another case's asked tempo and key (what a result that ignores the ask would score). The loop
  seam: the result played twice, the log-mel and level change between the 46 ms before and after the
  loop point against the clip's own 95th percentile of that change between neighbouring 46 ms.

The corpus is built by `reverie corpus data/corpus7 --hours 2 --seed 0` (about 16 minutes).
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

from bench import style_classifier as sc  # noqa: E402
from bench.quality import classifier_for, entry_point, read_manifest, write_json  # noqa: E402
from reverie.models.mood import STYLE_POINTS, parse_mood, point_of  # noqa: E402

BARS = {"mood_error": 0.25, "trajectory_error": 0.25, "seam_ratio": 1.0, "tempo": 0.8, "key": 0.75, "loop_seam": 1.0}
TRAJECTORY = "0:tense; 60:tense; 150:calm; 300:sleep"
RATE = 22050  # the classifier's features are band-limited to 11 kHz
CROP_SECONDS = 8.0  # the classifier's crop, as bench/quality.py trains it
BETWEEN = ("calm+sleep", "happy+tense", "sad+calm", "tense+sad")


def estimate(clf, mono: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """The valence/arousal estimate of a stretch: the mean style probabilities of its crops."""
    crops = max(1, int(len(mono) / sample_rate // CROP_SECONDS))
    feats = [sc.features(sc.crop(mono, sample_rate, i * CROP_SECONDS, CROP_SECONDS), sample_rate) for i in range(crops)]
    logits = clf.logits(np.array(feats))
    probs = np.exp(logits - logits.max(axis=1, keepdims=True))
    probs = (probs / probs.sum(axis=1, keepdims=True)).mean(axis=0)
    return point_of(tuple(probs), clf.styles)


def axis_errors(asked, found) -> tuple[float, float, float]:
    dv, da = abs(asked[0] - found[0]), abs(asked[1] - found[1])
    return float(np.hypot(dv, da)), float(dv), float(da)


def loudness_steps(mono: np.ndarray, sample_rate: int) -> np.ndarray:
    """|change| of RMS level (dB) between consecutive seconds, over the audible seconds."""
    seconds = len(mono) // sample_rate
    levels = np.array([np.sqrt(np.mean(mono[i * sample_rate : (i + 1) * sample_rate] ** 2)) for i in range(seconds)])
    db = 20 * np.log10(np.maximum(levels, 1e-6))
    audible = db > db.max() - 40
    return np.abs(np.diff(db))[audible[1:] & audible[:-1]]


def join_positions(pipe, seconds: float, sample_rate: int) -> list[int]:
    """The samples of a generate's window joins, where a seam would be: where each window's new frames begin.
    Before that, a window's context is the previous window's frames and audio, held (stream.py): the
    crossfade inside it joins two decodes of the same frames (tests/test_mood.py), so a step there is
    the previous window's own music. The new frames are where a window's level and balance are set."""
    windows, frame0, found = pipe.prepare("generate", seconds=seconds).windows, 0, []
    for (context, new), (next_context, _) in zip(windows, windows[1:]):
        frame0 += context + new - next_context
        found.append(round((frame0 + next_context) / pipe.config.mel.frame_rate * sample_rate))
    return found


def level_step(mono: np.ndarray, at: int, half: int) -> float:
    """|dB| between the RMS of the `half` samples before `at` and the `half` after."""
    level = [np.sqrt(np.mean(part**2)) for part in (mono[at - half : at], mono[at : at + half])]
    return abs(20 * np.log10(max(level[1], 1e-6) / max(level[0], 1e-6)))


def join_steps(pipe, mono: np.ndarray, sample_rate: int, seconds: float) -> float:
    """The largest level change across the generate's window joins (0.5 s each side)."""
    return float(max(level_step(mono, at, sample_rate // 2) for at in join_positions(pipe, seconds, sample_rate)))


def join_contrast(pipe, mono: np.ndarray, sample_rate: int, seconds: float) -> tuple[float, float]:
    """The level steps across the window joins against the same piece's steps everywhere else (every
    0.25 s, at least 1 s from a join): (median over median, p95 over p95). A seam makes the joins stand
    out of the music's own movement; rests and entries move both alike."""
    joins, half = np.array(join_positions(pipe, seconds, sample_rate)), sample_rate // 2
    at_joins = [level_step(mono, at, half) for at in joins]
    away = [a for a in range(half, len(mono) - half, sample_rate // 4) if np.abs(joins - a).min() > sample_rate]
    elsewhere = [level_step(mono, at, half) for at in away]
    return (
        float(np.median(at_joins) / np.median(elsewhere)),
        float(np.percentile(at_joins, 95) / np.percentile(elsewhere, 95)),
    )


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model folder; default: the embedded model")
    parser.add_argument("--corpus", type=Path, default=ROOT / "data" / "corpus7")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=24.0, help="length of each mood-as-asked generate")
    parser.add_argument("--trajectory", default=TRAJECTORY, help="the moving mood (seconds:mood; ...)")
    parser.add_argument("--minutes", type=float, default=6.0, help="length of each trajectory generate")
    parser.add_argument("--cache", type=Path, default=ROOT / "runs" / "quality", help="classifier cache folder")
    parser.add_argument(
        "--skip", default="", help="comma-separated parts to leave out: mood, trajectory, grid, continue"
    )
    parser.add_argument("--bars", type=int, default=4, help="length of each tempo-and-key generate")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    from reverie.models.audio import load_audio, to_mid
    from reverie.models.pipeline import load_pipeline

    pipe = load_pipeline(args.model)
    clips = read_manifest(args.corpus)
    clf, _ = classifier_for(clips, args.corpus, pipe.styles, CROP_SECONDS, 0, args.cache)
    result: dict = {"bars": BARS}

    # The listener's own error on held-out corpus clips of each style.
    own = []
    for clip in [c for c in clips if c.split == "heldout" and c.style in STYLE_POINTS][:60]:
        audio = load_audio(clip.audio)
        own.append(axis_errors(STYLE_POINTS[clip.style], estimate(clf, to_mid(audio), audio.sample_rate)))
    result["listener_heldout"] = np.mean(own, axis=0).tolist()
    print(f"listener on {len(own)} held-out corpus clips: distance {result['listener_heldout'][0]:.3f}")

    skip = set(filter(None, args.skip.split(",")))
    if "mood" not in skip:
        mood_as_asked(pipe, clf, args, result)
    if "trajectory" not in skip:
        trajectory(pipe, clf, args, result)
    if "grid" not in skip:
        if not pipe.unet.config.get("grid", False):
            print("\ntempo and key: not measured, this model was trained without the grid (reverie train --grid)")
        else:
            grid_controls(pipe, clips, args, result)
    if "continue" not in skip:
        result["continue_tempo"] = continue_tempo(pipe, clips, known_tempos(args.corpus), args)
        print(
            f"\ncontinue keeps the input's tempo (within 4%): {result['continue_tempo']:.2f} (bar >= {BARS['tempo']})"
        )
    return write_json(args.json, result)


def mood_as_asked(pipe, clf, args, result: dict) -> None:
    styles, rate, rows = pipe.styles, RATE, []
    for mood in (*styles, *BETWEEN):
        asked = parse_mood(mood, styles).point(0.0)
        for seed in range(args.seeds):
            out = pipe.generate(args.seconds, mood=mood, seed=seed, sample_rate=rate, channels=1)
            found = estimate(clf, out.samples[0], rate)
            rows.append((mood, seed, asked, found, *axis_errors(asked, found)))
    print(f"\n{'mood':<14}{'asked':>16}{'found (mean)':>18}{'distance':>10}{'|dv|':>7}{'|da|':>7}")
    by_mood = {}
    for mood in (*styles, *BETWEEN):
        mine = [r for r in rows if r[0] == mood]
        found = np.mean([r[3] for r in mine], axis=0)
        d, dv, da = (float(np.mean([r[k] for r in mine])) for k in (4, 5, 6))
        by_mood[mood] = dict(asked=mine[0][2], found=found.tolist(), distance=d, valence=dv, arousal=da)
        asked = mine[0][2]
        print(
            f"{mood:<14}{asked[0]:>8.2f},{asked[1]:>6.2f}{found[0]:>10.2f},{found[1]:>6.2f}{d:>10.3f}{dv:>7.3f}{da:>7.3f}"
        )
    result["mood"] = by_mood
    mood_error = float(np.mean([(r[5] + r[6]) / 2 for r in rows]))
    result["mood_error"] = mood_error
    print(f"mood as asked: mean axis error {mood_error:.3f} (bar <= {BARS['mood_error']})")


def trajectory(pipe, clf, args, result: dict) -> None:
    styles, rate = pipe.styles, RATE

    curve = parse_mood(args.trajectory, styles)
    seconds = args.minutes * 60
    errors, minutes, steps, joins, contrasts, t_spent = [], [], [], [], [], 0.0
    for seed in range(args.seeds):
        t0 = time.perf_counter()
        mono = pipe.generate(seconds, mood=args.trajectory, seed=seed, sample_rate=rate, channels=1).samples[0]
        t_spent += time.perf_counter() - t0
        steps.append(float(loudness_steps(mono, rate).max()))
        joins.append(join_steps(pipe, mono, rate, seconds))
        contrasts.append(join_contrast(pipe, mono, rate, seconds))
        for minute in range(int(args.minutes)):
            part = mono[minute * 60 * rate : (minute + 1) * 60 * rate]
            asked = np.mean([curve.point(minute * 60 + s) for s in np.arange(0.5, 60, 1.0)], axis=0)
            found = estimate(clf, part, rate)
            d, dv, da = axis_errors(asked, found)
            errors.append((dv + da) / 2)
            minutes.append(dict(seed=seed, minute=minute, asked=asked.tolist(), found=list(found)))
    print(f"\ntrajectory {args.trajectory!r}, {args.minutes:g} min x {args.seeds} seeds ({t_spent:.0f} s):")
    for m in minutes:
        print(
            f"  seed {m['seed']} minute {m['minute']}: asked {m['asked'][0]:.2f},{m['asked'][1]:.2f}"
            f"  found {m['found'][0]:.2f},{m['found'][1]:.2f}"
        )
    trajectory_error = float(np.mean(errors))
    result.update(trajectory_error=trajectory_error, trajectory_minutes=minutes)
    print(f"trajectory following: mean axis error {trajectory_error:.3f} (bar <= {BARS['trajectory_error']})")

    # The steady references: one piece of each style the trajectory names, at the same seeds and length.
    named = {s for _, weights in curve.entries for s, w in zip(styles, weights) if w == 1.0}
    steady, steady_joins = [], []
    for name in sorted(named):
        for seed in range(args.seeds):
            mono = pipe.generate(seconds, mood=name, seed=seed, sample_rate=rate, channels=1).samples[0]
            steady.append(loudness_steps(mono, rate).max())
            steady_joins.append(join_steps(pipe, mono, rate, seconds))
    ratio = float(np.median(steps) / np.median(steady))
    join_ratio = float(np.median(joins) / np.median(steady_joins))
    result.update(
        seam_steps_db=steps, steady_steps_db=steady, seam_ratio=ratio, join_steps_db=joins, join_ratio=join_ratio
    )
    print(
        f"largest level step between seconds: moving {np.median(steps):.2f} dB, one mood ({', '.join(sorted(named))}) "
        f"{np.median(steady):.2f} dB (median over seeds): ratio {ratio:.2f} (bar <= {BARS['seam_ratio']})"
    )
    print(
        f"largest level step across a window join (0.5 s either side): moving {np.median(joins):.2f} dB, one mood "
        f"{np.median(steady_joins):.2f} dB: ratio {join_ratio:.2f} (bar <= {BARS['seam_ratio']})"
    )
    median_ratio, p95_ratio = np.median(contrasts, axis=0)
    result.update(join_contrast=contrasts, join_median_ratio=float(median_ratio), join_p95_ratio=float(p95_ratio))
    print(
        f"level steps across the joins over the same piece's steps elsewhere (median over seeds): median "
        f"{median_ratio:.2f}, p95 {p95_ratio:.2f} (a seam stands out above 1; bar <= {BARS['seam_ratio']})"
    )


# Krumhansl-Kessler key profiles (C major, C minor), as in models/melody/key.py's estimator, rebuilt here so
# the listener shares nothing with the model's code.
KK_MAJOR = np.array([6.35, 2.23, 3.48, 2.33, 4.38, 4.09, 2.52, 5.19, 2.39, 3.66, 2.29, 2.88])
KK_MINOR = np.array([6.33, 2.68, 3.52, 5.38, 2.60, 3.53, 2.54, 4.75, 3.98, 2.69, 3.34, 3.17])
NOTE_NAMES = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")
ASKED_BPM = (60, 80, 100, 120, 140, 160)
TEMPO_TOLERANCE = 0.04


def tempo_of(mono: np.ndarray, sample_rate: int) -> float:
    import librosa

    onsets = librosa.onset.onset_strength(y=mono, sr=sample_rate)
    return float(librosa.feature.tempo(onset_envelope=onsets, sr=sample_rate, aggregate=np.median)[0])


def key_of(mono: np.ndarray, sample_rate: int) -> tuple[int, bool]:
    """(tonic pitch class, minor) whose profile best correlates with the clip's mean CQT chroma."""
    import librosa

    # tuning=0: librosa's tuning estimate segfaults under numba 0.68 on AVX-512 CPUs (models/corpus/labels.py)
    chroma = librosa.feature.chroma_cqt(y=mono, sr=sample_rate, tuning=0.0).mean(axis=1)
    scores = [
        (np.corrcoef(chroma, np.roll(profile, tonic))[0, 1], tonic, minor)
        for minor, profile in ((False, KK_MAJOR), (True, KK_MINOR))
        for tonic in range(12)
    ]
    _, tonic, minor = max(scores)
    return tonic, minor


def tempo_hit(found: float, asked: float) -> bool:
    return abs(found / asked - 1.0) <= TEMPO_TOLERANCE


def loop_seam(mono: np.ndarray, sample_rate: int) -> tuple[float, float]:
    """(spectral, level) jump at the loop point over the clip's own p95 of that jump between neighbours."""
    import librosa

    n_fft = hop = 2048  # neighbouring, non-overlapping 46 ms frames, so the loop point is between two
    half = (len(mono) // 2) // hop * hop
    played = np.concatenate([mono[-half:], mono[:half]])  # the end, then the start again
    frames = librosa.util.frame(played, frame_length=n_fft, hop_length=hop)
    mel = np.log(
        librosa.feature.melspectrogram(
            S=np.abs(np.fft.rfft(frames * np.hanning(n_fft)[:, None], axis=0)) ** 2, sr=sample_rate
        )
        + 1e-8
    )
    level = 10 * np.log10(np.mean(frames**2, axis=0) + 1e-10)
    spectral, loud = np.abs(np.diff(mel, axis=1)).mean(axis=0), np.abs(np.diff(level))
    seam = half // hop - 1  # the change from the frame ending at the loop point to the one starting there
    inside = np.ones(len(spectral), bool)
    inside[seam] = False
    audible = level[1:] > level.max() - 50
    return (
        float(spectral[seam] / np.percentile(spectral[inside & audible], 95)),
        float(loud[seam] / np.percentile(loud[inside & audible], 95)),
    )


def key_name(tonic: int, minor: bool) -> str:
    return f"{NOTE_NAMES[tonic]} {'minor' if minor else 'major'}"


def known_tempos(corpus: Path) -> dict[str, float]:
    import csv

    with open(corpus / "manifest.csv", newline="") as f:
        return {r["clip_id"]: float(r["tempo_bpm"]) for r in csv.DictReader(f) if r.get("tempo_bpm")}


def grid_controls(pipe, clips, args, result: dict) -> None:
    from reverie.models.audio import load_audio, to_mid
    from reverie.models.grid import from_midi

    # The listeners on held-out corpus clips of known tempo (within the asked range) and key.
    bpm_of = known_tempos(args.corpus)
    tempo_ok, key_ok = [], []
    for clip in [c for c in clips if c.split == "heldout" and c.clip_id in bpm_of]:
        audio = load_audio(clip.audio)
        mono = to_mid(audio)
        if ASKED_BPM[0] <= bpm_of[clip.clip_id] <= ASKED_BPM[-1]:
            tempo_ok.append(tempo_hit(tempo_of(mono, audio.sample_rate), bpm_of[clip.clip_id]))
        _, key = from_midi(clip.midi)
        if key is not None:
            key_ok.append(key_of(mono, audio.sample_rate) == (key.tonic, key.minor))
    result["listener_tempo"], result["listener_key"] = float(np.mean(tempo_ok)), float(np.mean(key_ok))
    print(
        f"\nlisteners on held-out corpus clips: tempo within 4% {np.mean(tempo_ok):.2f} ({len(tempo_ok)} clips), "
        f"key {np.mean(key_ok):.2f} ({len(key_ok)} clips)"
    )

    rate, rows, t_spent, audio_s = RATE, [], 0.0, 0.0
    for i, style in enumerate(pipe.styles):
        minor = style in ("sad", "tense")  # the corpus's modes (models/corpus/styles.py)
        for j, bpm in enumerate(ASKED_BPM):
            for seed in range(args.seeds):
                tonic = (5 * seed + 7 * i + 3 * j) % 12
                for other_mode in (False, True) if j % 3 == 0 else (False,):
                    key = (tonic, minor != other_mode)
                    t0 = time.perf_counter()
                    out = pipe.generate(
                        None,
                        bars=args.bars,
                        bpm=str(bpm),
                        key=key_name(*key),
                        style=style,
                        seed=seed,
                        sample_rate=rate,
                        channels=1,
                    )
                    t_spent += time.perf_counter() - t0
                    mono = out.samples[0]
                    audio_s += len(mono) / rate
                    rows.append(
                        dict(
                            style=style,
                            bpm=bpm,
                            seed=seed,
                            key=key,
                            other_mode=other_mode,
                            seconds=len(mono) / rate,
                            tempo=tempo_of(mono, rate),
                            found_key=key_of(mono, rate),
                            seam=loop_seam(mono, rate),
                        )
                    )
    own = [r for r in rows if not r["other_mode"]]
    tempo = float(np.mean([tempo_hit(r["tempo"], r["bpm"]) for r in own]))
    # the ask of another case (the next tempo up, another key): what ignoring the ask scores
    chance_tempo = float(np.mean([tempo_hit(r["tempo"], ASKED_BPM[(ASKED_BPM.index(r["bpm"]) + 3) % 6]) for r in own]))
    key = float(np.mean([tuple(r["found_key"]) == tuple(r["key"]) for r in own]))
    chance_key = float(np.mean([tuple(r["found_key"]) == ((r["key"][0] + 5) % 12, r["key"][1]) for r in own]))
    crossed = [r for r in rows if r["other_mode"]]
    key_crossed = float(np.mean([tuple(r["found_key"]) == tuple(r["key"]) for r in crossed]))
    seams = np.array([max(r["seam"]) for r in own])
    print(f"\n{'style':<8}{'tempo hits':>12}{'key hits':>10}{'seam (median)':>15}")
    for style in pipe.styles:
        mine = [r for r in own if r["style"] == style]
        print(
            f"{style:<8}{np.mean([tempo_hit(r['tempo'], r['bpm']) for r in mine]):>12.2f}"
            f"{np.mean([tuple(r['found_key']) == tuple(r['key']) for r in mine]):>10.2f}"
            f"{np.median([max(r['seam']) for r in mine]):>15.2f}"
        )
    print(f"{'bpm':<8}" + "".join(f"{b:>6}" for b in ASKED_BPM))
    print(
        f"{'hits':<8}"
        + "".join(f"{np.mean([tempo_hit(r['tempo'], b) for r in own if r['bpm'] == b]):>6.2f}" for b in ASKED_BPM)
    )
    print(
        f"{'found':<8}" + "".join(f"{np.median([r['tempo'] for r in own if r['bpm'] == b]):>6.0f}" for b in ASKED_BPM)
    )
    result.update(
        {
            "grid_rows": rows,
            "tempo": tempo,
            "tempo_chance": chance_tempo,
            "key": key,
            "key_chance": chance_key,
            "key_other_mode": key_crossed,
            "loop_seam_median": float(np.median(seams)),
            "loop_seam_worst": float(seams.max()),
            "grid_speed": audio_s / t_spent,
        }
    )
    print(
        f"tempo within 4% of asked: {tempo:.2f} of {len(own)} "
        f"(another case's tempo: {chance_tempo:.2f}; bar >= {BARS['tempo']})\n"
        f"key as asked, the style's mode: {key:.2f} (another key: {chance_key:.2f}; bar >= {BARS['key']}); "
        f"the other mode: {key_crossed:.2f} of {len(crossed)}\n"
        f"loop seam over the clip's own p95 change: median {np.median(seams):.2f}, worst {seams.max():.2f} "
        f"(bar <= {BARS['loop_seam']})\n"
        f"generated at {audio_s / t_spent:.1f}x real time ({args.bars} bars each, {RATE} Hz mono)"
    )


def continue_tempo(pipe, clips, bpm_of: dict, args, session: float = 8.0, new: float = 8.0) -> float:
    """The share of held-out corpus clips (of known tempo, 60-160 bpm, that the listener hears right) whose
    continuation's new seconds the listener hears at the clip's tempo."""
    from reverie.models.audio import load_audio, to_mid

    hits = []
    for clip in [c for c in clips if c.split == "heldout" and c.clip_id in bpm_of]:
        bpm = bpm_of[clip.clip_id]
        audio = load_audio(clip.audio)
        mono = to_mid(audio)[: int(session * audio.sample_rate)]
        if not ASKED_BPM[0] <= bpm <= ASKED_BPM[-1] or not tempo_hit(tempo_of(mono, audio.sample_rate), bpm):
            continue
        cut = type(audio)(audio.samples[:, : int(session * audio.sample_rate)], audio.sample_rate)
        out = pipe.continue_(cut, new, seed=len(hits))
        tail = to_mid(out)[cut.samples.shape[1] :]
        hits.append(tempo_hit(tempo_of(tail, out.sample_rate), bpm))
    print(f"continue: {len(hits)} held-out clips the listener hears at their tempo")
    return float(np.mean(hits)) if hits else float("nan")


if __name__ == "__main__":
    entry_point(main)
