"""End to end over real sockets on 127.0.0.1: the real tiny pipeline behind a real server."""

from __future__ import annotations

import json
import re
import threading
import time

import numpy as np
import pytest
import zmq
from bridge_helpers import cancel_a_long_job, collect, exchange, raw_socket, running_server
from dummy_models import tiny_pipeline

from reverie.bridge import protocol as P
from reverie.bridge.client import BridgeTimeout, BusyError, CancelledError, Client, InvalidRequest
from reverie.bridge.keys import load_public, load_secret, make_keypair
from reverie.bridge.server import Server
from reverie.bridge.validate import Limits
from reverie.models.audio import Audio
from reverie.models.errors import ReverieError


@pytest.fixture(scope="module")
def tiny_pipe():
    """The tiny model, with its zero-initialised layers (the output projection) given small random
    weights: untouched, the model predicts zeros and style or melody could not change a sample,
    so a bridge that dropped them would pass these tests."""
    import torch

    pipe = tiny_pipeline()
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for weight in pipe.unet.parameters():
            if not weight.any():
                weight.copy_(torch.randn(weight.shape, generator=generator) * 0.02)
    return pipe


@pytest.fixture(scope="module")
def server(tiny_pipe):
    with running_server(tiny_pipe, workers=2) as srv:
        yield srv


@pytest.fixture
def client(server):
    with Client(server.endpoint, timeout=60) as c:
        yield c


def signal(seconds, rate, channels=2, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(round(seconds * rate)) / rate
    rows = [0.3 * np.sin(2 * np.pi * (220 + 110 * c) * t) + 0.01 * rng.standard_normal(len(t)) for c in range(channels)]
    return np.stack(rows).astype(np.float32)


def test_info(client, tiny_pipe):
    info = client.info()
    assert info["type"] == "result" and info["version"] == P.VERSION
    assert info["model"] == {"hash": tiny_pipe.model_hash, "sample_rate": tiny_pipe.sample_rate, **tiny_pipe.card}
    assert info["model"]["name"] == "unsaved" and info["model"]["trained_on"] == []
    assert info["styles"] == list(tiny_pipe.styles)
    assert info["defaults"]["steps"] == tiny_pipe.defaults["steps"]
    assert info["limits"]["max_message_bytes"] == 256 * 1024 * 1024
    assert set(info["ops"]) == set(P.OPS)


def test_stereo_48k_inpaint_keeps_outside_bit_exact(client, tiny_pipe):
    audio = signal(2.0, 48000, seed=3)
    steps = []
    result = client.inpaint(
        audio, 48000, start=0.6, end=1.1, seed=5, progress=lambda step, total, eta: steps.append((step, total))
    )
    out = result.audio
    assert out.shape == (2, 96000) and out.dtype == np.float32 and result.sample_rate == 48000
    first, last = round(0.6 * 48000), round(1.1 * 48000)
    assert np.array_equal(out[:, :first].view(np.uint32), audio[:, :first].view(np.uint32))
    assert np.array_equal(out[:, last:].view(np.uint32), audio[:, last:].view(np.uint32))
    assert not np.array_equal(out[:, first:last], audio[:, first:last])
    # The same pipeline call, directly: the bridge adds nothing and loses nothing.
    direct = tiny_pipe.run("inpaint", audio=Audio(audio, 48000), start=0.6, end=1.1, seed=5)
    assert np.array_equal(out, direct.samples)
    total = tiny_pipe.total_steps("inpaint", audio=Audio(audio, 48000), start=0.6, end=1.1)
    assert steps == [(i, total) for i in range(1, total + 1)]
    assert result.seed == 5 and result.model_hash == tiny_pipe.model_hash
    assert result.timings["compute_s"] > 0 and result.timings["queue_s"] >= 0


@pytest.mark.parametrize("rate,channels", [(44100, 1), (22050, 2), (96000, 3)])
def test_every_op_answers_at_the_callers_rate_channels_and_length(client, rate, channels):
    a = signal(0.5, rate, channels, seed=1)
    b = signal(0.3, 32000, 1, seed=2)
    assert client.generate(0.4, rate, channels).audio.shape == (channels, round(0.4 * rate))
    assert client.transform(a, rate, strength=0.3).audio.shape == a.shape
    got = client.interpolate(a, b, rate, b_rate=32000, ratio=0.4)
    assert got.audio.shape == a.shape and got.sample_rate == rate
    cont = client.continue_(a, rate, 0.25)
    assert cont.audio.shape == (channels, a.shape[1] + round(0.25 * rate))
    assert np.array_equal(cont.audio[:, : a.shape[1]], a)


def test_interleaved_request_gets_interleaved_reply_with_same_samples(server, tiny_pipe):
    audio = signal(0.5, 44100, seed=4)
    entry, frame = P.audio_entry("audio", audio, 44100, P.INTERLEAVED)
    head = {"v": 1, "id": "il", "op": "transform", "params": {"strength": 0.2, "seed": 2}, "payload": [entry]}
    sock = raw_socket(server.endpoint)
    try:
        replies = exchange(sock, [P.dumps_header(head), bytes(frame)], timeout=60)
    finally:
        sock.close()
    types = [h["type"] for h, _ in replies]
    assert types[0] == "accepted" and types[-1] == "result" and set(types[1:-1]) == {"progress"}
    header, frames = replies[-1]
    assert header["payload"][0]["layout"] == "interleaved"
    out = np.frombuffer(frames[0], "<f4").reshape(-1, 2).T
    direct = tiny_pipe.run("transform", audio=Audio(audio, 44100), strength=0.2, seed=2)
    assert np.array_equal(out, direct.samples)


def test_style_reaches_the_model(client):
    calm = client.generate(0.5, 22050, 1, style="calm", seed=3).audio
    sad = client.generate(0.5, 22050, 1, style="sad", seed=3).audio
    assert not np.array_equal(calm, sad)


def test_pipeline_errors_are_forwarded_with_code_field_and_message(client):
    audio = signal(0.5, 48000)
    with pytest.raises(InvalidRequest) as caught:
        client.inpaint(audio, 48000, start=0.2, end=3.0)
    assert caught.value.code == "invalid_value" and caught.value.field == "end"
    assert "0.500 s" in caught.value.message
    with pytest.raises(InvalidRequest) as caught:
        client.transform(audio, 48000, style="jazzy")
    assert caught.value.field == "style" and "sleep" in caught.value.message
    with pytest.raises(InvalidRequest) as caught:
        client.transform(audio, 48000, strength=0.3, timestep=100)
    assert caught.value.field == "timestep"
    with pytest.raises(InvalidRequest) as caught:
        client.request("status", {"job": "nope"})
    assert caught.value.code == "not_found" and caught.value.field == "job"
    # A bar of no beats is the bar's fault, not the tempo's (the bridge blamed bpm); bars past the one
    # length limit are refused by name.
    with pytest.raises(InvalidRequest) as caught:
        client.generate(None, 22050, 1, bars=2, bpm=96, beats_per_bar=0)
    assert caught.value.field == "beats_per_bar" and "between 1 and 16, got 0" in caught.value.message
    with pytest.raises(InvalidRequest) as caught:
        client.generate(None, 22050, 1, bars=10000, bpm=96)
    assert caught.value.field == "bars" and "10000 bars at bpm 96 last 25000 s" in caught.value.message


def test_generate_follows_a_midi_melody(client, tiny_pipe):
    melody = pytest.importorskip("reverie.models.melody")
    from reverie.models.melody.midi import midi_bytes

    notes = [melody.Note(0.0, 0.5, 60), melody.Note(0.5, 1.2, 64)]
    data = midi_bytes(notes)
    result = client.generate(None, 22050, 1, midi=data, seed=1)
    # seconds defaults to the melody's length, as in the CLI
    assert result.audio.shape == (1, round(1.2 * 22050))
    direct = tiny_pipe.run(
        "generate", seconds=1.2, sample_rate=22050, channels=1, seed=1, melody=melody.Melody.from_midi(data)
    )
    assert np.array_equal(result.audio, direct.samples)
    plain = client.generate(1.2, 22050, 1, seed=1).audio
    assert not np.array_equal(result.audio, plain)  # the melody conditions the model
    other_track = client.generate(1.2, 22050, 1, midi=data, track=0, seed=1)
    assert np.array_equal(other_track.audio, result.audio)  # the one track is the whole melody
    with pytest.raises(InvalidRequest) as caught:
        client.generate(1.0, midi=b"MThd garbage")
    assert caught.value.field == "midi"
    with pytest.raises(InvalidRequest) as caught:
        client.generate(1.0, track=2)
    assert caught.value.field == "track"


def test_eight_concurrent_clients_all_get_their_own_correct_answers(server, tiny_pipe):
    jobs = []
    for i in range(8):
        rate = (22050, 44100, 48000)[i % 3]
        audio = signal(0.4 + 0.05 * i, rate, 1 + i % 2, seed=i)
        jobs.append((rate, audio, dict(strength=0.3, seed=i)))
    expected = [tiny_pipe.run("transform", audio=Audio(a, r), **kw).samples for r, a, kw in jobs]
    results, errors = [None] * 8, []

    def one(i):
        rate, audio, kw = jobs[i]
        try:
            with Client(server.endpoint, timeout=120) as c:
                for _attempt in range(50):  # 8 clients, 2 workers, queue 8: busy is possible, so retry
                    try:
                        results[i] = c.transform(audio, rate, **kw)
                        return
                    except BusyError:
                        time.sleep(0.2)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append((i, exc))

    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(180)
    assert not errors
    for i, (rate, _, _) in enumerate(jobs):
        assert results[i].sample_rate == rate
        assert np.array_equal(results[i].audio, expected[i]), f"client {i} got another answer"


def step_of(error):
    """The step a cancelled job stopped at, from its message ("... at step N of T")."""
    found = re.search(r"at step (\d+) of (\d+)", error.message)
    return int(found.group(1)), int(found.group(2))


def test_cancel_mid_job_stops_within_a_step_and_frees_the_worker(tiny_pipe):
    with running_server(tiny_pipe, workers=1) as srv, Client(srv.endpoint, timeout=60) as c:
        reply, error = cancel_a_long_job(c, signal(1.0, 44100), 44100)
        assert reply["was"] == "running" and reply["total"] == 1000
        assert isinstance(error, CancelledError) and error.code == "cancelled" and error.field is None
        stopped, total = step_of(error)
        assert total == 1000 and reply["step"] <= stopped <= reply["step"] + 1
        # The worker is free again: a new job starts with no queue wait.
        quick = c.transform(signal(0.3, 44100), 44100, strength=0.2)
        assert quick.timings["queue_s"] < 0.5


def test_progress_callback_returning_false_cancels(client):
    seen = []

    def progress(step, total, eta):
        seen.append(step)
        return step < 2

    with pytest.raises(CancelledError):
        client.transform(signal(1.0, 44100), 44100, strength=1.0, steps=1000, progress=progress)
    assert seen[0] == 1 and seen[-1] < 1000


def test_cancel_from_another_thread_and_of_a_queued_job(tiny_pipe):
    with running_server(tiny_pipe, workers=1, limits=Limits(max_queue=1)) as srv:
        audio = signal(1.0, 44100)
        outcome = {}
        with Client(srv.endpoint, timeout=60) as c:

            def long_job(name):
                try:
                    c.transform(audio, 44100, strength=1.0, steps=1000, job_id=name)
                except ReverieError as exc:
                    outcome[name] = exc

            t1 = threading.Thread(target=long_job, args=("first",))
            t1.start()
            deadline = time.monotonic() + 30
            while c.status().get("running", 0) < 1 and time.monotonic() < deadline:
                time.sleep(0.02)
            t2 = threading.Thread(target=long_job, args=("second",))
            t2.start()
            while c.status()["queued"] < 1 and time.monotonic() < deadline:
                time.sleep(0.02)
            # The queue holds one: a third job is refused straight away.
            with Client(srv.endpoint, timeout=10) as other:
                t0 = time.monotonic()
                with pytest.raises(BusyError) as busy:
                    other.transform(audio, 44100)
                assert busy.value.code == "busy" and time.monotonic() - t0 < 2
            assert c.status("second")["state"] == "queued" and c.status("second")["position"] == 0
            reply = c.cancel("second")
            assert (reply["type"], reply["job"], reply["was"]) == ("result", "second", "queued")
            t2.join(10)
            assert isinstance(outcome["second"], CancelledError) and "before it started" in outcome["second"].message
            reply = c.cancel("first")
            assert reply["was"] == "running"
            t1.join(30)
            assert isinstance(outcome["first"], CancelledError)
            assert step_of(outcome["first"])[0] <= reply["step"] + 1
            assert c.status()["jobs"] == [] and c.status()["running"] == 0


def long_job(job_id: str, seconds: float = 1.0) -> list:
    """The frames of a transform that runs for minutes (1000 steps): it is running or queued when the test acts."""
    entry, frame = P.audio_entry("audio", signal(seconds, 44100, 1), 44100)
    head = {"v": 1, "id": job_id, "op": "transform", "params": {"strength": 1.0, "steps": 1000}, "payload": [entry]}
    return [P.dumps_header(head), bytes(frame)]


def test_duplicate_id_is_refused(tiny_pipe):
    with running_server(tiny_pipe, workers=1) as srv:
        sock = raw_socket(srv.endpoint)
        try:
            sock.send_multipart(long_job("same"))
            sock.send_multipart(long_job("same"))
            sock.send_multipart([P.dumps_header({"v": 1, "id": "c", "op": "cancel", "params": {"job": "same"}})])
            replies = collect_all(sock, {"same"}, timeout=30)
            codes = [h.get("code") for h in replies if h["type"] == "error"]
            assert "duplicate_id" in codes and "cancelled" in codes
        finally:
            sock.close()


def test_info_or_status_may_not_reuse_a_live_jobs_id(tiny_pipe):
    """Its result would read as that job's answer, so a request id that names a live job is refused."""
    with running_server(tiny_pipe, workers=1) as srv:
        sock = raw_socket(srv.endpoint)
        try:
            sock.send_multipart(long_job("job"))
            for op in ("info", "status"):
                sock.send_multipart([P.dumps_header({"v": 1, "id": "job", "op": op})])
            sock.send_multipart([P.dumps_header({"v": 1, "id": "c", "op": "cancel", "params": {"job": "job"}})])
            replies = collect_all(sock, {"job"}, timeout=30)
            refused = [h for h in replies if h.get("code") == "duplicate_id"]
            assert len(refused) == 2 and all("belongs to your queued or running job" in h["message"] for h in refused)
            assert not any(h["type"] == "result" and h.get("op") in ("info", "status") for h in replies)
        finally:
            sock.close()


def test_a_job_refused_during_shutdown_is_logged_with_its_op(tiny_pipe, caplog):
    caplog.set_level("INFO", logger="reverie.bridge")
    srv = Server(tiny_pipe, "tcp://127.0.0.1:*")
    srv.bind()
    srv._stop.set()  # as the signal handler does, before this request is handled
    entry = {"v": 1, "id": "late", "op": "generate", "params": {"seconds": 1.0}}
    srv._handle([zmq.Frame(b"peer"), zmq.Frame(P.dumps_header(entry))])
    srv._close()
    assert re.search(r"id=late op=generate .*error:shutting_down", caplog.text), caplog.text


def test_ipv6_loopback_bind(tiny_pipe):
    with running_server(tiny_pipe, bind="tcp://[::1]:*") as srv, Client(srv.endpoint, timeout=30) as c:
        assert srv.endpoint.startswith("tcp://[::1]:")
        assert c.info()["version"] == P.VERSION


def collect_all(sock, ids, timeout):
    """Replies until every id in `ids` had its final reply (the first one for that id)."""
    replies, finals = [], set()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and finals != ids:
        got = collect(sock, deadline - time.monotonic())
        for header, _ in got:
            replies.append(header)
            if header["type"] in ("result", "error") and header["id"] in ids and header.get("code") != "duplicate_id":
                finals.add(header["id"])
    return replies


def test_curve_keys(tiny_pipe, tmp_path):
    public_file, secret_file = make_keypair(tmp_path)
    with pytest.raises(ReverieError):
        make_keypair(tmp_path)  # never overwrites a key
    with running_server(tiny_pipe, curve_keys=load_secret(secret_file)) as srv:
        with Client(srv.endpoint, server_key=str(public_file), timeout=10) as c:
            assert c.info()["version"] == 1
        with Client(srv.endpoint, server_key=load_public(public_file).decode(), timeout=10) as c:
            assert c.info()["model"]["hash"] == tiny_pipe.model_hash
        wrong_public, _ = make_keypair(tmp_path, "other")
        with Client(srv.endpoint, server_key=str(wrong_public), timeout=1.5) as c, pytest.raises(BridgeTimeout):
            c.info()
        with Client(srv.endpoint, timeout=1.5) as c, pytest.raises(BridgeTimeout):
            c.info()  # plain text client against a CURVE server: no handshake, no answer


def test_curve_with_known_clients_only(tiny_pipe, tmp_path):
    _, secret_file = make_keypair(tmp_path / "server")
    known_public, known_secret = make_keypair(tmp_path / "clients", "studio")
    _, stranger_secret = make_keypair(tmp_path / "elsewhere", "stranger")
    server_public = tmp_path / "server" / "server.key"
    with running_server(
        tiny_pipe, curve_keys=load_secret(secret_file), client_keys_dir=str(tmp_path / "clients")
    ) as srv:
        with Client(srv.endpoint, server_key=str(server_public), client_key=str(known_secret), timeout=10) as c:
            assert c.info()["version"] == 1
        with Client(srv.endpoint, server_key=str(server_public), client_key=str(stranger_secret), timeout=1.5) as c:
            with pytest.raises(BridgeTimeout):
                c.info()
        with Client(srv.endpoint, server_key=str(server_public), timeout=1.5) as c, pytest.raises(BridgeTimeout):
            c.info()  # a fresh pair is not among the known clients


def test_a_queued_job_outlives_the_client_timeout(tiny_pipe):
    """A queued job hears nothing until it starts; the client checks `status` instead of giving up."""
    with running_server(tiny_pipe, workers=1) as srv, Client(srv.endpoint, timeout=60) as owner:
        outcome = {}

        def long_job():
            try:
                owner.transform(signal(3.0, 44100, 1), 44100, strength=1.0, steps=1000, job_id="long")
            except ReverieError as exc:
                outcome["long"] = exc

        def quick_job():
            try:
                with Client(srv.endpoint, timeout=0.3) as impatient:
                    outcome["quick"] = impatient.transform(signal(0.3, 44100), 44100, strength=0.2)
            except ReverieError as exc:
                outcome["quick"] = exc

        first = threading.Thread(target=long_job)
        first.start()
        deadline = time.monotonic() + 30
        while owner.status()["running"] < 1 and time.monotonic() < deadline:
            time.sleep(0.01)
        second = threading.Thread(target=quick_job)
        second.start()
        time.sleep(1.5)  # five of the impatient client's timeouts, in the queue
        assert "quick" not in outcome, outcome
        owner.cancel("long")
        first.join(30)
        second.join(30)
        quick = outcome["quick"]
        assert not isinstance(quick, Exception), quick
        assert quick.audio.shape == (2, 13230) and quick.timings["queue_s"] > 1.0


def test_generate_follows_a_hummed_melody(client, tiny_pipe):
    melody = pytest.importorskip("reverie.models.melody")
    tune = melody.Melody((melody.Note(0.0, 0.4, 60), melody.Note(0.45, 0.9, 64)))
    hum = melody.synthesize_hum(tune, 16000, seed=0)
    result = client.generate(0.5, 22050, 1, hum=hum.samples, hum_rate=16000, seed=2)
    direct = tiny_pipe.run(
        "generate", seconds=0.5, sample_rate=22050, channels=1, seed=2, melody=melody.Melody.from_hum(hum)
    )
    assert np.array_equal(result.audio, direct.samples)
    plain = client.generate(0.5, 22050, 1, seed=2).audio
    assert not np.array_equal(result.audio, plain)  # the melody conditions the model
    whole = client.generate(None, 22050, 1, hum=hum.samples, hum_rate=16000, seed=2)
    assert whole.audio.shape[-1] == round(hum.seconds * 22050)  # no seconds: the take's length, as the CLI


@pytest.mark.parametrize("grace,finishes", [(60.0, True), (0.3, False)])
def test_shutdown_in_finish_mode(tiny_pipe, grace, finishes):
    """on_shutdown="finish": running jobs may finish within the grace period, then they are cancelled."""
    srv = Server(tiny_pipe, "tcp://127.0.0.1:*", on_shutdown="finish", grace=grace)
    srv.bind()
    io = threading.Thread(target=srv.serve, daemon=True)
    io.start()
    srv.wait_ready(10)
    outcome = {}
    steps = 60 if finishes else 1000

    def job():
        try:
            with Client(srv.endpoint, timeout=60) as c:
                outcome["job"] = c.transform(signal(1.0, 44100), 44100, strength=1.0, steps=steps)
        except ReverieError as exc:
            outcome["job"] = exc

    worker = threading.Thread(target=job)
    worker.start()
    deadline = time.monotonic() + 30
    while srv.status(b"", None)["running"] < 1 and time.monotonic() < deadline:
        time.sleep(0.01)
    srv.stop()
    io.join(90)
    worker.join(30)
    assert not io.is_alive()
    if finishes:
        assert outcome["job"].audio.shape == (2, 44100)
    else:
        assert isinstance(outcome["job"], CancelledError) and outcome["job"].code == "shutting_down"


def test_non_loopback_bind_needs_keys(tiny_pipe):
    with pytest.raises(ReverieError) as caught:
        Server(tiny_pipe, "tcp://0.0.0.0:5555")
    assert caught.value.field == "bind" and "reverie keys" in caught.value.message


def test_unreachable_server_times_out_quickly():
    with zmq.Context() as ctx:
        probe = ctx.socket(zmq.ROUTER)
        port = probe.bind_to_random_port("tcp://127.0.0.1")
        probe.close(0)
    with Client(f"tcp://127.0.0.1:{port}", timeout=1.0) as c:
        t0 = time.monotonic()
        with pytest.raises(BridgeTimeout) as caught:
            c.info()
        assert caught.value.code == "unreachable" and time.monotonic() - t0 < 5


def test_a_client_that_disconnects_loses_its_running_and_queued_jobs(tiny_pipe, caplog):
    """A closed socket must not hold the worker: its jobs stop within a step, and the next client runs at once."""
    caplog.set_level("INFO", logger="reverie.bridge")
    with running_server(tiny_pipe, workers=1) as srv:
        leaver = raw_socket(srv.endpoint, zmq.Context())
        for job_id in ("long", "queued"):
            leaver.send_multipart(long_job(job_id, seconds=3.0))
        types = []
        while P.PROGRESS not in types:
            assert leaver.poll(30_000), f"no progress from the long job: {types}"
            types.append(json.loads(leaver.recv_multipart()[0])["type"])
        leaver.close(0)
        leaver.context.term()
        started = time.monotonic()
        with Client(srv.endpoint, timeout=60) as c:
            quick = c.transform(signal(0.3, 44100), 44100, strength=0.2)
            waited = time.monotonic() - started
            assert c.status()["running"] == 0 and c.status()["queued"] == 0
        assert quick.audio.shape == (2, 13230)
        assert waited < 10, f"the next client waited {waited:.1f} s behind a disconnected client's jobs"
    log = caplog.text
    assert "disconnected: cancelled its 2 job(s)" in log, log
    assert re.search(r"id=long op=transform .* error:disconnected", log), log
    assert re.search(r"id=queued op=transform .* error:disconnected", log), log


def test_max_queue_zero_runs_a_job_when_a_worker_is_free_and_refuses_the_rest(tiny_pipe):
    with running_server(tiny_pipe, workers=1, limits=Limits(max_queue=0)) as srv:
        with Client(srv.endpoint, timeout=60) as c:
            assert c.transform(signal(0.3, 44100), 44100, strength=0.2).audio.shape == (2, 13230)
            # The result can reach us a moment before its worker is counted free (seen on a loaded machine).
            deadline = time.monotonic() + 30
            while c.status()["running"] and time.monotonic() < deadline:
                time.sleep(0.01)
            sock = raw_socket(srv.endpoint)
            try:
                for job_id in ("long", "second"):
                    sock.send_multipart(long_job(job_id))
                deadline = time.monotonic() + 30
                while c.status()["running"] < 1 and time.monotonic() < deadline:
                    time.sleep(0.01)
                sock.send_multipart([P.dumps_header({"v": 1, "id": "c", "op": "cancel", "params": {"job": "long"}})])
                replies = collect_all(sock, {"long", "second"}, timeout=30)
            finally:
                sock.close()
    finals = {h["id"]: h.get("code") for h in replies if h["type"] in ("result", "error")}
    assert finals["second"] == "busy" and finals["long"] == "cancelled", replies


def test_samples_far_over_full_scale_are_answered_bad_audio(client):
    loud = np.full((2, 4410), 3e38, np.float32)
    with pytest.raises(ReverieError) as caught:
        client.transform(loud, 44100, strength=0.3)
    assert caught.value.code == "bad_audio" and "allowed at most 1000" in caught.value.message
