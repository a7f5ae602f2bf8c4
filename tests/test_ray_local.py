"""`render --ray` on the local Ray runtime it starts itself, as a user runs it: a StemWorker killed while it
loads the model or mid-stem costs a retry on the restarted actor, and the files are those of `--jobs 1`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from dummy_models import TINY
from render_presets import RATE, preset_text
from test_ray_render import final_files, partials, stem_workers

pytest.importorskip("ray", reason='ray is not installed: pip install -e ".[ray]" (scripts/setup does)')
linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

RENDER = [sys.executable, "-c", "from reverie.cli.render import main; main()"]


def small(tmp: Path) -> Path:
    path = tmp / "small.toml"
    path.write_text(
        preset_text(
            {"name": "small", "sample_rate": RATE, "format": "wav", "seconds": 40},
            {"name": "a", "steps": 2},
            {"name": "b", "steps": 2, "style": "sad"},
        )
    )
    return path


@linux_only
@pytest.mark.parametrize("when", ["loading", "mid-stem"])
def test_a_killed_worker_is_restarted_and_the_render_finishes_byte_identical(tmp_path, when):
    preset = small(tmp_path)
    local = subprocess.run(
        [*RENDER, str(preset), "-o", str(tmp_path / "local"), "--jobs", "1", "--model", TINY, "-q"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert local.returncode == 0, local.stderr
    out = tmp_path / "ray"
    killed: list[int] = []

    def kill():
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and not killed:
            workers = stem_workers(busy=when == "mid-stem")
            if workers and (when == "loading" or [p for p in partials(out) if ".raw.partial" in p]):
                os.kill(workers[0], signal.SIGKILL)
                killed.append(workers[0])
            time.sleep(0.02)

    killer = threading.Thread(target=kill)
    killer.start()
    run = subprocess.run(
        [*RENDER, str(preset), "-o", str(out), "--ray", "--model", TINY, "-q"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    killed.append(0)  # stop the killer if it never struck
    killer.join()
    assert killed[0], f"no worker was caught {when}"
    assert run.returncode == 0, run.stderr[-3000:]
    if when == "mid-stem":
        assert "worker lost" in run.stderr and "trying again (2 of 3)" in run.stderr, run.stderr[-3000:]
    assert "no Ray worker was left" not in run.stderr
    assert final_files(out) == final_files(tmp_path / "local")
    assert not partials(out)
    manifest = json.loads((out / "small" / "manifest.json").read_text())
    assert set(manifest["stems"]) == {"a", "b"} and manifest["mixdown"]["file"] == "mixdown.wav"
