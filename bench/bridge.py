"""Benchmark the bridge: round-trip overhead over a direct pipeline call, messages per second, peak memory.

    .venv/bin/python bench/bridge.py [--runs 30] [--inpaint-runs 5] [--json out.json]

The server is a real `reverie serve --model tiny` process on 127.0.0.1, with
its default logging. Overhead is measured per request as the client's wall
time minus the time the server spent inside `pipe.run` (reported in every
result's timings.compute_s): exactly what the bridge adds around the one
pipeline call - encoding, both socket hops, validation, queueing, progress
messages and decoding. Medians are reported, with the direct in-process
pipeline time for the same request alongside.

Alongside, a bare ZeroMQ ROUTER echo of the same audio shows what the
transport alone costs on this machine at that moment.

Cases, both on a 10 s stereo 48 kHz clip (3.84 MB each way):
- inpaint of a 2 s region (the DAW case; the tiny model's compute dominates);
- transform with strength 0 (the pipeline validates and copies, no
  denoising), so the bridge's own cost is not buried in compute noise.
Target: <= 5 ms median overhead.
"""

from __future__ import annotations

import argparse
import json
import queue
import statistics
import sys
import threading
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
# The bench starts its server as the bridge tests do; that helper is test code, not part of the package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import numpy as np
import zmq
from bridge_helpers import ServeProcess

from reverie.bridge import protocol as P
from reverie.bridge.client import Client

RATE, SECONDS = 48000, 10.0


def clip() -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(int(RATE * SECONDS)) / RATE
    left = 0.3 * np.sin(2 * np.pi * 220 * t) + 0.01 * rng.standard_normal(len(t))
    right = 0.3 * np.sin(2 * np.pi * 330 * t) + 0.01 * rng.standard_normal(len(t))
    return np.stack([left, right]).astype(np.float32)


def ms(values: list[float]) -> dict:
    values = sorted(v * 1000 for v in values)
    return {
        "median_ms": round(statistics.median(values), 3),
        "p10_ms": round(values[len(values) // 10], 3),
        "p90_ms": round(values[(len(values) * 9) // 10 - (1 if len(values) % 10 == 0 else 0)], 3),
        "n": len(values),
    }


class DirectRunner:
    """Direct pipeline calls on a worker thread, as the server makes them.

    (On a busy 2-core machine torch runs 10x slower on the main thread than on
    another thread, so timing direct calls on the main thread would flatter the bridge.)
    """

    def __init__(self, pipe):
        self.pipe = pipe
        self.jobs: queue.Queue = queue.Queue()
        self.done: queue.Queue = queue.Queue()
        threading.Thread(target=self._loop, daemon=True).start()

    def _loop(self) -> None:
        while True:
            op, kwargs = self.jobs.get()
            t0 = time.perf_counter()
            out = self.pipe.run(op, **kwargs)
            self.done.put((time.perf_counter() - t0, out))

    def run(self, op: str, **kwargs) -> float:
        self.jobs.put((op, kwargs))
        return self.done.get()[0]


class Echo:
    """A bare ROUTER that sends every message straight back: the transport's own cost."""

    def __init__(self):
        self.ctx = zmq.Context()
        self.router = self.ctx.socket(zmq.ROUTER)
        port = self.router.bind_to_random_port("tcp://127.0.0.1")
        self.endpoint = f"tcp://127.0.0.1:{port}"
        threading.Thread(target=self._loop, daemon=True).start()
        self.dealer = self.ctx.socket(zmq.DEALER)
        self.dealer.connect(self.endpoint)

    def _loop(self) -> None:
        while True:
            self.router.send_multipart(self.router.recv_multipart(copy=False), copy=False)

    def round_trip(self, audio: np.ndarray) -> float:
        t0 = time.perf_counter()
        self.dealer.send_multipart([b"{}", memoryview(audio).cast("B")], copy=False)
        frames = self.dealer.recv_multipart(copy=False)
        np.frombuffer(frames[1].buffer, "<f4")
        return time.perf_counter() - t0


def overhead_case(client: Client, direct: DirectRunner, echo: Echo, op: str, kwargs: dict, runs: int) -> dict:
    """Direct call, bridge call and bare transport, interleaved so load changes hit all three alike."""
    from reverie.models.audio import Audio

    audio = kwargs.pop("audio")
    direct_s, walls, overheads, transport = [], [], [], []
    client.run(op, audio=audio, sample_rate=RATE, **kwargs)  # warm up both sides
    direct.run(op, audio=Audio(audio, RATE), **kwargs)
    for _ in range(runs):
        direct_s.append(direct.run(op, audio=Audio(audio, RATE), **kwargs))
        t0 = time.perf_counter()
        result = client.run(op, audio=audio, sample_rate=RATE, **kwargs)
        wall = time.perf_counter() - t0
        assert result.audio.shape == audio.shape
        walls.append(wall)
        overheads.append(wall - result.timings["compute_s"])
        transport.append(echo.round_trip(audio))
    return {
        "overhead": ms(overheads),
        "bare_zmq_round_trip": ms(transport),
        "bridge_wall": ms(walls),
        "direct_call": ms(direct_s),
        "median_wall_minus_direct_ms": round((statistics.median(walls) - statistics.median(direct_s)) * 1000, 3),
    }


def sequential_rate(client: Client, seconds: float) -> float:
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        client.status()
        count += 1
    return count / (time.perf_counter() - t0)


def pipelined_rate(endpoint: str, total: int, window: int) -> float:
    """`status` requests with up to `window` in flight on one DEALER socket."""
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.DEALER)
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(endpoint)
    try:
        sent = received = 0
        t0 = time.perf_counter()
        while received < total:
            while sent < total and sent - received < window:
                sock.send(P.dumps_header({"v": 1, "id": f"s{sent}", "op": "status"}))
                sent += 1
            if not sock.poll(10000, zmq.POLLIN):
                raise RuntimeError("no reply in 10 s")
            header = json.loads(sock.recv_multipart()[0])
            assert header["type"] == "result", header
            received += 1
        return total / (time.perf_counter() - t0)
    finally:
        sock.close()


def tiny_job_rate(client: Client, seconds: float) -> float:
    count, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        client.generate(0.05, 22050, 1, steps=1, job_id=uuid.uuid4().hex)
        count += 1
    return count / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30, help="runs of the zero-compute case")
    parser.add_argument("--inpaint-runs", type=int, default=5, help="runs of the inpaint case")
    parser.add_argument("--rate-seconds", type=float, default=3.0, help="seconds per messages-per-second test")
    parser.add_argument("--json", help="also write the report here")
    args = parser.parse_args()

    from bench.models import model_spec
    from reverie.models.pipeline import load_pipeline

    direct = DirectRunner(load_pipeline(model_spec("tiny")))
    echo = Echo()
    audio = clip()
    server = ServeProcess("--model", model_spec("tiny"), "--bind", "tcp://127.0.0.1:*")
    report: dict = {"clip": f"{SECONDS:g} s stereo {RATE} Hz float32 ({audio.nbytes / 1e6:.2f} MB each way)"}
    try:
        report["server_rss_after_start_mb"] = round(server.peak_rss_bytes() / 2**20, 1)
        with Client(server.endpoint, timeout=600) as client:
            report["copy_transform"] = overhead_case(
                client, direct, echo, "transform", {"audio": audio, "strength": 0.0}, args.runs
            )
            report["inpaint_2s_region"] = overhead_case(
                client,
                direct,
                echo,
                "inpaint",
                {"audio": audio, "start": 4.0, "end": 6.0, "seed": 1},
                args.inpaint_runs,
            )
            report["status_msgs_per_s_sequential"] = round(sequential_rate(client, args.rate_seconds), 1)
            report["status_msgs_per_s_pipelined_32"] = round(pipelined_rate(server.endpoint, 5000, 32), 1)
            report["generate_50ms_1step_jobs_per_s"] = round(tiny_job_rate(client, args.rate_seconds), 1)
        report["server_peak_rss_mb"] = round(server.peak_rss_bytes() / 2**20, 1)
    finally:
        server.kill()
    median = report["copy_transform"]["overhead"]["median_ms"]
    bare = report["copy_transform"]["bare_zmq_round_trip"]["median_ms"]
    report["target"] = (
        f"overhead median {median} ms {'<=' if median <= 5 else '>'} 5 ms "
        f"(a bare ZeroMQ echo of the same audio: {bare} ms)"
    )
    report["load_average"] = Path("/proc/loadavg").read_text().split()[:3] if Path("/proc/loadavg").exists() else None
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")


if __name__ == "__main__":
    main()
