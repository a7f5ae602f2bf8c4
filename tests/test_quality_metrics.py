"""The quality report's own measures, on constructed inputs: each can fail, and fails when it should."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import quality  # noqa: E402
from bench import style_classifier as sc  # noqa: E402
from reverie.models.melody import Melody, Note  # noqa: E402

SR = 22050


def tone(freq: float, seconds: float, amp: float = 0.3, seed: int = 0, noise: float = 1e-3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    x = amp * (np.sin(2 * np.pi * freq * t) + 0.3 * np.sin(2 * np.pi * 2 * freq * t))
    return (x + noise * rng.standard_normal(len(t))).astype(np.float32)


# --- seams and region L1 ---


def test_seam_score_is_high_for_a_hard_splice_and_about_one_for_a_continuous_tone():
    steady = tone(220, 3.0)
    spliced = np.concatenate([tone(220, 1.5), tone(660, 1.5, amp=0.05, seed=1)])
    steady_score = sc.seam_score(sc.log_mel_db(steady, SR), [1.5])
    splice_score = sc.seam_score(sc.log_mel_db(spliced, SR), [1.5])
    assert 0.5 < steady_score < 2.0
    assert splice_score > 5.0
    # The same splice scored somewhere else in the clip is unremarkable again.
    assert sc.seam_score(sc.log_mel_db(spliced, SR), [0.7]) < 2.0


def test_crossfaded_splice_of_the_same_tone_is_seamless_and_of_a_different_one_is_not():
    a, b = tone(220, 4.0), tone(440, 4.0, amp=0.1, seed=2)
    same = quality.splice(a, tone(220, 4.0, seed=3), SR, 1.5, 2.5)
    other = quality.splice(a, b, SR, 1.5, 2.5)
    assert np.array_equal(other[: int(1.5 * SR)], a[: int(1.5 * SR)])  # outside the region untouched
    assert np.array_equal(other[int(2.5 * SR) :], a[int(2.5 * SR) :])
    same_score = sc.seam_score(sc.log_mel_db(same, SR), [1.5, 2.5])
    other_score = sc.seam_score(sc.log_mel_db(other, SR), [1.5, 2.5])
    assert same_score < 2.0
    assert other_score > 2.5 * same_score  # the lagged flux sees across the 50 ms fade


def test_region_l1_is_zero_for_identical_audio_and_reads_a_level_change_in_db():
    a = sc.noise_clip(2.0, SR, seed=0, colour="pink", rms_db=-20)  # every bin above the floor
    mel = sc.log_mel_db(a, SR)
    assert sc.region_l1(mel, mel, 0.5, 1.5) == 0.0
    louder = a.copy()
    louder[int(0.5 * SR) : int(1.5 * SR)] *= 2.0  # +6.02 dB
    l1 = sc.region_l1(sc.log_mel_db(louder, SR), mel, 0.6, 1.4)
    assert l1 == pytest.approx(20 * np.log10(2.0), abs=0.3)
    # Outside the changed part the region L1 stays near zero.
    assert sc.region_l1(sc.log_mel_db(louder, SR), mel, 1.6, 1.9) < 0.5


def test_spectral_flux_is_not_rectified():
    rise = np.concatenate([np.zeros(SR // 2, np.float32), tone(440, 0.5, noise=0)])
    fall = rise[::-1].copy()
    up = sc.spectral_flux(sc.log_mel_db(rise, SR)).max()
    down = sc.spectral_flux(sc.log_mel_db(fall, SR)).max()
    assert up > 10 and down > 10 and down == pytest.approx(up, rel=0.5)


# --- Fréchet distance ---


def test_frechet_distance_is_zero_for_a_set_with_itself_and_grows_with_a_shift():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 8)) @ rng.standard_normal((8, 8))
    assert sc.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    shifts = [0.5, 1.0, 2.0, 4.0]
    d = [sc.frechet_distance(x, x + np.eye(8)[0] * s) for s in shifts]
    assert d == pytest.approx([s * s for s in shifts], rel=1e-6)  # equal covariances: |mu shift|^2
    wider = sc.frechet_distance(x, x * 3.0)
    assert wider > 1.0
    assert sc.frechet_distance(x, x * 3.0) == pytest.approx(sc.frechet_distance(x * 3.0, x), rel=1e-6)


def test_frechet_distance_matches_the_matrix_square_root_formula():
    linalg = pytest.importorskip("scipy.linalg")
    rng = np.random.default_rng(1)
    a = rng.standard_normal((30, 5)) @ rng.standard_normal((5, 5))
    b = rng.standard_normal((25, 5)) @ rng.standard_normal((5, 5)) + 1.0
    sa, sb = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    mu = a.mean(0) - b.mean(0)
    expected = mu @ mu + np.trace(sa + sb - 2 * linalg.sqrtm(sa @ sb).real)
    assert sc.frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


# --- classifier features and training ---


def test_features_tell_a_low_tone_from_noise():
    low = sc.features(tone(110, 3.0), SR)
    noise = sc.features(sc.noise_clip(3.0, SR, seed=0, rms_db=-20), SR)
    assert low.shape == noise.shape == (sc.N_FEATURES,)
    assert np.isfinite(low).all() and np.isfinite(noise).all()
    name = {n: i for i, n in enumerate(sc.FEATURE_NAMES)}
    assert noise[name["centroid_mean"]] > low[name["centroid_mean"]] + 10  # mel bins
    assert noise[name["mel_mean_60"]] > low[name["mel_mean_60"]] + 20  # dB: noise fills the top bins
    assert noise[name["mel_std_5"]] < low[name["mel_std_5"]] + 10  # both steady
    assert np.linalg.norm((noise - low) / (np.abs(low) + 1)) > 3


def test_onset_rate_counts_notes():
    rng = np.random.default_rng(0)
    notes = np.concatenate(
        [tone(220 * 2 ** (k / 12), 0.25, noise=0) * np.hanning(int(0.25 * SR)) for k in rng.integers(0, 12, 16)]
    )  # 4 notes per second
    name = {n: i for i, n in enumerate(sc.FEATURE_NAMES)}
    rate = sc.features(notes, SR)[name["onset_rate"]]
    steady = sc.features(tone(220, 4.0), SR)[name["onset_rate"]]
    assert 2.5 < rate < 6.0
    assert steady < 1.0


def test_classifier_separates_constructed_classes_and_is_deterministic(tmp_path):
    rng = np.random.default_rng(0)

    def example(kind: int, k: int) -> np.ndarray:
        if kind == 0:
            return tone(rng.uniform(80, 160), 1.0, amp=rng.uniform(0.1, 0.4), seed=k)
        return sc.noise_clip(1.0, SR, seed=k, colour=("white", "pink")[k // 2 % 2], rms_db=rng.uniform(-30, -15))

    x = np.array([sc.features(example(k % 2, k), SR) for k in range(16)])
    y = np.arange(16) % 2
    clf = sc.train_classifier(x[:10], y[:10], ("tone", "noise"), iters=100)
    assert clf.predict(x[10:]) == [("tone", "noise")[i] for i in y[10:]]
    assert clf.embed(x).shape == (16, sc.HIDDEN)
    again = sc.train_classifier(x[:10], y[:10], ("tone", "noise"), iters=100)
    assert np.array_equal(clf.w1, again.w1)
    clf.save(tmp_path / "c.npz", extra=np.arange(3))
    loaded, data = sc.StyleClassifier.load(tmp_path / "c.npz")
    assert loaded.styles == ("tone", "noise") and np.array_equal(data["extra"], np.arange(3))
    assert np.allclose(loaded.logits(x), clf.logits(x))


# --- report plumbing ---


def test_crop_melody_cuts_notes_at_the_end():
    m = Melody((Note(0.0, 1.0, 60), Note(1.0, 3.0, 62), Note(2.5, 4.0, 64)))
    cut = quality.crop_melody(m, 2.0)
    assert [(n.start, n.end, n.pitch) for n in cut.notes] == [(0.0, 1.0, 60), (1.0, 2.0, 62)]


def test_report_marks_pass_and_fail_by_the_target():
    r = quality.Report()
    r.metric("a", "a", 0.79, 0.8)
    r.metric("b", "b", 0.81, 0.8)
    r.metric("c", "c", 3.0, 2.0, higher=False)
    r.check("d", "d", 1.0, "<", 2.0)
    r.ref("e", "e", 0.5)
    r.check("f", "f", 2.0, "<", 2.0)
    r.check("g", "g", 0.8, ">=", 0.8)
    assert [r.results[k].get("pass") for k in "abcdefg"] == [False, True, False, True, None, False, True]


def test_select_is_seeded_and_balanced(tmp_path):
    clips = [
        quality.Clip(f"{s}_{i}", "heldout", s, tmp_path / "a.wav", tmp_path / "a.mid")
        for s in ("x", "y")
        for i in range(6)
    ]
    a = quality.select(clips, "heldout", ("x", "y"), 3, seed=0)
    assert [c.clip_id for c in a] == [c.clip_id for c in quality.select(clips, "heldout", ("x", "y"), 3, seed=0)]
    assert [c.style for c in a] == ["x"] * 3 + ["y"] * 3
    fewer = quality.select(clips, "heldout", ("x", "y"), 2, seed=0)  # a prefix per style: hum/inpaint subsets
    assert [c.clip_id for c in fewer] == [c.clip_id for c in a[:2] + a[3:5]]
