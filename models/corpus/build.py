"""Build the corpus: split scores, plan clips, render them in parallel, write the manifest.

Layout (paths in the manifest are relative to OUT):
    OUT/<split>/<style>/<clip_id>.wav   stereo, 44100 Hz, PCM_16, exactly --clip-seconds long
    OUT/<split>/<style>/<clip_id>.mid   the melody heard in the wav, one tempo, time 0 = sample 0
    OUT/train/<clip_id>.flac            a stretch of a real recording (the training tracks of real.py and
                                        lmms.py): no style label, so it trains the unconditional branch
    OUT/train/<clip_id>.mid             its tempo, metre and key, where two listeners agree (labels.py)
    OUT/manifest.csv                    one row per clip, train rows first

Each synthetic part (melody, chords, bass) is rendered on its own and placed in the stereo field
(`STAGE`), then the style's chain runs in stereo (its reverb is a stereo room).

Manifest columns: clip_id; split (train | heldout); style; audio; midi;
source_score (music21 corpus path, "#N" = tune N of a multi-tune file; for a real
recording, package:file@start seconds);
transposition (semitones added to the score after mode re-spelling);
tempo_bpm (quarter notes per minute, equal to the MIDI file's tempo);
mode (major | minor, the key the clip was re-spelled to); programs
("melody;chords;bass" General MIDI programs, 0-based); seconds.

The split is by score file: a held-out file never appears in train.

Everything random comes from generators seeded by (seed, split, clip number)
or (seed, score), never from the order in which workers finish, so a seed
gives bit-identical files whatever --jobs is.
"""

from __future__ import annotations

import csv
import multiprocessing
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from ..errors import ReverieError
from . import arrange, drums, effects, midi, scores, synth
from .styles import RECIPES, STYLES, Style

SAMPLE_RATE = 44100
CHANNELS = 2
# Where each part sits (-1 left .. 1 right): the melody near the middle, the chords off to a side
# (either), the bass in the middle, as a mix engineer would start.
STAGE = {"melody": (-0.25, 0.25), "chords": (0.3, 0.7), "bass": (-0.1, 0.1)}
REAL_CLIPS_PER_TRACK = 4
ALL = "all"  # --real-clips all: every whole stretch of every training track
SPLITS = ("train", "heldout")
COLUMNS = (
    "clip_id",
    "split",
    "style",
    "audio",
    "midi",
    "source_score",
    "transposition",
    "tempo_bpm",
    "mode",
    "programs",
    "seconds",
)
CANDIDATES = 8  # scores a clip may try before giving up (some files fail to parse or are too short)


@dataclass(frozen=True)
class Clip:
    clip_id: str
    split: str
    index: int  # clip number within the split
    style: str
    candidates: tuple[int, ...]  # indices into the sorted score list, first choice first


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "reverie" / "corpus-scores"


def split_scores(names: list[str], heldout: float, seed: int) -> dict[str, list[int]]:
    """Disjoint score indices per split; a seeded shuffle, so the split is the same for the same seed."""
    order = np.random.default_rng([seed, 0]).permutation(len(names))
    n_held = min(len(names) - 1, max(1, round(heldout * len(names)))) if heldout > 0 else 0
    return {"heldout": sorted(order[:n_held].tolist()), "train": sorted(order[n_held:].tolist())}


def plan(names: list[str], hours: float, clip_seconds: float, heldout: float, seed: int) -> list[Clip]:
    total = max(1, round(hours * 3600 / clip_seconds))
    n_held = min(total - 1, max(1, round(total * heldout))) if heldout > 0 and total > 1 else 0
    counts = {"train": total - n_held, "heldout": n_held}
    pools = split_scores(names, heldout, seed)
    clips = []
    for s, split in enumerate(SPLITS):
        pool = pools[split]
        if counts[split] and not pool:
            raise ReverieError(f"no scores left for the {split} split; lower --heldout", field="heldout")
        # Each clip's first choice is a different score (as long as there are enough);
        # its fallbacks are scores no other clip starts from when the pool allows.
        order = np.random.default_rng([seed, 1, s]).permutation(pool).tolist()
        n = counts[split]
        for k in range(n):
            candidates = tuple(order[(k + r * n) % len(order)] for r in range(CANDIDATES))
            style = STYLES[k % len(STYLES)]
            clips.append(Clip(f"{split}_{style}_{k:05d}", split, k, style, candidates))
    return clips


def build(
    out_dir: Path,
    hours: float = 2.0,
    seed: int = 0,
    jobs: int = 2,
    clip_seconds: float = 15.0,
    heldout: float = 0.1,
    cache_dir: Path | None = None,
    progress: bool = True,
    soundfont: str = "auto",
    real_clips: int | str = 0,
    lmms: bool = True,
    drum_kits: bool = True,
) -> list[dict]:
    """Render the corpus into `out_dir` (see the module's docstring); `real_clips` stretches of each
    installed real training track ("all": every whole stretch) are added without a style label, LMMS's
    demo projects among them if `lmms`; the rhythmic styles get a drummer on the installed
    hydrogen-drumkits if `drum_kits`."""
    soundfont_file = check(out_dir, hours, jobs, clip_seconds, heldout, soundfont, real_clips)
    out_dir = Path(out_dir)
    _prepare(out_dir)
    names = scores.list_scores()
    clips = plan(names, hours, clip_seconds, heldout, seed)
    for split in SPLITS:
        for style in STYLES:
            (out_dir / split / style).mkdir(parents=True, exist_ok=True)
    task = dict(
        out_dir=str(out_dir),
        seed=seed,
        clip_seconds=clip_seconds,
        names=names,
        cache_dir=str(cache_dir) if cache_dir else None,
        soundfont=soundfont_file,
        drum_kits=drum_kits,
    )
    rows: list[dict] = []
    bar = _progress(len(clips), progress)
    if jobs == 1:
        for clip in clips:
            rows.append(_make_clip(clip, task))
            bar.update(1)
    else:
        for row in _in_workers(jobs, _make_clip_in_worker, [(clip,) for clip in clips], _init_worker, (task,)):
            rows.append(row)
            bar.update(1)
    bar.close()
    if real_clips:
        from . import lmms as lmms_projects
        from . import real

        tracks = real.tracks("train")
        if lmms:
            renders = (Path(cache_dir) if cache_dir else default_cache_dir()).parent / "lmms-renders"
            tracks += lmms_projects.tracks(renders, "train")
        rows += _real_clips(out_dir, real_clips, clip_seconds, tracks, jobs)
    rows.sort(key=lambda r: (SPLITS.index(r["split"]), r["clip_id"]))
    _write_manifest(out_dir / "manifest.csv", rows)
    return rows


def check(
    out_dir: Path, hours: float, jobs: int, clip_seconds: float, heldout: float, soundfont: str, real_clips: int | str
) -> str:
    """Refuse bad settings, or a folder with someone else's files, with a message naming what is allowed;
    the soundfont file to use."""
    out_dir = Path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise ReverieError(f"OUT_DIR is a file, not a folder: {out_dir}", field="out_dir")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / "manifest.csv").exists():
        raise ReverieError(
            f"OUT_DIR {out_dir} is not empty and holds no corpus (no manifest.csv); choose an empty folder",
            field="out_dir",
        )
    if not hours > 0:
        raise ReverieError(f"hours must be greater than 0, got {hours}", field="hours")
    if not 1 <= jobs <= 64:
        raise ReverieError(f"jobs must be between 1 and 64, got {jobs}", field="jobs")
    if not 1 <= clip_seconds <= 600:
        raise ReverieError(f"clip-seconds must be between 1 and 600, got {clip_seconds}", field="clip_seconds")
    if not 0 <= heldout < 1:
        raise ReverieError(f"heldout must be a fraction in [0, 1), got {heldout}", field="heldout")
    if real_clips != ALL and not (isinstance(real_clips, int) and 0 <= real_clips <= 100):
        raise ReverieError(f"real-clips must be a count from 0 to 100 or 'all', got {real_clips!r}", field="real_clips")
    return synth.soundfont_path(soundfont)


def _prepare(out_dir: Path) -> None:
    """A previous corpus in `out_dir` (checked by `check`) is replaced."""
    if (out_dir / "manifest.csv").exists():
        for split in SPLITS:
            shutil.rmtree(out_dir / split, ignore_errors=True)
        (out_dir / "manifest.csv").unlink()
    out_dir.mkdir(parents=True, exist_ok=True)


_TASK: dict = {}


def _init_worker(task: dict) -> None:
    _TASK.update(task)


def _make_clip_in_worker(clip: Clip) -> dict:
    return _make_clip(clip, _TASK)


def _make_clip(clip: Clip, task: dict) -> dict:
    names = task["names"]
    cache_dir = Path(task["cache_dir"]) if task["cache_dir"] else None
    style = RECIPES[clip.style]
    seconds = task["clip_seconds"]
    reasons = []
    for index in clip.candidates:
        rel = names[index]
        numbers = scores.tune_numbers(rel)
        # One tune per multi-tune file, the same one for a seed wherever the file is used.
        number = int(np.random.default_rng([task["seed"], 2, index]).choice(numbers)) if numbers else None
        try:
            score = scores.load_score(rel, number, cache_dir)
            # A fresh generator per attempt: a failed candidate leaves no trace in the result.
            rng = np.random.default_rng([task["seed"], 3, SPLITS.index(clip.split), clip.index])
            performance = arrange.arrange(score, style, seconds, rng)
            audio = _mix(performance, seconds, task["soundfont"], style, rng, task["drum_kits"])
            audio = effects.process(audio, style, SAMPLE_RATE, rng)
        except scores.ScoreUnusable as exc:
            reasons.append(str(exc))
            continue
        return _write_clip(clip, task, score.score_id, performance, audio)
    raise ReverieError(f"no usable score for {clip.clip_id} after {len(reasons)} tries: {reasons[-1]}")


def _mix(performance: arrange.Performance, seconds: float, soundfont: str, style: Style, rng, drum_kits: bool):
    """(2, frames): each part rendered alone, the accompaniment turned down to the style's margin, all
    placed; in a rhythmic style, most of the time a drummer at the style's level under the melody."""
    parts = [
        synth.render(performance, seconds, SAMPLE_RATE, channels=(channel,), soundfont=soundfont)
        for channel in (arrange.MELODY, arrange.CHORDS, arrange.BASS)
    ]
    gain = effects.accompaniment_gain(parts[0], parts[1] + parts[2], style.melody_margin_db)
    side = 1 if rng.random() < 0.5 else -1
    places = [float(rng.uniform(*STAGE["melody"])), side * float(rng.uniform(*STAGE["chords"]))]
    places.append(float(rng.uniform(*STAGE["bass"])))
    gains = (1.0, gain, gain)
    mix = sum(effects.pan(part * g, place) for part, g, place in zip(parts, gains, places))
    # Only a rhythmic style draws from rng here, so the other styles' clips stay as they were.
    kits = [kit for kit in drums.kits() if kit.name in style.drum_kits] if style.groove and drum_kits else []
    if kits and rng.random() < style.drum_chance:
        kit = kits[int(rng.integers(len(kits)))]
        hits = drums.groove(style.groove, performance.bpm, performance.bar, seconds, rng)
        kit_audio = drums.render(kit, hits, seconds, SAMPLE_RATE)
        level = effects.rms(parts[0]) * 10 ** (float(rng.uniform(*style.drums_db)) / 20)
        mix = mix + kit_audio * (level / max(effects.rms(kit_audio.mean(axis=0)), 1e-12))
    return mix


def _real_clips(out_dir: Path, per_track: int | str, seconds: float, tracks: list, jobs: int = 1) -> list[dict]:
    """`per_track` evenly spread stretches of each of `tracks` (real.Track), or "all": every whole
    stretch, end to end. No style label; a tempo, metre and key where two listeners agree (labels.py)."""
    work = [(out_dir, per_track, seconds, number, track) for number, track in enumerate(tracks)]
    if jobs == 1:
        return [row for item in work for row in _track_clips(*item)]
    return [row for rows in _in_workers(jobs, _track_clips, work) for row in rows]


def _in_workers(jobs: int, fn, work: list[tuple], initializer=None, initargs: tuple = ()):
    """`fn(*item)` for each item of `work` in `jobs` processes, results in order. A worker that dies
    (a crash inside a native library) fails the build by name: multiprocessing.Pool would replace it
    and wait for the lost result forever."""
    from concurrent.futures import ProcessPoolExecutor
    from concurrent.futures.process import BrokenProcessPool

    # spawn, not fork: the parent may hold threads (tqdm, BLAS) that a fork would copy half-way.
    context = multiprocessing.get_context("spawn")
    try:
        with ProcessPoolExecutor(jobs, mp_context=context, initializer=initializer, initargs=initargs) as pool:
            yield from pool.map(fn, *zip(*work))
    except BrokenProcessPool as err:
        raise ReverieError(
            f"a corpus worker process died ({err}); --jobs 1 runs in this process and shows where"
        ) from err


def _track_clips(out_dir: Path, per_track: int | str, seconds: float, number: int, track) -> list[dict]:
    from ..audio import resample
    from . import labels, real

    length = sf.info(str(track.path)).duration
    if length < seconds:
        return []
    if per_track == ALL:
        starts = [k * seconds for k in range(int(length // seconds))]
    else:
        starts = [(length - seconds) * (k + 1) / (per_track + 1) for k in range(per_track)]
    rows = []
    for k, start in enumerate(starts):
        samples, rate = real.read(track.path, start, seconds)
        if rate != SAMPLE_RATE:
            samples = resample(samples, rate, SAMPLE_RATE)
        samples = np.repeat(samples, CHANNELS, 0) if len(samples) == 1 else samples[:CHANNELS]
        clip_id = f"train_real_{number:03d}_{k}"
        sf.write(out_dir / "train" / f"{clip_id}.flac", samples.T, SAMPLE_RATE, subtype="PCM_16")
        heard = labels.agreed(samples, SAMPLE_RATE)
        row = {
            **dict.fromkeys(COLUMNS, ""),
            "clip_id": clip_id,
            "split": "train",
            "audio": f"train/{clip_id}.flac",
            "source_score": f"{track.package}:{track.path.name}@{start:.1f}",
            "seconds": f"{seconds:g}",
        }
        if heard.grid is not None or heard.key is not None:
            midi.write_labels(heard.grid, heard.key, out_dir / "train" / f"{clip_id}.mid")
            row["midi"] = f"train/{clip_id}.mid"
            row["tempo_bpm"] = "" if heard.grid is None else f"{heard.grid.steady_bpm:g}"
            row["mode"] = "" if heard.key is None else ("minor" if heard.key.minor else "major")
        rows.append(row)
    return rows


def _write_clip(clip: Clip, task: dict, score_id: str, perf: arrange.Performance, audio: np.ndarray) -> dict:
    out_dir = Path(task["out_dir"])
    rel_wav = f"{clip.split}/{clip.style}/{clip.clip_id}.wav"
    rel_mid = f"{clip.split}/{clip.style}/{clip.clip_id}.mid"
    sf.write(out_dir / rel_wav, audio.T, SAMPLE_RATE, subtype="PCM_16")
    midi.write_melody(perf, task["clip_seconds"], out_dir / rel_mid)
    return {
        "clip_id": clip.clip_id,
        "split": clip.split,
        "style": clip.style,
        "audio": rel_wav,
        "midi": rel_mid,
        "source_score": score_id,
        "transposition": perf.transposition,
        "tempo_bpm": f"{perf.bpm:.4f}",
        "mode": perf.mode,
        "programs": ";".join(str(p) for p in perf.programs),
        "seconds": f"{task['clip_seconds']:g}",
    }


def _write_manifest(path: Path, rows: list[dict]) -> None:
    tmp = path.with_suffix(".csv.tmp")
    with open(tmp, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="clip", desc="corpus", disable=None if enabled else True)  # None: off in a log


def hours_of(rows: list[dict]) -> float:
    return sum(float(r["seconds"]) for r in rows) / 3600
