"""The session's grid and key, heard (models/beat.py) and kept by the operations on audio of a model
that hears tempo and key; a model without them refuses a session bpm, and hears nothing."""

import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner
from dummy_models import tiny_pipeline

from reverie.cli.main import cli
from reverie.models.audio import Audio
from reverie.models.beat import session_grid, session_key
from reverie.models.errors import ReverieError
from reverie.models.grid import KEYS, key_index
from reverie.models.melody.key import parse_key

RATE = 44100


def drum_loop(bpm: float, first: float, seconds: float = 12.0, seed: int = 0) -> np.ndarray:
    """A kick on every bar line, a softer, brighter hit on the other beats, over quiet noise."""
    rng = np.random.default_rng(seed)
    x = 0.01 * rng.standard_normal(int(seconds * RATE)).astype(np.float32)
    n, t, hit = 0, first, int(0.06 * RATE)
    env = np.exp(-np.arange(hit) / (0.01 * RATE))
    while t < seconds - 0.1:
        i = int(round(t * RATE))
        freq, amp = (80.0, 0.8) if n % 4 == 0 else (1500.0, 0.35)
        x[i : i + hit] += amp * env * np.sin(2 * np.pi * freq * np.arange(hit) / RATE)
        t, n = t + 60.0 / bpm, n + 1
    return x


@pytest.fixture(scope="module")
def grid_pipe():
    return tiny_pipeline(seed=1, grid=True)


def stereo(x: np.ndarray) -> Audio:
    return Audio(np.stack([x, x]), RATE)


@pytest.mark.parametrize("bpm, first", [(72, 0.0), (100, 0.3), (128, 1.1), (150, 0.2)])
def test_continue_hears_the_session_tempo_and_its_bar_lines(grid_pipe, bpm, first):
    grid = grid_pipe.prepare("continue", audio=stereo(drum_loop(bpm, first)), seconds=2).sampling.grid
    assert grid.steady_bpm == pytest.approx(bpm, rel=0.01)
    bar = 4 * 60.0 / bpm
    off = (grid.downbeat - first + bar / 2) % bar - bar / 2  # how far from a true bar line
    assert abs(off) < 0.02, (grid.downbeat, first)


def test_noise_has_no_tempo_to_keep(grid_pipe):
    noise = 0.1 * np.random.default_rng(1).standard_normal(10 * RATE).astype(np.float32)
    assert grid_pipe.prepare("continue", audio=stereo(noise), seconds=2).sampling.grid is None
    assert session_grid(np.zeros(400), np.zeros(400), 86.0) is None


def test_the_caller_tempo_wins_and_only_the_bar_lines_are_heard(grid_pipe):
    # Heard alone, 160 bpm could be taken for 80; a DAW that says 160 is believed.
    audio = stereo(drum_loop(160, 0.25))
    call = grid_pipe.prepare("inpaint", audio=audio, start=4.0, end=6.0, bpm="160", key="E minor")
    assert call.sampling.grid.steady_bpm == 160.0
    assert abs((call.sampling.grid.downbeat - 0.25 + 0.75) % 1.5 - 0.75) < 0.02
    assert call.sampling.key == key_index(parse_key("E minor"))


def test_the_session_key_is_heard_from_its_notes():
    # A minor's scale, its tonic and fifth the most common
    notes = [9, 9, 9, 4, 4, 0, 2, 11, 5, 7, 9, 4]
    frames = np.zeros((12, len(notes) * 10))
    for i, n in enumerate(notes):
        frames[n, i * 10 : (i + 1) * 10] = 1
    key = session_key(frames)
    assert (key.tonic, key.minor) == (9, True)
    assert session_key(np.zeros((12, 40))) is None
    noise = np.eye(12)[np.random.default_rng(0).integers(0, 12, 2000)].T  # every pitch class alike
    assert session_key(noise) is None


def test_the_grid_heard_reaches_the_model(grid_pipe):
    audio = stereo(drum_loop(100, 0.3))
    heard = grid_pipe.continue_(audio, 2.0, seed=0).samples
    told = grid_pipe.continue_(audio, 2.0, seed=0, bpm="100").samples
    other = grid_pipe.continue_(audio, 2.0, seed=0, bpm="140").samples
    np.testing.assert_array_equal(heard, told)  # the same tempo heard as given
    assert not np.array_equal(heard, other)
    np.testing.assert_array_equal(heard[:, : audio.frames], audio.samples)  # the session is kept


def test_a_model_without_the_grid_refuses_a_session_tempo_and_hears_none(pipe):
    audio = stereo(drum_loop(100, 0.3))
    assert pipe.prepare("continue", audio=audio, seconds=2).sampling.grid is None
    assert pipe.prepare("continue", audio=audio, seconds=2).sampling.key == KEYS
    with pytest.raises(ReverieError, match="trained without tempo and key") as info:
        pipe.prepare("transform", audio=audio, bpm="100")
    assert info.value.field == "bpm"


def test_a_session_tempo_is_one_bpm(grid_pipe):
    with pytest.raises(ReverieError, match="a session's tempo is one bpm") as info:
        grid_pipe.prepare("continue", audio=stereo(drum_loop(100, 0.3)), seconds=2, bpm="0:100; 4:90")
    assert info.value.field == "bpm"


def test_the_command_line_continues_at_the_daw_tempo(tmp_path, grid_pipe):
    grid_pipe.save_pretrained(tmp_path / "model")
    sf.write(tmp_path / "in.wav", np.stack([drum_loop(100, 0.3, 6.0)] * 2).T, RATE, subtype="FLOAT")
    args = ["continue", str(tmp_path / "in.wav"), "-o", str(tmp_path / "out.wav"), "--seconds", "2"]
    result = CliRunner().invoke(cli, [*args, "--bpm", "100", "--key", "C major", "--model", str(tmp_path / "model")])
    assert result.exit_code == 0, result.output
    out, rate = sf.read(tmp_path / "out.wav", dtype="float32")
    assert rate == RATE and out.shape == (8 * RATE, 2)
    result = CliRunner().invoke(cli, [*args, "--bpm", "fast", "--model", str(tmp_path / "model")])
    assert result.exit_code != 0 and "bpm 'fast'" in result.output


def test_a_bad_region_is_refused_by_name_before_anything_is_heard(grid_pipe):
    audio = stereo(drum_loop(100, 0.3, 4.0))
    for start, end, field, says in (("x", 1, "start", "must be a number"), (5, 6, "start", "the clip's length")):
        with pytest.raises(ReverieError, match=says) as info:
            grid_pipe.prepare("inpaint", audio=audio, start=start, end=end)
        assert info.value.field == field
