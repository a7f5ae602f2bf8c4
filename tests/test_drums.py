"""The drummer of the rhythmic styles: Debian's Hydrogen kits, played on the beat, placed, layered by velocity."""

from __future__ import annotations

import numpy as np
import pytest

from reverie.models.corpus import drums

SR = 44100

pytestmark = pytest.mark.skipif(
    not drums.installed(), reason="hydrogen-drumkits is not installed: run scripts/install-music"
)


def onsets(audio: np.ndarray, sample_rate: int = SR, hop: int = 256) -> np.ndarray:
    """Times (s) where the short-time energy jumps by more than 12 dB."""
    mono = audio.mean(axis=0)
    frames = len(mono) // hop
    energy = 10 * np.log10(np.square(mono[: frames * hop].reshape(frames, hop)).mean(axis=1) + 1e-12)
    rise = np.diff(energy)
    return (np.flatnonzero((rise[1:] > 12) & (rise[1:] >= rise[:-1])) + 2) * hop / sample_rate


def test_the_packaged_kits_are_read_with_their_velocity_layers():
    kits = {kit.name: kit for kit in drums.kits()}
    # Both formats (per-layer samples, and the older one sample per instrument) and both namespaces.
    assert {"The Black Pearl 1.0", "ForzeeStereo", "HardElectro1", "ColomboAcousticDrumkit"} <= set(kits)
    assert len(kits) >= 10
    pearl = kits["The Black Pearl 1.0"]
    assert {"kick", "snare", "hat", "open_hat", "ride", "crash", "tom_hi", "tom_lo"} <= set(pearl.pieces)
    snares = pearl.pieces["snare"]
    assert len(snares) >= 4 and all(layer.path.is_file() for layer in snares)
    # A soft and a hard stroke are different recordings, not one sample turned up.
    soft = drums.render(pearl, [drums.Hit(0.0, "snare", 0.1)], 1.0, SR)
    hard = drums.render(pearl, [drums.Hit(0.0, "snare", 1.0)], 1.0, SR)
    assert np.abs(hard).max() > 3 * np.abs(soft).max()
    correlation = np.corrcoef(soft.ravel(), hard.ravel())[0, 1]
    assert correlation < 0.95


def test_a_backbeat_puts_the_snare_on_two_and_four_and_the_kick_on_one_and_three():
    hits = drums.groove("backbeat", 120.0, 4.0, 8.0, np.random.default_rng(0))  # 4 bars of 2 s
    snares = [h.time for h in hits if h.role == "snare"]
    kicks_on_the_beat = [h.time for h in hits if h.role == "kick" and abs(h.time * 2 - round(h.time * 2)) < 0.03]
    beat = lambda t: round(t / 0.5) % 4  # noqa: E731
    assert snares and {beat(t) for t in snares} == {1, 3}
    assert {beat(t) for t in kicks_on_the_beat} == {0, 2}
    # the last beat of the fourth bar is a fill down the toms, and each fourth bar starts with a crash
    assert {h.role for h in hits if 7.5 <= h.time < 8.0} <= {"tom_hi", "tom_lo"}
    assert [round(h.time) for h in hits if h.role == "crash"] == [0]
    # in three, the backbeat is on two and three
    waltz = drums.groove("backbeat", 120.0, 3.0, 6.0, np.random.default_rng(0))
    assert {round(h.time / 0.5) % 3 for h in waltz if h.role == "snare"} == {1, 2}
    with pytest.raises(ValueError, match="unknown groove 'polka'"):
        drums.groove("polka", 120.0, 4.0, 2.0, np.random.default_rng(0))


def test_the_rendered_kit_sounds_on_the_hits_and_places_each_drum():
    kit = next(k for k in drums.kits() if k.name == "The Black Pearl 1.0")
    hits = drums.groove("drive", 100.0, 4.0, 6.0, np.random.default_rng(1))
    audio = drums.render(kit, hits, 6.0, SR)
    assert audio.shape == (2, 6 * SR) and np.isfinite(audio).all()
    # every kick and snare (but at the very edges) is heard within 15 ms of its time
    backbone = [h for h in hits if h.role in ("kick", "snare")]
    found = onsets(drums.render(kit, backbone, 6.0, SR))
    times = np.array([h.time for h in backbone if 0.05 < h.time < 5.9])
    assert len(times) >= 10 and all(np.min(np.abs(found - t)) < 0.015 for t in times), (found, times)
    # the hat sits right of centre, the ride left, the kick in the middle
    level = lambda role: drums.render(kit, [drums.Hit(0.1, role, 0.8)], 1.0, SR)  # noqa: E731
    channel_db = lambda a: 10 * np.log10(np.square(a[1]).sum() / np.square(a[0]).sum())  # noqa: E731
    assert channel_db(level("hat")) > 2 and channel_db(level("ride")) < -2 and abs(channel_db(level("kick"))) < 1.5


def test_an_open_hat_is_choked_by_the_next_closed_one():
    kit = next(k for k in drums.kits() if k.name == "The Black Pearl 1.0")
    ringing = drums.render(kit, [drums.Hit(0.0, "open_hat", 0.8)], 1.0, SR)
    choked = drums.render(kit, [drums.Hit(0.0, "open_hat", 0.8), drums.Hit(0.25, "hat", 0.01)], 1.0, SR)
    closed_alone = drums.render(kit, [drums.Hit(0.25, "hat", 0.01)], 1.0, SR)
    tail = slice(int(0.3 * SR), int(0.6 * SR))
    open_tail = np.square(ringing[:, tail]).sum()
    assert open_tail > 0  # it would ring on
    assert np.allclose(choked[:, tail], closed_alone[:, tail], atol=1e-6)  # but stops at the closed hat
