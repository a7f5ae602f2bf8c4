"""`reverie serve` as a real process, `reverie send` against it, Ctrl-C, SIGTERM, and `reverie keys`."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import threading
import time

import numpy as np
import pytest
import soundfile as sf
from bridge_helpers import REPO, ServeProcess, reverie_command
from click.testing import CliRunner
from dummy_models import TINY

from reverie.bridge.client import CancelledError, Client
from reverie.cli.serve import keys
from reverie.models.errors import ReverieError


@pytest.fixture(scope="module")
def serve():
    proc = ServeProcess("--model", TINY, "--bind", "tcp://127.0.0.1:*", "--max-queue", "2")
    yield proc
    proc.kill()


def send(*args, timeout=120, **popen):
    env = dict(os.environ, PYTHONPATH=str(REPO))
    return subprocess.run(
        reverie_command("send", *args), cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, **popen
    )


def write(path, seconds, rate, channels, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    data = np.stack(
        [0.3 * np.sin(2 * np.pi * (200 + 50 * c) * t) + 0.01 * rng.standard_normal(len(t)) for c in range(channels)],
        axis=1,
    ).astype(np.float32)
    sf.write(str(path), data, rate, subtype="PCM_24" if str(path).endswith(".flac") else "FLOAT")
    return data


def test_send_info_and_status(serve):
    done = send("info", "--server", serve.endpoint)
    assert done.returncode == 0, done.stderr
    info = json.loads(done.stdout)
    assert info["version"] == 1 and info["styles"] and info["limits"]["max_queue"] == 2
    done = send("status", "--server", serve.endpoint)
    assert json.loads(done.stdout)["workers"] == 1


def test_send_inpaint_in_place_as_an_external_editor(serve, tmp_path):
    path = tmp_path / "take.wav"
    original = write(path, 1.5, 48000, 2)
    done = send(
        "inpaint",
        str(path),
        "--start",
        "0.5",
        "--end",
        "0.9",
        "--seed",
        "3",
        "-o",
        str(path),
        "--server",
        serve.endpoint,
    )
    assert done.returncode == 0, done.stderr
    assert "wrote" in done.stderr and "seed 3" in done.stderr
    assert sf.info(str(path)).subtype == "FLOAT"  # float in, float out, with no options
    data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    assert rate == 48000 and data.shape == original.shape
    # 0.3-amplitude sines around it: the fill may not clip where they do not.
    assert np.abs(data).max() <= 1.0
    first, last = round(0.5 * 48000), round(0.9 * 48000)
    assert np.array_equal(data[:first], original[:first]) and np.array_equal(data[last:], original[last:])
    assert not np.array_equal(data[first:last], original[first:last])
    # The server wrote one log line for it.
    assert serve.wait_for_line(r"op=inpaint audio_s=1\.500 wait_s=\S+ compute_s=\S+ ok")


@pytest.mark.parametrize("subtype,bit_depth", [("PCM_16", None), ("PCM_24", None), ("FLOAT", None), ("FLOAT", "24")])
def test_the_result_keeps_the_inputs_sample_format_unless_told(serve, tmp_path, subtype, bit_depth):
    path = tmp_path / "in.wav"
    sf.write(str(path), write(tmp_path / "src.wav", 0.5, 44100, 2), 44100, subtype=subtype)
    out = tmp_path / "out.wav"
    extra = ["--bit-depth", bit_depth] if bit_depth else []
    done = send("transform", str(path), "--strength", "0.2", "-o", str(out), "--server", serve.endpoint, *extra)
    assert done.returncode == 0, done.stderr
    expected = {"16": "PCM_16", "24": "PCM_24", "32": "FLOAT"}[bit_depth] if bit_depth else subtype
    assert sf.info(str(out)).subtype == expected


def test_send_transform_generate_interpolate_continue(serve, tmp_path):
    a, b = tmp_path / "a.flac", tmp_path / "b.wav"
    write(a, 0.8, 44100, 2, seed=1)
    write(b, 0.5, 22050, 1, seed=2)
    cases = {
        "transform": ["transform", str(a), "--strength", "0.3", "--seed", "7"],
        "generate": ["generate", "--seconds", "0.6", "--sample-rate", "32000", "--channels", "1"],
        "interpolate": ["interpolate", str(a), str(b), "--ratio", "0.3"],
        "continue": ["continue", str(a), "--seconds", "0.4"],
    }
    shapes = {"transform": (35280, 2), "generate": (19200, 1), "interpolate": (35280, 2), "continue": (52920, 2)}
    for op, args in cases.items():
        out = tmp_path / f"{op}.wav"
        done = send(*args, "-o", str(out), "-q", "--server", serve.endpoint)
        assert done.returncode == 0, (op, done.stderr)
        info = sf.info(str(out))
        assert (info.frames, info.channels) == shapes[op], op
    # Errors come back as one line with the server's code and field, exit status 1.
    done = send("transform", str(a), "--strength", "3", "-o", str(tmp_path / "x.wav"), "--server", serve.endpoint)
    assert done.returncode == 1 and "invalid_value [strength]" in done.stderr and "Traceback" not in done.stderr
    done = send("transform", str(a), "--model", "m", "-o", str(tmp_path / "x.wav"), "--server", serve.endpoint)
    assert done.returncode == 1 and "server's model" in done.stderr


def test_send_generate_with_a_midi_melody(serve, tmp_path):
    from reverie.models.melody import Melody, Note

    Melody((Note(0.0, 0.5, 67), Note(0.5, 0.9, 69))).to_midi(tmp_path / "tune.mid")
    out = tmp_path / "tune.wav"
    done = send(
        "generate",
        "--midi",
        str(tmp_path / "tune.mid"),
        "--sample-rate",
        "22050",
        "-q",
        "-o",
        str(out),
        "--server",
        serve.endpoint,
    )
    assert done.returncode == 0, done.stderr
    assert sf.info(str(out)).frames == round(0.9 * 22050)  # the melody's length, as `reverie generate`
    done = send("generate", "--track", "0", "-o", str(out), "--server", serve.endpoint)
    assert done.returncode == 1 and "[track]" in done.stderr and "midi" in done.stderr


def test_send_without_a_server_fails_fast(tmp_path):
    done = send("info", "--server", "tcp://127.0.0.1:9", "--timeout", "0.5", timeout=60)
    assert done.returncode == 1 and "no bridge server answered" in done.stderr


def _as_a_daw_starts_it() -> None:
    # Ardour starts its children with every signal blocked; a shell's background job ignores SIGINT.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@pytest.mark.parametrize("started", [None, _as_a_daw_starts_it], ids=["from a terminal", "blocked and ignored"])
def test_ctrl_c_on_send_cancels_the_job_on_the_server(serve, tmp_path, started):
    path = tmp_path / "long.wav"
    write(path, 20.0, 44100, 1)  # minutes of work at 1000 steps: it cannot finish before the signal
    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.Popen(
        reverie_command(
            "send",
            "transform",
            str(path),
            "--strength",
            "1.0",
            "--steps",
            "1000",
            "-o",
            str(tmp_path / "out.wav"),
            "--server",
            serve.endpoint,
        ),
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=started,
    )
    try:
        with Client(serve.endpoint, timeout=10) as watcher:
            deadline = time.monotonic() + 60
            while watcher.status()["running"] < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            assert watcher.status()["running"] == 1
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=30)
            assert proc.returncode == 130, err
            assert re.search(r"cancelled on the server \(cancelled by the client at step \d+ of \d+\)", err), err
            deadline = time.monotonic() + 10
            while watcher.status()["running"] and time.monotonic() < deadline:
                time.sleep(0.05)
            assert watcher.status()["running"] == 0
    finally:
        if proc.poll() is None:
            proc.kill()
    assert serve.wait_for_line(r"op=transform .* error:cancelled"), serve.log()[-2000:]
    assert not (tmp_path / "out.wav").exists()


def test_keys_command(tmp_path):
    result = CliRunner().invoke(keys, [str(tmp_path / "k")])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "k" / "server.key").is_file() and (tmp_path / "k" / "server.key_secret").is_file()
    assert oct((tmp_path / "k" / "server.key_secret").stat().st_mode & 0o777) == "0o600"
    public = result.output.strip().splitlines()[-1].split(": ")[1]
    assert len(public) == 40 and public in (tmp_path / "k" / "server.key").read_text()
    again = CliRunner().invoke(keys, [str(tmp_path / "k")])
    assert again.exit_code == 1 and "exists already" in again.output


def test_serve_refuses_a_network_bind_without_keys():
    env = dict(os.environ, PYTHONPATH=str(REPO))
    done = subprocess.run(
        reverie_command("serve", "--model", TINY, "--bind", "tcp://0.0.0.0:5599"),
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1 and "needs CURVE keys" in done.stderr and "reverie keys" in done.stderr


def test_serve_checks_the_bind_before_it_loads_the_model(tmp_path):
    """A busy port is named at once: the missing model folder is never reached."""
    import zmq

    taken = zmq.Context.instance().socket(zmq.ROUTER)
    port = taken.bind_to_random_port("tcp://127.0.0.1")
    try:
        done = subprocess.run(
            reverie_command("serve", "--model", str(tmp_path / "no_model"), "--bind", f"tcp://127.0.0.1:{port}"),
            cwd=REPO,
            env=dict(os.environ, PYTHONPATH=str(REPO)),
            capture_output=True,
            text=True,
            timeout=120,
        )
    finally:
        taken.close(0)
    assert done.returncode == 1 and f"cannot bind tcp://127.0.0.1:{port}" in done.stderr, done.stderr
    assert "no_model" not in done.stderr


def test_sigterm_answers_everyone_and_exits_within_seconds(tmp_path):
    """Last in this module: its own server, stopped by SIGTERM with a running and a queued job."""
    proc = ServeProcess("--model", TINY, "--bind", "tcp://127.0.0.1:*")
    try:
        audio = np.zeros((1, 44100), np.float32) + 0.1
        outcome: dict[str, object] = {}

        def job(name):
            try:
                with Client(proc.endpoint, timeout=30) as c:
                    outcome[name] = c.transform(audio, 44100, strength=1.0, steps=1000, job_id=name)
            except ReverieError as exc:
                outcome[name] = exc

        running = threading.Thread(target=job, args=("running",))
        running.start()
        with Client(proc.endpoint, timeout=10) as watcher:
            deadline = time.monotonic() + 60
            while watcher.status()["running"] < 1 and time.monotonic() < deadline:
                time.sleep(0.02)
            queued = threading.Thread(target=job, args=("queued",))
            queued.start()
            while watcher.status()["queued"] < 1 and time.monotonic() < deadline:
                time.sleep(0.02)
        t0 = time.monotonic()
        proc.proc.send_signal(signal.SIGTERM)
        code = proc.proc.wait(15)
        elapsed = time.monotonic() - t0
        running.join(10)
        queued.join(10)
        assert code == 0 and elapsed < 5, (code, elapsed, proc.log())
        for name in ("running", "queued"):
            error = outcome[name]
            assert isinstance(error, CancelledError) and error.code == "shutting_down", (name, error)
        assert "at step" in outcome["running"].message and "not started" in outcome["queued"].message
        log = proc.log()
        assert "shutting down: 1 queued job(s) refused, 1 running job(s) cancelled at their next step" in log
        assert log.rstrip().endswith("stopped")
    finally:
        proc.kill()


def test_send_says_at_once_that_no_server_answers(tmp_path):
    # The reply timeout (30 s by default) is for a busy server; the connection is libzmq's, there in ms.
    done = send("info", "--server", "tcp://127.0.0.1:9", timeout=60)
    assert done.returncode == 1 and "no bridge server answered at tcp://127.0.0.1:9 within 5 s" in done.stderr
