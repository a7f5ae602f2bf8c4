"""The corpus builder, end to end on a tiny real corpus (music21 scores, tinysoundfont, pedalboard).

Three small builds are shared by the module: A (2 workers, fresh score cache),
B (same seed, 1 worker, reading the cache A wrote) and a smaller C (another seed).
"""

from __future__ import annotations

import csv
from pathlib import Path

import mido
import numpy as np
import pytest
import soundfile as sf
import torch
from click.testing import CliRunner

from reverie.models.corpus import arrange, build, effects, scores
from reverie.models.corpus.styles import ANY_TEMPO, RECIPES, STYLES
from reverie.models.melody import Melody, audio_chroma, pitch_class_accuracy
from reverie.models.melody.midi import read_midi

CLIP = 5.0
SR = build.SAMPLE_RATE
TINY = dict(hours=0.02, clip_seconds=CLIP, heldout=0.3, progress=False)  # 14 clips: 10 train, 4 heldout


@pytest.fixture(scope="module")
def corpora(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    cache = root / "cache"
    build.build(root / "a", seed=3, jobs=2, cache_dir=cache, **TINY)
    build.build(root / "b", seed=3, jobs=1, cache_dir=cache, **TINY)
    build.build(root / "c", seed=4, jobs=2, cache_dir=cache, **{**TINY, "hours": 0.0125})  # 9 clips
    return root


def manifest(folder: Path) -> list[dict]:
    with open(folder / "manifest.csv", newline="") as f:
        return list(csv.DictReader(f))


def melody_notes(path: Path) -> tuple[list[tuple[float, float, int]], list[int]]:
    """(start s, end s, key) of every note, and every tempo the file sets."""
    midi = mido.MidiFile(path)
    tempos = [m.tempo for track in midi.tracks for m in track if m.type == "set_tempo"]
    now, held, notes = 0.0, {}, []
    for msg in midi:  # iterating a MidiFile gives delta times in seconds
        now += msg.time
        if msg.type == "note_on" and msg.velocity > 0:
            held[msg.note] = now
        elif msg.type in ("note_on", "note_off") and msg.note in held:
            notes.append((held.pop(msg.note), now, msg.note))
    return sorted(notes), tempos


def test_layout_matches_manifest(corpora):
    a = corpora / "a"
    rows = manifest(a)
    assert list(rows[0]) == list(build.COLUMNS)
    assert len(rows) == 14
    assert sum(r["split"] == "heldout" for r in rows) == 4
    assert {r["style"] for r in rows if r["split"] == "train"} == set(STYLES)
    assert len({r["clip_id"] for r in rows}) == len(rows)
    listed = set()
    for r in rows:
        for key, suffix in (("audio", ".wav"), ("midi", ".mid")):
            rel = r[key]
            assert rel == f"{r['split']}/{r['style']}/{r['clip_id']}{suffix}"
            assert (a / rel).is_file()
            listed.add(rel)
        assert float(r["seconds"]) == CLIP
    on_disk = {p.relative_to(a).as_posix() for p in a.rglob("*") if p.is_file()} - {"manifest.csv"}
    assert on_disk == listed


def test_audio_format_and_level(corpora):
    rows = manifest(corpora / "a")
    peaks = {}
    for r in rows:
        info = sf.info(corpora / "a" / r["audio"])
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (SR, 2, "PCM_16", int(CLIP * SR))
        x, _ = sf.read(corpora / "a" / r["audio"])
        peak_db = 20 * np.log10(np.abs(x).max())
        assert -16 < peak_db <= -0.99, (r["clip_id"], peak_db)
        peaks.setdefault(r["style"], []).append(peak_db)
    # sleep keeps its softness after normalisation
    assert max(peaks["sleep"]) < min(peaks["happy"] + peaks["tense"]) - 5


def test_manifest_values_follow_the_recipes(corpora):
    for r in manifest(corpora / "a"):
        recipe = RECIPES[r["style"]]
        bpm = float(r["tempo_bpm"])
        # the style's own range, or the share played at any tempo (styles.ANY_TEMPO)
        assert any(lo - 0.01 <= bpm <= hi + 0.01 for lo, hi in (recipe.tempo, ANY_TEMPO)), (r["clip_id"], bpm)
        assert r["mode"] == recipe.mode
        melody_program, chord_program, bass_program = (int(p) for p in r["programs"].split(";"))
        assert melody_program in recipe.melody_programs and chord_program in recipe.chord_programs
        assert bass_program in recipe.bass_programs
        assert r["source_score"].split("#")[0] in scores.list_scores()
        int(r["transposition"])


def test_midi_is_the_melody_inside_the_clip(corpora):
    for r in manifest(corpora / "a"):
        notes, tempos = melody_notes(corpora / "a" / r["midi"])
        assert len(tempos) == 1 and abs(60_000_000 / tempos[0] - float(r["tempo_bpm"])) < 1e-3
        assert len(notes) >= CLIP / 2.5, r["clip_id"]
        for start, end, _key in notes:
            assert 0 <= start < end <= CLIP + 1e-6
        for (_s1, e1, _), (s2, _, _) in zip(notes, notes[1:]):
            assert e1 <= s2 + 1e-6, f"{r['clip_id']}: melody notes overlap"
        lo, hi = RECIPES[r["style"]].register
        assert lo - 12 <= np.median([k for _, _, k in notes]) <= hi + 12
        # the project's own MIDI reader (used by training) sees the same notes
        theirs = [(n.start, n.end, n.pitch) for n in read_midi(corpora / "a" / r["midi"])]
        assert len(theirs) == len(notes)
        assert np.allclose(np.array(theirs), np.array(notes), atol=1e-6)


def test_audio_pitch_agrees_with_midi_melody(corpora):
    """Dominant pitch class of the audio (STFT chroma, 50 Hz-2 kHz) vs the MIDI melody's, frame by frame."""
    n, hop = 4096, 512
    freqs = np.fft.rfftfreq(n, 1 / SR)
    band = (freqs > 50) & (freqs < 2000)
    pitch_class = (np.round(12 * np.log2(freqs[band] / 440)) + 69).astype(int) % 12
    window = np.hanning(n)
    hits = tritone = total = 0
    for r in manifest(corpora / "a"):
        x = sf.read(corpora / "a" / r["audio"])[0].mean(axis=1)
        notes, _ = melody_notes(corpora / "a" / r["midi"])
        for start, end, key in notes:
            for centre in np.arange(start + 0.05, end - n / SR / 2, hop / SR):
                i = int(centre * SR) - n // 2
                if i < 0 or i + n > len(x):
                    continue
                chroma = np.bincount(pitch_class, np.abs(np.fft.rfft(x[i : i + n] * window))[band], 12)
                hits += chroma.argmax() == key % 12
                tritone += chroma.argmax() == (key + 6) % 12  # a wrong melody should score near zero
                total += 1
    assert total > 200
    assert hits / total > 0.5, (hits, total)
    assert tritone / total < 0.1


def test_the_melody_is_what_the_melody_metric_hears(corpora):
    """The quality report's metric on the corpus itself: a model can only follow a melody its data lets it hear."""
    rate = SR / 512
    scores = []
    for r in manifest(corpora / "a"):
        x = sf.read(corpora / "a" / r["audio"], dtype="float32")[0].mean(axis=1)
        n = int(len(x) / SR * rate)
        reference = Melody.from_midi(corpora / "a" / r["midi"]).chroma(rate, n)
        scores.append(pitch_class_accuracy(reference, audio_chroma(x, SR, rate, n)))
    assert np.mean(scores) > 0.8, scores
    assert np.min(scores) > 0.5, scores


def test_balance_turns_the_accompaniment_down_to_the_margin_and_never_up():
    t = np.arange(SR) / SR
    tune = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    backing = (0.4 * np.sin(2 * np.pi * 110 * t)).astype(np.float32)
    mixed = effects.balance(tune, backing, 18.0)
    below = 20 * np.log10(np.std(tune) / np.std(mixed - tune))
    assert below == pytest.approx(18.0, abs=0.01)
    quiet = backing * 0.01
    assert np.array_equal(effects.balance(tune, quiet, 18.0), tune + quiet)


def test_same_seed_same_bytes_other_seed_other_music(corpora):
    a, b, c = (corpora / x for x in "abc")
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert len(files) == 29
    for rel in files:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
    assert (a / "manifest.csv").read_bytes() != (c / "manifest.csv").read_bytes()
    x, _ = sf.read(a / "train/sleep/train_sleep_00000.wav")
    y, _ = sf.read(c / "train/sleep/train_sleep_00000.wav")
    assert not np.array_equal(x, y)


def test_heldout_scores_never_in_train(corpora):
    names = scores.list_scores()
    for folder, seed in (("a", 3), ("c", 4)):
        split = build.split_scores(names, 0.3, seed=seed)
        assert not set(split["train"]) & set(split["heldout"])
        assert sorted(split["train"] + split["heldout"]) == list(range(len(names)))
        rows = manifest(corpora / folder)
        used = {s: {r["source_score"].split("#")[0] for r in rows if r["split"] == s} for s in build.SPLITS}
        assert used["train"] and used["heldout"]
        assert not used["train"] & used["heldout"]
        for s in build.SPLITS:
            assert used[s] <= {names[i] for i in split[s]}
    assert build.split_scores(names, 0.3, seed=3) != build.split_scores(names, 0.3, seed=4)


def test_styles_differ_in_brightness_and_pace(corpora):
    """Spectral centroid of the music below the exciter's air (8 kHz): sleep (low-passed pads) sits
    well below happy (bright, high register)."""

    def centroid(path):
        x = sf.read(path)[0].mean(axis=1)
        freqs = np.fft.rfftfreq(len(x), 1 / SR)
        mag = np.abs(np.fft.rfft(x))[freqs < 8000]
        return float((freqs[freqs < 8000] * mag).sum() / mag.sum())

    rows = manifest(corpora / "a") + manifest(corpora / "c")
    by_style = {
        s: [centroid(corpora / d / r["audio"]) for d in "ac" for r in manifest(corpora / d) if r["style"] == s]
        for s in ("sleep", "happy")
    }
    assert max(by_style["sleep"]) < min(by_style["happy"])
    tempos = {s: [float(r["tempo_bpm"]) for r in rows if r["style"] == s] for s in STYLES}
    assert np.median(tempos["sleep"]) < np.median(tempos["happy"]) - 40


def _score(parts, bar=4.0):
    parts = tuple(tuple(p) for p in parts)
    return scores.ScoreNotes("test", parts, bar, max(on + d for p in parts for on, d, _ in p))


def test_skyline_keeps_the_top_voice_on_top():
    # soprano C major scale over a held bass and an alto that crosses above the soprano once
    soprano = [(float(i), 1.0, p) for i, p in enumerate([72, 74, 76, 77, 79, 81, 83, 84])]
    alto = [(0.0, 2.0, 67), (2.0, 1.0, 79), (3.0, 5.0, 65)]
    bass = [(0.0, 8.0, 48)]
    window = arrange._window(_score([soprano, alto, bass]), 0.0, 8.0)
    melody, accomp = arrange._skyline(window)
    assert [m for _, _, m, _ in melody] == [72, 74, 79, 77, 79, 81, 83, 84]  # the alto's G5 is heard on top
    assert len(melody) + len(accomp) == len(window)
    assert all(a[1] > 0 for a in melody)


def test_respelling_turns_major_into_harmonic_minor_and_back():
    c_major = [60, 62, 64, 65, 67, 69, 71, 72]
    minor = [arrange._respell(m, 0, "major", RECIPES["sad"]) for m in c_major]
    assert minor == [60, 62, 63, 65, 67, 68, 71, 72]
    tense = [arrange._respell(m, 0, "major", RECIPES["tense"]) for m in c_major]
    assert tense == [60, 61, 63, 65, 67, 68, 71, 72]  # flat second added
    a_minor = [57, 59, 60, 62, 64, 65, 67, 69]
    assert [arrange._respell(m, 9, "minor", RECIPES["happy"]) for m in a_minor] == [57, 59, 61, 62, 64, 66, 68, 69]


def test_arranged_tune_gets_chords_below_it():
    tune = [(float(i) / 2, 0.5, p) for i, p in enumerate([67, 69, 71, 72, 74, 72, 71, 69] * 4)]
    perf = arrange.arrange(_score([tune]), RECIPES["calm"], 8.0, np.random.default_rng(0))
    melody = perf.melody
    others = [n for n in perf.notes if n.channel != arrange.MELODY]
    assert melody and len(others) >= len(melody) // 4
    for n in others:  # every accompaniment note is below the melody note sounding at its onset
        above = [m for m in melody if m.start <= n.start < m.end]
        assert all(n.midi <= m.midi for m in above)


def test_cli_errors_are_one_line(tmp_path):
    from reverie.cli.corpus import corpus

    result = CliRunner().invoke(corpus, [str(tmp_path / "x"), "--hours", "0"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: hours must be greater than 0, got 0.0"
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    result = CliRunner().invoke(corpus, [str(tmp_path / "busy"), "--hours", "0.01"])
    assert result.exit_code == 1 and "not empty" in result.output
    assert len(result.output.strip().splitlines()) == 1 and "Traceback" not in result.output
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"
    result = CliRunner().invoke(corpus, [str(tmp_path / "x"), "--real-clips", "most"])
    assert result.exit_code == 2 and "'most' is neither a count of stretches nor 'all'" in result.output
    result = CliRunner().invoke(corpus, [str(tmp_path / "x"), "--real-clips", "101"])
    assert result.exit_code == 1
    assert result.output.strip() == "Error: real-clips must be a count from 0 to 100 or 'all', got 101"


def test_parts_sit_apart_in_a_stereo_field(corpora):
    """Placed parts and a stereo room: every clip is stereo, none is mono, none is wider than its middle."""
    from bench.listening import side_to_mid_db

    ratios = []
    for r in manifest(corpora / "a"):
        x, _ = sf.read(corpora / "a" / r["audio"], dtype="float32")
        ratios.append(side_to_mid_db(x.T, SR))
    assert min(ratios) > -40 and max(ratios) < -1, ratios
    assert np.ptp(ratios) > 3  # placement and rooms differ from clip to clip


def test_real_recordings_join_train_with_only_the_labels_two_listeners_agree_on(tmp_path):
    from reverie.models.corpus import labels, real
    from reverie.models.grid import from_midi
    from reverie.models.mel import MelConfig
    from reverie.models.melody.midi import has_notes
    from reverie.models.training.data import featurise, scan

    train = [t for t in real.tracks("train") if sf.info(str(t.path)).duration >= 4 * CLIP]
    if not train:
        pytest.skip("no real recordings installed: run scripts/install-music (wesnoth-1.16-music, warzone2100-music)")
    packages = sorted({t.package for t in train})
    tracks = [next(t for t in train if t.package == p) for p in packages[:2]]  # one track of two packages
    (tmp_path / "c" / "train").mkdir(parents=True)
    rows = build._real_clips(tmp_path / "c", 3, CLIP, tracks, jobs=2)
    assert len(rows) == 3 * len(tracks)
    held = {(t.package, t.path.name) for t in real.tracks("held_out")}  # two packages may share a name
    for r in rows:
        assert r["split"] == "train" and r["style"] == "" and r["audio"].endswith(".flac")
        package, name = r["source_score"].rsplit("@", 1)[0].split(":", 1)
        assert (package, name) not in held
        info = sf.info(tmp_path / "c" / r["audio"])
        assert (info.samplerate, info.channels) == (SR, 2)
        assert abs(info.frames - CLIP * SR) <= 2
        samples = sf.read(tmp_path / "c" / r["audio"], dtype="float32", always_2d=True)[0].T
        heard = labels.agreed(samples, SR)  # the file says what the listeners agree on, and nothing else
        if not r["midi"]:
            assert heard == labels.Labels(None, None) and r["tempo_bpm"] == r["mode"] == ""
            continue
        grid, key = from_midi(tmp_path / "c" / r["midi"])
        assert not has_notes(tmp_path / "c" / r["midi"]) and key == heard.key
        assert (grid is None) == (heard.grid is None) == (r["tempo_bpm"] == "")
        if grid is not None:
            assert grid.steady_bpm == pytest.approx(float(r["tempo_bpm"]), rel=1e-4)
            assert grid.steady_bpm == pytest.approx(heard.grid.steady_bpm, rel=1e-4)
        assert r["mode"] == ("" if key is None else "minor" if key.minor else "major")
    items = scan(tmp_path / "c" / "train")
    assert {i.audio.name for i in items if i.style is None} == {Path(r["audio"]).name for r in rows}
    # a file of labels alone gives the grid and key, and the melody is still read from the audio
    mel = MelConfig(sample_rate=SR)
    labelled = [i for i in items if i.midi is not None][:1] + [i for i in items if i.midi is None][:1]
    features = featurise(labelled, mel, STYLES)
    for n, item in enumerate(labelled):
        mono = sf.read(item.audio, dtype="float32", always_2d=True)[0].mean(axis=1)
        frames = features.chromas[n].shape[-1]
        heard = torch.as_tensor(np.asarray(audio_chroma(mono, SR, mel.frame_rate, frames)) > 0.5, dtype=torch.uint8)
        assert (features.chromas[n] == heard).float().mean() > 0.99
        assert (features.grids[n] is None) == (item.midi is None or from_midi(item.midi)[0] is None)
    # two stretches of one track are different music
    first, second = (sf.read(tmp_path / "c" / r["audio"])[0] for r in rows[:2])
    assert not np.allclose(first, second)


def test_all_real_clips_are_every_whole_stretch_end_to_end(tmp_path):
    from reverie.models.corpus import real

    train = [t for t in real.tracks("train") if 2 * CLIP <= sf.info(str(t.path)).duration]
    if not train:
        pytest.skip("no real recordings installed: run scripts/install-music (wesnoth-1.16-music, warzone2100-music)")
    track = min(train, key=lambda t: sf.info(str(t.path)).duration)
    length = sf.info(str(track.path)).duration
    (tmp_path / "c" / "train").mkdir(parents=True)
    rows = build._real_clips(tmp_path / "c", build.ALL, CLIP, [track])
    assert len(rows) == int(length // CLIP)
    assert [float(r["source_score"].rsplit("@", 1)[1]) for r in rows] == [k * CLIP for k in range(len(rows))]
    joined = np.concatenate([sf.read(tmp_path / "c" / r["audio"], dtype="int16")[0] for r in rows])
    original, rate = real.read(track.path, 0.0, len(rows) * CLIP)
    if rate == SR:  # the stretches are the track itself, cut and nothing else
        ours = joined.T.astype(np.float32) / 32768
        assert np.max(np.abs(ours - original[:, : ours.shape[1]])) < 2e-4


def test_an_lmms_project_renders_to_a_stereo_mix_that_joins_train_without_a_label(tmp_path):
    from bench.listening import hf_share_db, side_to_mid_db
    from reverie.models.corpus import lmms, real
    from reverie.models.errors import ReverieError

    if not lmms.installed():
        pytest.skip("LMMS is not installed: run scripts/install-music (lmms)")
    project = next(p for p in lmms.projects() if p.name == "Surrender-Main.mmpz")  # a 15 s shortie
    out = lmms.render(project, tmp_path / "surrender.wav")
    samples, rate = sf.read(out, dtype="float32", always_2d=True)
    assert (rate, samples.shape[1]) == (44100, 2) and 14 < len(samples) / rate < 17
    assert 20 * np.log10(np.sqrt(np.mean(samples.astype(np.float64) ** 2))) > -20  # a mastered mix
    assert side_to_mid_db(samples.T, rate) > -20 and hf_share_db(samples.T, rate) > -40  # stereo, full band
    (tmp_path / "c" / "train").mkdir(parents=True)
    rows = build._real_clips(tmp_path / "c", 2, CLIP, [real.Track(lmms.PACKAGE, out, held_out=False)])
    assert [r["source_score"].split("@")[0] for r in rows] == ["lmms:surrender.wav"] * 2
    for r in rows:
        assert r["split"] == "train" and r["style"] == ""
        info = sf.info(tmp_path / "c" / r["audio"])
        assert (info.samplerate, info.channels) == (SR, 2) and abs(info.frames - CLIP * SR) <= 2
    with pytest.raises(ReverieError, match="LMMS could not render"):
        lmms.render(tmp_path / "missing.mmpz", tmp_path / "missing.wav")
    assert not (tmp_path / "missing.wav").exists()


def test_soundfont_choice_is_checked(tmp_path):
    from reverie.models.corpus import synth
    from reverie.models.errors import ReverieError

    assert synth.soundfont_path("pretty_midi").endswith("TimGM6mb.sf2")
    with pytest.raises(ReverieError, match="soundfont must be auto, fluid, pretty_midi or the path of a .sf2 file"):
        build.build(tmp_path / "x", soundfont="timpani", **TINY)
    if not synth.installed_soundfonts()["fluid"]:
        with pytest.raises(ReverieError, match="apt-get install fluid-soundfont-gm"):
            synth.soundfont_path("fluid")


def test_cli_says_which_sources_are_installed(tmp_path):
    from reverie.cli.corpus import corpus
    from reverie.models.corpus import lmms, real, synth

    result = CliRunner().invoke(
        corpus, [str(tmp_path / "x"), "--hours", "0.003", "--clip-seconds", "5", "--real-clips", "0", "--jobs", "1"]
    )
    assert result.exit_code == 0, result.output
    assert "soundfont pretty_midi: installed" in result.output
    fluid = (
        "soundfont fluid: installed" if synth.installed_soundfonts()["fluid"] else "apt-get install fluid-soundfont-gm"
    )
    assert fluid in result.output
    for package, ok in real.installed().items():
        assert (f"real music {package}: installed" if ok else f"apt-get install {package}") in result.output
    lmms_line = "LMMS demo projects, rendered by LMMS: " + ("installed" if lmms.installed() else "not installed")
    assert lmms_line in result.output
    assert "wrote 2 clips" in result.output


def test_a_worker_that_dies_fails_the_build_by_name_instead_of_waiting_forever():
    import signal

    from reverie.models.errors import ReverieError

    assert list(build._in_workers(2, divmod, [(7, 2), (9, 4)])) == [(3, 1), (2, 1)]  # in order
    with pytest.raises(ReverieError, match="a corpus worker process died .*--jobs 1 runs in this process"):
        list(build._in_workers(2, signal.raise_signal, [(signal.SIGSEGV,)]))  # as numba's crash did
