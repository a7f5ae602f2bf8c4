"""`reverie serve --ray`: the same ZeroMQ bridge, its jobs on Ray actors, answering the bridge's own client.

One Ray runtime of 2 CPUs for the module; the server is the real command in a subprocess that joins it.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from dummy_models import TINY

ray = pytest.importorskip("ray", reason='ray is not installed: pip install -e ".[ray]" (scripts/setup does)')

from bridge_helpers import ServeProcess, cancel_a_long_job, running_server  # noqa: E402

from reverie.bridge.client import CancelledError, Client  # noqa: E402


@pytest.fixture(scope="module")
def runtime():
    ray.init(num_cpus=2, include_dashboard=False)
    yield ray.get_runtime_context().gcs_address
    ray.shutdown()


@pytest.fixture(scope="module")
def served(runtime):
    """`reverie serve --ray ADDRESS`: two single-thread workers on the module's runtime."""
    proc = ServeProcess(
        "--ray", runtime, "--model", TINY, "--bind", "tcp://127.0.0.1:*", "--workers", "2", "--threads", "1"
    )
    yield proc
    proc.proc.send_signal(2)
    try:
        proc.proc.wait(30)
    finally:
        proc.kill()


def tone(seconds: float, rate: int = 44100) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return np.stack([0.3 * np.sin(2 * np.pi * 220 * t), 0.3 * np.sin(2 * np.pi * 330 * t)]).astype(np.float32)


def test_the_api_server_runs_on_a_ray_runner(runtime, pipe):
    """The library path: Server(runner=RayRunner(...)), the same server class as the local one. First in the
    module: its actor must be gone before `served` takes the runtime's two CPUs."""
    from reverie.cluster.jobs import RayRunner

    runner = RayRunner(TINY, pipe.model_hash, workers=1, threads=1, address=runtime)
    try:
        with running_server(pipe, runner=runner) as srv, Client(srv.endpoint, timeout=60) as c:
            seen = []

            def progress(step, total, eta):
                seen.append(step)
                return step < 2  # False cancels the job, as with a local one

            with pytest.raises(CancelledError):
                c.generate(30.0, 22050, 1, steps=50, progress=progress)
            assert seen[0] == 1 and seen[-1] < 50 * 10, seen
            assert c.info()["ray"]["workers"][0]["threads"] == 1
    finally:
        runner.close()


def test_info_lists_the_cluster_workers(served):
    with Client(served.endpoint, timeout=60) as c:
        info = c.info()
    assert info["workers"] == 2
    workers = info["ray"]["workers"]
    assert len(workers) == 2 and all(w["threads"] == 1 and w["pid"] for w in workers)
    assert info["ray"]["nodes"][0]["cpus"] == 2


def test_a_job_on_ray_reports_every_step_and_equals_a_local_run(served, pipe):
    steps = []
    with Client(served.endpoint, timeout=60) as c:
        result = c.generate(3.0, 22050, 1, seed=5, steps=6, progress=lambda s, t, eta: steps.append((s, t)))
    import torch

    # The same bytes for the same thread count: the workers run 1 thread (--threads 1), and a CPU's kernels
    # may sum in another order on 2 (on an AMD EPYC here, 1e-8 apart).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        expected = pipe.generate(3.0, sample_rate=22050, channels=1, seed=5, steps=6)
    finally:
        torch.set_num_threads(before)
    total = steps[-1][1]
    assert [s for s, _ in steps] == list(range(1, total + 1))  # every step reached the client, in order
    assert result.sample_rate == 22050 and np.array_equal(result.audio, expected.samples)


def test_cancel_stops_a_ray_job_at_the_next_step_and_frees_its_worker(served):
    with Client(served.endpoint, timeout=60) as c:
        reply, error = cancel_a_long_job(c, tone(1.0), 44100)
        assert reply["was"] == "running" and reply["total"] == 1000
        assert isinstance(error, CancelledError) and error.code == "cancelled"
        found = re.search(r"at step (\d+) of (\d+) \(the worker had the cancel after step (\d+)\)", error.message)
        stopped, total, heard = map(int, found.groups())
        # The server knew step reply["step"] when it sent the cancel; the actor, a few steps ahead of what had
        # reached the server, had finished step `heard` when the cancel arrived, and stops when the step it
        # is in ends: within one step, as a local job does.
        assert total == 1000 and reply["step"] <= heard <= stopped <= heard + 1, (reply, error.message)
        quick = c.transform(tone(0.3), 44100, strength=0.2)
        assert quick.timings["queue_s"] < 0.5


def test_killed_workers_are_reported_restarting_and_jobs_queue_for_them(served):
    """Kill every worker while one runs a long job: that job's error says Ray is restarting it, `info` says
    "restarting", jobs sent meanwhile wait for a worker instead of failing, and `info` then shows the new
    processes."""
    import os
    import signal
    import threading
    import time

    from reverie.bridge.client import RemoteError

    with Client(served.endpoint, timeout=120) as c:
        pids = [w["pid"] for w in c.info()["ray"]["workers"]]
    outcome = {}

    def long_job():
        with Client(served.endpoint, timeout=120) as c:
            try:
                c.generate(60.0, 22050, 1, steps=200, progress=lambda s, t, eta: outcome.setdefault("started", s))
            except Exception as exc:
                outcome["error"] = exc

    job = threading.Thread(target=long_job)
    job.start()
    deadline = time.monotonic() + 60
    while "started" not in outcome and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    job.join(120)
    assert isinstance(outcome.get("error"), RemoteError), outcome
    assert "Ray is restarting it" in str(outcome["error"])
    with Client(served.endpoint, timeout=120) as c:
        states = [w.get("state") for w in c.info()["ray"]["workers"]]
        assert "restarting" in states, states
        for seed in range(3):  # each waits for a restarted worker; none fails
            assert c.transform(tone(0.3), 44100, strength=0.2, seed=seed).audio.shape == (2, 13230)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            workers = c.info()["ray"]["workers"]
            if all("state" not in w for w in workers):
                break
            time.sleep(0.5)
    assert all("state" not in w and w["pid"] not in pids for w in workers), workers
