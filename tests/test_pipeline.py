"""The pipeline's operations on real audio: formats, lengths, bit-exactness, determinism, cancel, errors."""

import json
import threading

import numpy as np
import pytest
from conftest import tone
from dummy_models import tiny_pipeline

from reverie.models.audio import Audio
from reverie.models.errors import Cancelled, ReverieError
from reverie.models.pipeline import ReveriePipeline


def count_steps(pipe, op, **kwargs):
    seen = []
    out = pipe.run(op, callback=lambda step, total: seen.append((step, total)), **kwargs)
    return out, seen


@pytest.mark.parametrize("sample_rate,channels,seconds", [(44100, 2, 2.5), (48000, 1, 1.37), (22050, 3, 0.5)])
def test_generate_has_exact_rate_channels_and_length(pipe, sample_rate, channels, seconds):
    out = pipe.generate(seconds, sample_rate=sample_rate, channels=channels, style="sleep")
    assert out.sample_rate == sample_rate
    assert out.samples.shape == (channels, round(seconds * sample_rate))
    assert out.samples.dtype == np.float32
    assert np.isfinite(out.samples).all()
    assert np.abs(out.samples).max() > 0
    # centred image: every channel carries the same signal
    assert all(np.array_equal(out.samples[0], ch) for ch in out.samples)


def test_same_seed_is_bit_identical_and_seeds_differ(pipe):
    a = pipe.generate(1.5, seed=7, style="calm")
    b = pipe.generate(1.5, seed=7, style="calm")
    c = pipe.generate(1.5, seed=8, style="calm")
    assert np.array_equal(a.samples, b.samples)
    assert not np.allclose(a.samples, c.samples)


def test_stream_concatenates_to_generate_bit_for_bit(pipe):
    # long enough for several windows, at a rate that needs the streaming resampler's block alignment
    kwargs = dict(sample_rate=48000, channels=2, seed=3, style="tense")
    chunks = list(pipe.stream_generate(4.1, **kwargs))
    assert len(chunks) > 3
    whole = pipe.generate(4.1, **kwargs)
    assert np.array_equal(np.concatenate([c.samples for c in chunks], axis=1), whole.samples)


def test_progress_reports_every_step_and_total_steps_predicts_it(pipe, stereo48k):
    cases = [
        ("generate", dict(seconds=3.0)),
        ("transform", dict(audio=stereo48k, strength=0.8, inversion=True)),
        ("inpaint", dict(audio=stereo48k, start=1.0, end=2.0)),
        ("inpaint", dict(audio=stereo48k, start=1.0, end=2.0, method="repaint")),
        ("interpolate", dict(a=stereo48k, b=stereo48k, strength=0.6)),
        ("continue", dict(audio=stereo48k, seconds=2.0)),
    ]
    for op, kwargs in cases:
        _, seen = count_steps(pipe, op, **kwargs)
        total = pipe.total_steps(op, **kwargs)
        assert total > 0
        assert seen == [(i, total) for i in range(1, total + 1)], op


def test_cancel_stops_within_one_step(pipe):
    calls = []

    def stop_at_three(step, total):
        calls.append(step)
        return step < 3

    with pytest.raises(Cancelled, match="step 3"):
        pipe.generate(5.0, callback=stop_at_three)
    assert calls == [1, 2, 3]


def test_transform_strength_zero_returns_the_input(pipe, stereo48k):
    out = pipe.transform(stereo48k, strength=0.0)
    assert np.array_equal(out.samples, stereo48k.samples)
    assert out.sample_rate == 48000


def test_transform_keeps_format_and_changes_sound(pipe, stereo48k):
    out = pipe.transform(stereo48k, strength=0.6, style="happy", seed=1)
    assert out.samples.shape == stereo48k.samples.shape
    assert not np.allclose(out.samples, stereo48k.samples, atol=1e-3)
    inv = pipe.transform(stereo48k, timestep=400, inversion=True)
    assert inv.samples.shape == stereo48k.samples.shape


def test_inpaint_keeps_outside_samples_bit_exact_stereo_48k(pipe, stereo48k):
    for method in ("trained", "repaint"):
        out = pipe.inpaint(stereo48k, start=1.25, end=2.5, method=method, seed=2)
        first, last = round(1.25 * 48000), round(2.5 * 48000)
        assert out.samples.shape == stereo48k.samples.shape
        assert np.array_equal(out.samples[:, :first], stereo48k.samples[:, :first])
        assert np.array_equal(out.samples[:, last:], stereo48k.samples[:, last:])
        seam = round(0.05 * 48000)
        inside = slice(first + seam, last - seam)
        assert not np.allclose(out.samples[:, inside], stereo48k.samples[:, inside], atol=1e-3)


def test_inpaint_region_at_the_clip_edges(pipe, stereo48k):
    out = pipe.inpaint(stereo48k, start=0.0, end=0.4)
    assert np.array_equal(out.samples[:, round(0.4 * 48000) :], stereo48k.samples[:, round(0.4 * 48000) :])
    end = stereo48k.seconds
    out = pipe.inpaint(stereo48k, start=end - 0.3, end=end)
    first = round((end - 0.3) * 48000)
    assert np.array_equal(out.samples[:, :first], stereo48k.samples[:, :first])


def test_continue_appends_exactly_and_keeps_the_input(pipe):
    clip = tone(2.7, 44100)
    out = pipe.continue_(clip, seconds=3.3, seed=4)
    assert out.samples.shape == (2, clip.frames + round(3.3 * 44100))
    assert np.array_equal(out.samples[:, : clip.frames], clip.samples)
    assert np.abs(out.samples[:, clip.frames :]).max() > 0


def test_interpolate_follows_a_and_mixes_b(pipe):
    a = tone(2.0, 44100)
    b = tone(0.7, 22050, freqs=(500.0,))
    out = pipe.interpolate(a, b, ratio=0.4, strength=0.5)
    assert out.samples.shape == a.samples.shape and out.sample_rate == 44100
    raw = pipe.interpolate(a, b, ratio=0.0, strength=0.0)
    assert np.array_equal(raw.samples, a.samples)
    lerp = pipe.interpolate(a, b, ratio=0.4, strength=0.5, mix="lerp")
    assert not np.array_equal(lerp.samples, out.samples)


def test_save_and_load_round_trip_gives_identical_audio(pipe, tmp_path):
    pipe.save_pretrained(tmp_path / "m")
    assert (tmp_path / "m" / "unet" / "diffusion_pytorch_model.safetensors").is_file()
    again = ReveriePipeline.from_pretrained(tmp_path / "m")
    assert again.model_hash == pipe.model_hash
    a = pipe.generate(1.0, seed=5, style="sad")
    b = again.generate(1.0, seed=5, style="sad")
    assert np.array_equal(a.samples, b.samples)


def test_concurrent_calls_match_sequential_calls(pipe):
    expected = {seed: pipe.generate(1.2, seed=seed).samples for seed in (1, 2)}
    results = {}
    threads = [
        threading.Thread(target=lambda s=s: results.__setitem__(s, pipe.generate(1.2, seed=s).samples)) for s in (1, 2)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(np.array_equal(results[s], expected[s]) for s in (1, 2))


@pytest.mark.parametrize(
    "call,field,message",
    [
        (
            lambda p, a: p.generate(2, style="jazz"),
            "style",
            "unknown style 'jazz'; allowed: sleep, calm, happy, sad, tense",
        ),
        (lambda p, a: p.transform(a, strength=1.5), "strength", "strength must be between 0 and 1, got 1.5"),
        (lambda p, a: p.transform(a, strength=0.2, timestep=10), "timestep", "not both"),
        (lambda p, a: p.transform(a, timestep=1000), "timestep", "between 0 and 999"),
        (lambda p, a: p.inpaint(a, start=3.0, end=9.0), "end", "at most 4.300 s"),
        (lambda p, a: p.inpaint(a, start=-1, end=1), "start", "between 0 and 4.300"),
        (lambda p, a: p.inpaint(a, start=2, end=1), "end", "after start"),
        (lambda p, a: p.inpaint(a, start=1, end=2, method="magic"), "method", "allowed: trained, repaint"),
        (lambda p, a: p.generate(0), "seconds", "above 0"),
        (lambda p, a: p.generate(2, steps=0), "steps", "between 1 and 1000"),
        (lambda p, a: p.generate(2, guidance=float("nan")), "guidance", "finite"),
        (lambda p, a: p.generate(2, scheduler="euler"), "scheduler", "allowed: ddim, dpm, ddpm"),
        (lambda p, a: p.inpaint(a, 1, 2, scheduler="repaint"), "scheduler", "goes with inpaint's method 'repaint'"),
        (lambda p, a: p.run("remix"), "op", "allowed: generate, transform, inpaint, interpolate, continue"),
        (lambda p, a: p.transform(Audio(np.full((2, 100), np.nan, np.float32), 44100)), "audio", "NaN"),
        (lambda p, a: p.transform(Audio(np.zeros((2, 0), np.float32), 44100)), "audio", "empty"),
        (lambda p, a: p.interpolate(a, a, ratio=2), "ratio", "between 0 and 1"),
    ],
)
def test_bad_arguments_name_the_field_and_what_is_allowed(pipe, stereo48k, call, field, message):
    with pytest.raises(ReverieError) as info:
        call(pipe, stereo48k)
    assert info.value.field == field
    assert message in info.value.message


def test_style_and_melody_change_the_result(pipe):
    from reverie.models.melody import Melody, Note

    plain = pipe.generate(1.0, seed=1)
    styled = pipe.generate(1.0, seed=1, style="happy")
    melody = Melody((Note(0.0, 0.5, 60), Note(0.5, 1.0, 67)))
    tuned = pipe.generate(1.0, seed=1, style="happy", melody=melody)
    assert not np.allclose(plain.samples, styled.samples)
    assert not np.allclose(styled.samples, tuned.samples)


@pytest.mark.parametrize("prediction", ["v_prediction", "sample"])
def test_targets_and_noise_estimates_agree_for_both_predictions(prediction):
    import torch

    from reverie.models.schedulers import to_epsilon, training_target

    g = torch.Generator().manual_seed(0)
    x0, noise = torch.randn(2, 8, 16, generator=g), torch.randn(2, 8, 16, generator=g)
    a = torch.tensor([0.9, 0.1])[:, None, None]
    xt = a.sqrt() * x0 + (1 - a).sqrt() * noise
    assert torch.allclose(to_epsilon(training_target(x0, noise, a, prediction), xt, a, prediction), noise, atol=1e-5)


def test_the_default_prediction_is_x0_like_the_shipped_model(pipe):
    from reverie.models.pipeline import DEFAULT_MODEL_DIR, PipelineConfig
    from reverie.models.schedulers import training_scheduler_config

    shipped = json.loads((DEFAULT_MODEL_DIR / "reverie.json").read_text())["scheduler"]["prediction_type"]
    assert shipped == "sample"
    for config in (training_scheduler_config(), PipelineConfig().scheduler, pipe.config.scheduler):
        assert config["prediction_type"] == "sample"


def test_a_v_model_runs_every_operation(pipe, stereo48k):
    """A model that predicts v: every sampler, RePaint and DDIM inversion convert its output."""
    import dataclasses

    from reverie.models.schedulers import training_scheduler_config

    v_pipe = ReveriePipeline(
        pipe.unet, dataclasses.replace(pipe.config, scheduler=training_scheduler_config("v_prediction"))
    )
    for scheduler in ("ddim", "dpm", "ddpm"):
        out = v_pipe.generate(1.0, sample_rate=22050, channels=1, style="calm", scheduler=scheduler)
        assert out.samples.shape == (1, 22050) and np.isfinite(out.samples).all()
    for method in ("trained", "repaint"):
        out = v_pipe.inpaint(stereo48k, 1.0, 2.0, method=method)
        assert np.array_equal(out.samples[:, :48000], stereo48k.samples[:, :48000])
    out = v_pipe.transform(stereo48k, strength=0.5, inversion=True)
    assert out.samples.shape == stereo48k.samples.shape and np.isfinite(out.samples).all()
    assert not np.allclose(out.samples, pipe.transform(stereo48k, strength=0.5, inversion=True).samples)


def test_tiny_leaves_the_global_generator_as_it_was():
    import torch

    torch.manual_seed(1234)
    expected = torch.rand(8)
    torch.manual_seed(1234)
    a = tiny_pipeline()
    assert torch.equal(torch.rand(8), expected)
    assert tiny_pipeline().model_hash == a.model_hash  # and it is still the same model every time


def test_a_prepared_call_checks_now_counts_its_steps_and_runs_like_run(pipe, stereo48k):
    kwargs = dict(audio=stereo48k, start=1.0, end=2.0, seed=3)
    call = pipe.prepare("inpaint", **kwargs)
    assert call.op == "inpaint" and call.total_steps == pipe.total_steps("inpaint", callback=print, **kwargs)
    seen = []
    out = call.run(lambda step, total: seen.append(step))
    assert seen == list(range(1, call.total_steps + 1))
    assert np.array_equal(out.samples, pipe.run("inpaint", **kwargs).samples)
    assert np.array_equal(pipe.execute(call).samples, out.samples)  # nothing random is kept between runs
    with pytest.raises(ReverieError, match="at most 4.300 s"):
        pipe.prepare("inpaint", audio=stereo48k, start=1.0, end=5.0)


def test_a_prepared_generate_call_streams_what_it_makes_whole(pipe):
    call = pipe.prepare("generate", seconds=2.0, sample_rate=22050, channels=1, seed=2)
    assert len(call.windows) > 1 and call.total_steps == len(call.windows) * pipe.config.steps
    chunks = list(pipe.stream(call))
    assert np.array_equal(np.concatenate([c.samples for c in chunks], axis=1), call.run().samples)
    with pytest.raises(ValueError):
        pipe.stream(pipe.prepare("continue", audio=tone(1.0, 22050), seconds=1.0))


def test_unknown_and_missing_arguments_are_type_errors_as_in_a_call(pipe, stereo48k):
    with pytest.raises(TypeError, match="unexpected 'strenght'"):
        pipe.run("transform", audio=stereo48k, strenght=0.3)
    with pytest.raises(TypeError, match="missing 'end'"):
        pipe.total_steps("inpaint", audio=stereo48k, start=1.0)


def test_a_model_folder_carries_its_card_and_the_embedded_one_says_what_it_learned_from(tmp_path):
    from dummy_models import tiny_pipeline

    from reverie.models.pipeline import ReveriePipeline

    default = ReveriePipeline.from_pretrained()
    assert default.card["name"] == "reverie-default"
    assert any("music21" in source for source in default.card["trained_on"])
    saved = tiny_pipeline().save_pretrained(tmp_path / "my_model")
    loaded = ReveriePipeline.from_pretrained(saved)
    assert loaded.card == {"name": "my_model", "trained_on": []}
    assert loaded.model_hash == tiny_pipeline().model_hash  # the card is not the sound
