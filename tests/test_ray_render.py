"""`render --ray` on a real Ray cluster of two nodes simulated on this machine (ray.cluster_utils.Cluster).

The files are byte for byte those of `render --jobs 1`; a worker killed mid-stem costs only a retry; Ctrl-C
leaves no partial file and no actor behind.
"""

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
from render_presets import RATE, ROOT, manifest_of, preset_text, render

ray = pytest.importorskip("ray", reason='ray is not installed: pip install -e ".[ray]" (scripts/setup does)')

from reverie.render.engine import usable_cores  # noqa: E402
from reverie.render.manifest import sha256_file  # noqa: E402

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


@pytest.fixture(scope="module")
def cluster():
    """Two Ray nodes, each with this machine's cores, so a stem gets the threads `--jobs 1` gives it here."""
    from ray.cluster_utils import Cluster

    cores = usable_cores()
    nodes = Cluster(initialize_head=True, head_node_args={"num_cpus": cores, "include_dashboard": False})
    nodes.add_node(num_cpus=cores)
    ray.init(address=nodes.address)
    yield nodes
    ray.shutdown()
    nodes.shutdown()


def two_sets(tmp: Path, seconds: float = 4.0) -> list[Path]:
    """Two small presets (the tiny model): one with an effect and a pan, one with a transform-free second seed."""
    a = tmp / "a.toml"
    a.write_text(
        preset_text(
            {"name": "alpha", "sample_rate": RATE, "format": "wav", "seconds": seconds},
            {"name": "pad", "steps": 2},
            {"name": "air", "steps": 2, "style": "calm", "pan": -0.3, "effects": [{"plugin": "Reverb"}]},
        )
    )
    b = tmp / "b.toml"
    b.write_text(
        preset_text(
            {"name": "beta", "sample_rate": RATE, "format": "flac", "bit_depth": 16, "seconds": seconds, "seed": 7},
            {"name": "pad", "steps": 3, "style": "sleep"},
        )
    )
    return [a, b]


def final_files(out: Path) -> dict[str, str]:
    return {
        str(p.relative_to(out)): sha256_file(p)
        for p in sorted(out.rglob("*"))
        if p.is_file() and not p.name.startswith(".") and p.name != "manifest.json"
    }


def partials(out: Path) -> list[str]:
    return [p.name for p in out.rglob("*") if ".partial" in p.name]


def without_timings(manifest: dict) -> dict:
    """The manifest less what differs between any two runs (how long things took, the run's own record)."""
    text = json.dumps({k: v for k, v in manifest.items() if k != "run"})
    data = json.loads(text)
    for entry in [*data["stems"].values(), data["mixdown"]]:
        entry.pop("timings", None)
    return data


def stem_workers(busy: bool = False) -> list[int]:
    """Pids of live StemWorker actors on this machine (Ray titles its worker processes ray::Class[.method]);
    `busy`: only those making a stem's audio."""
    title = b"ray::StemWorker.content\0" if busy else b"ray::StemWorker"
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes()
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            except (OSError, IndexError):
                continue
            if cmdline.startswith(title) and state != "Z":
                found.append(int(entry.name))
    return found


def test_two_presets_on_two_nodes_are_byte_identical_to_jobs_1(cluster, tmp_path):
    presets = two_sets(tmp_path)
    render(*presets, "-o", tmp_path / "local", "--jobs", "1")
    render(*presets, "-o", tmp_path / "ray", "--ray", cluster.address)
    local, on_ray = final_files(tmp_path / "local"), final_files(tmp_path / "ray")
    assert len(local) == 10 and local == on_ray  # 3 stems + 2 mixdowns, each a sound file and a picture
    for name in ("alpha", "beta"):
        here, there = manifest_of(tmp_path / "local" / name), manifest_of(tmp_path / "ray" / name)
        assert without_timings(here) == without_timings(there)
        assert there["run"]["ray"]["workers"] == 2 and there["run"]["ray"]["nodes"] == 2
    # The same keys: `--jobs 1` finds the Ray run's folder up to date.
    again = manifest_of(tmp_path / "ray" / "alpha")
    render(*presets, "-o", tmp_path / "ray", "--jobs", "1")
    assert manifest_of(tmp_path / "ray" / "alpha")["run"]["reused"] == list(again["stems"])
    assert not partials(tmp_path / "ray")


@linux_only
def test_a_worker_killed_mid_stem_is_retried_and_leaves_no_partial_file(cluster, tmp_path):
    from reverie.cluster.render import render_sets_on_ray
    from reverie.models.pipeline import load_pipeline
    from reverie.render.preset import load_preset
    from reverie.render.renderer import plan_set

    presets = two_sets(tmp_path, seconds=40.0)
    render(*presets, "-o", tmp_path / "local", "--jobs", "1")
    pipe = load_pipeline(TINY)
    out = tmp_path / "ray"
    plans = [plan_set(load_preset(p), pipe, out) for p in presets]
    killed: list[int] = []

    def kill_one_mid_stem():
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:  # mid-stem: this process is already writing a stem's audio
            busy = stem_workers(busy=True)
            if busy and [p for p in partials(out) if ".raw.partial" in p]:
                os.kill(busy[0], signal.SIGKILL)
                killed.append(busy[0])
                return
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one_mid_stem)
    killer.start()
    lines: list[str] = []
    report = render_sets_on_ray(plans, pipe, model_spec=TINY, jobs=1, log=lines.append)
    killer.join()
    assert killed, "no worker was caught mid-stem"
    assert sum(len(reasons) for reasons in report["retried"].values()) == 1, report
    assert any("worker lost" in line and "trying again (2 of 3)" in line for line in lines), lines
    assert not report["failed"]
    assert final_files(out) == final_files(tmp_path / "local")
    assert not partials(out)
    retried = {k for m in ("alpha", "beta") for k in manifest_of(out / m)["run"]["ray"].get("retried", {})}
    assert retried == set(report["retried"])


@linux_only
def test_ctrl_c_cancels_the_cluster_tasks_and_leaves_no_partial_file(cluster, tmp_path):
    presets = two_sets(tmp_path, seconds=240.0)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "reverie.cli.render", *map(str, presets), "-o", str(out), "--model", TINY, "-q"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen([*cmd, "--ray", cluster.address], cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline and not [p for p in partials(out) if ".raw.partial" in p]:
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    assert stem_workers(busy=True), "no stem was rendering"
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "interrupted; finished stems are kept" in err
    assert not partials(out)
    finals = [p.name for p in out.rglob("*.wav")] + [p.name for p in out.rglob("*.flac")]
    assert not finals, finals  # nothing had finished: nothing under a final name
    deadline = time.monotonic() + 30
    while stem_workers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not stem_workers(), "actors outlived the interrupted run"


def test_bad_ray_addresses_are_named(tmp_path):
    preset = two_sets(tmp_path)[0]
    out = render(preset, "-o", tmp_path / "o", "--ray", "127.0.0.1:9", code=1)
    assert "--ray 127.0.0.1:9: nothing answers at 127.0.0.1:9" in out and "ray start --head" in out
    out = render("--ray", preset, preset, "-o", tmp_path / "o", code=1)
    assert "that is a file, not a Ray address" in out
