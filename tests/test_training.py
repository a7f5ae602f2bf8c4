"""`reverie train` on a real (small) folder of audio: labels, melody, checkpoints, resume."""

import json
import subprocess
import sys

import mido
import numpy as np
import pytest
import torch
from conftest import tone
from dummy_models import tiny_pipeline

from reverie.models.audio import save_audio
from reverie.models.drift import BAND_EDGES
from reverie.models.pipeline import ReveriePipeline
from reverie.models.training.data import scan
from reverie.models.unet import MelUNet1D

TINY = ["--channels", "32,48", "--layers", "1", "--crop-frames", "64", "--batch-size", "2", "--threads", "1"]


def train(*args):
    cmd = [sys.executable, "-c", "from reverie.cli.main import cli; cli()", "train", *map(str, args), *TINY]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    for style, freqs in (("calm", (220.0,)), ("tense", (233.0,))):
        (root / style).mkdir()
        for i in range(2):
            save_audio(tone(3.0, 22050, freqs=(freqs[0] * (i + 1),), seed=i), root / style / f"{i}.wav", 16)
    save_audio(tone(3.0, 44100, freqs=(300.0,)), root / "loose.flac", 16)
    midi = mido.MidiFile()
    track = mido.MidiTrack()
    midi.tracks.append(track)
    track += [mido.Message("note_on", note=69, velocity=90, time=0), mido.Message("note_off", note=69, time=960)]
    midi.save(root / "calm" / "0.mid")
    return root


def test_scan_reads_styles_from_folders_and_pairs_midi(data):
    items = {p.audio.name + p.audio.parent.name: p for p in scan(data)}
    assert items["0.wavcalm"].style == "calm" and items["0.wavcalm"].midi.name == "0.mid"
    assert items["1.wavtense"].style == "tense" and items["1.wavtense"].midi is None
    assert items["loose.flac" + data.name].style is None


def test_scan_reads_a_labels_csv(data, tmp_path):
    (tmp_path / "labels.csv").write_text("path,style\ncalm/0.wav,sleep\nloose.flac,\n")
    styles = {i.audio.name + i.audio.parent.name: i.style for i in scan(data, tmp_path / "labels.csv")}
    assert styles["0.wavcalm"] == "sleep" and styles["loose.flac" + data.name] is None
    assert styles["1.wavcalm"] is None


def test_train_writes_a_loadable_model_and_resumes(data, tmp_path):
    out = tmp_path / "model"
    first = train(data, "-o", out, "--steps", "4", "--save-every", "2", "--styles", "tense,calm")
    assert first.returncode == 0, first.stderr
    pipe = ReveriePipeline.from_pretrained(out)
    assert pipe.styles == ("tense", "calm")
    # a full-band model by default, its scaling from the data, one value per mel bin
    mel = pipe.config.mel
    assert (mel.sample_rate, mel.n_fft, mel.hop_length, mel.n_mels) == (44100, 4096, 1024, 304)
    assert mel.f_max >= 16000 and len(mel.mean) == 304 and np.isfinite(mel.std).all()
    # and the level a generation starts from, per style
    assert set(pipe.config.levels_db) == {"any", "tense", "calm"}
    # and each style's balance, per band of drift.BAND_EDGES
    assert set(pipe.config.style_bands_db) == {"any", "tense", "calm"}
    assert all(len(b) == len(BAND_EDGES) and np.isfinite(b).all() for b in pipe.config.style_bands_db.values())
    audio = pipe.generate(1.0, style="calm", sample_rate=22050)
    assert audio.samples.shape == (2, 22050) and np.isfinite(audio.samples).all()
    log = [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [2, 4]
    again = train(data, "-o", out, "--steps", "6", "--save-every", "2", "--styles", "tense,calm", "--resume")
    assert again.returncode == 0, again.stderr
    assert "resumed at step 4" in again.stderr
    log = [json.loads(line) for line in (out / "training_log.jsonl").read_text().splitlines()]
    assert [entry["step"] for entry in log] == [2, 4, 6]


def test_init_from_starts_from_another_models_weights(data, tmp_path):
    unet = MelUNet1D.from_config(tiny_pipeline().unet.config, styles=("tense", "calm"))
    source = ReveriePipeline(unet, tiny_pipeline().config)
    source.save_pretrained(tmp_path / "source")
    done = train(
        data, "-o", tmp_path / "tuned", "--steps", "1", "--styles", "tense,calm", "--init-from", tmp_path / "source"
    )
    assert done.returncode == 0, done.stderr
    assert "starting from a model trained elsewhere (32 mel bins to 11025 Hz -> 304 to 19845 Hz)" in done.stderr
    tuned = ReveriePipeline.from_pretrained(tmp_path / "tuned").unet
    assert tuple(tuned.config.channels) == (32, 48)  # its architecture, not the defaults
    before, after = source.unet.mid.state_dict(), tuned.mid.state_dict()
    assert all(torch.allclose(before[k], after[k], atol=1e-3) for k in before)
    wrong = train(data, "-o", tmp_path / "other", "--steps", "1", "--init-from", tmp_path / "source")
    assert wrong.returncode != 0 and "give --styles in the same order" in wrong.stderr


def test_a_warm_start_on_the_same_mel_bins_keeps_its_scaling(data, tmp_path):
    """Fine-tuning on other music keeps the per-bin scaling the weights learned; new bins take the data's."""
    from reverie.models.mel import MelConfig
    from reverie.models.pipeline import PipelineConfig

    full = MelConfig.for_rate(44100)
    scaled = MelConfig(**{**full.to_dict(), "mean": [-3.0 + i / 1000 for i in range(304)], "std": [2.0] * 304})
    unet = MelUNet1D(styles=("tense", "calm"), n_mels=304, channels=(32, 48), layers_per_level=1,
                     attention_levels=(False,), attention_heads=2, time_embed_dim=64)  # fmt: skip
    ReveriePipeline(unet, PipelineConfig(mel=scaled, window_frames=64, context_frames=16)).save_pretrained(
        tmp_path / "source"
    )
    done = train(
        data, "-o", tmp_path / "tuned", "--steps", "1", "--styles", "tense,calm", "--init-from", tmp_path / "source"
    )
    assert done.returncode == 0, done.stderr
    assert "keeping the scaling of the model it starts from" in done.stderr
    tuned = ReveriePipeline.from_pretrained(tmp_path / "tuned").config.mel
    assert tuned.mean == scaled.mean and tuned.std == scaled.std
    other = train(data, "-o", tmp_path / "other", "--steps", "1", "--styles", "tense,calm", "--sample-rate", "22050",
                  "--init-from", tmp_path / "source")  # fmt: skip
    assert other.returncode == 0, other.stderr
    assert "keeping the scaling" not in other.stderr
    assert ReveriePipeline.from_pretrained(tmp_path / "other").config.mel.mean != scaled.mean[:256]


def test_train_errors_are_one_line(data, tmp_path):
    result = train(tmp_path / "nowhere", "-o", tmp_path / "m")
    assert result.returncode != 0 and "training data folder not found" in result.stderr
    assert "Traceback" not in result.stderr
    result = train(data, "-o", tmp_path / "m", "--styles", "calm")
    assert "labels tense are not in --styles (calm)" in result.stderr


def test_ctrl_c_says_which_checkpoint_was_kept_and_how_to_resume(data, tmp_path):
    import signal
    import time

    out = tmp_path / "model"
    cmd = [sys.executable, "-c", "from reverie.cli.main import cli; cli()", "train", str(data), "-o", str(out)]
    cmd += ["--steps", "100000", "--save-every", "2", "--styles", "tense,calm", *TINY]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    log = out / "training_log.jsonl"
    deadline = time.monotonic() + 300
    while not (log.is_file() and log.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    last = stderr.strip().splitlines()[-1]
    step = json.loads(log.read_text().splitlines()[-1])["step"]
    assert (
        last == f"interrupted; the checkpoint of step {step} is in {out}; run the same command with --resume to go on"
    )
    assert "no output was written" not in stderr
    assert ReveriePipeline.from_pretrained(out).styles == ("tense", "calm")


def test_a_labelled_share_keeps_the_styles_fed_beside_many_unlabelled_clips(data):
    from reverie.models.mel import MelConfig
    from reverie.models.training.data import bin_statistics, featurise
    from reverie.models.training.loop import Batches, TrainConfig

    mel = MelConfig.for_rate(22050)
    features = featurise(scan(data), mel, ("tense", "calm"))
    mean, std = bin_statistics(features)
    mel = MelConfig(**{**mel.to_dict(), "mean": mean, "std": std})
    unlabelled = {i for i, s in enumerate(features.styles.tolist()) if s < 0}
    assert len(unlabelled) == 1 and len(features.styles) == 5

    def share(labelled_share):
        batches = Batches(features, mel, TrainConfig(labelled_share=labelled_share), null_style=2)
        g = torch.Generator().manual_seed(0)
        return np.mean([batches.clip_index(g) in unlabelled for _ in range(4000)])

    assert share(None) == pytest.approx(0.2, abs=0.03)  # every clip equally likely
    assert share(0.25) == pytest.approx(0.75, abs=0.03)
    assert share(1.0) == 0.0
