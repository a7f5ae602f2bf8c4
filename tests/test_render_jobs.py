"""`render --jobs N`: workers die with their parent and never publish, the output's threads are in its keys."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from dummy_models import TINY
from render_presets import RATE, ROOT, manifest_of, preset_text

from reverie.cli.render import main
from reverie.render import engine
from reverie.render.manifest import sha256_file
from reverie.render.preset import load_preset
from reverie.render.renderer import plan_set, render_set


def two_stems(seconds: float) -> str:
    return preset_text(
        {"name": "jobs", "sample_rate": RATE, "format": "wav", "seconds": seconds},
        {"name": "first", "steps": 2},
        {"name": "second", "steps": 2, "style": "calm"},
    )


def workers_of(parent: int) -> list[int]:
    """Pids of the multiprocessing workers whose parent is `parent`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (entry / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):
            continue
        if ppid == parent and b"spawn_main" in cmdline:
            found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def final_files(folder: Path) -> dict[str, str]:
    return {p.name: sha256_file(p) for p in folder.iterdir() if not p.name.startswith(".") and p.suffix == ".wav"}


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_die_with_a_killed_parent_and_never_publish(tmp_path):
    preset = tmp_path / "jobs.toml"
    preset.write_text(two_stems(60))
    out = tmp_path / "out"
    folder = out / "jobs"
    cmd = [
        sys.executable,
        "-m",
        "reverie.cli.render",
        str(preset),
        "-o",
        str(out),
        "--model",
        TINY,
        "-q",
        "--jobs",
        "2",
    ]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 240
    while not (folder.is_dir() and list(folder.glob(".*.raw.partial.wav"))):  # a worker is writing a stem
        assert proc.poll() is None, proc.stdout.read().decode()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    workers = workers_of(proc.pid)
    assert workers
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    before = final_files(folder)
    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in workers):
        assert time.monotonic() < deadline, "orphaned workers kept running after their parent was killed"
        time.sleep(0.05)
    time.sleep(1.0)
    assert final_files(folder) == before  # nothing published after the parent died
    recorded = manifest_of(folder)["stems"]
    for name, digest in before.items():  # every file under a final name is complete and recorded
        assert recorded[Path(name).stem]["sha256"] == digest

    rerun = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    m = manifest_of(folder)
    for entry in m["stems"].values():
        assert sha256_file(folder / entry["file"]) == entry["sha256"]
    assert not [p.name for p in folder.iterdir() if ".partial" in p.name]


def test_thread_count_is_in_the_key_and_the_manifest(tmp_path, pipe, monkeypatch):
    """Bytes may depend on torch's thread count: a folder made with another count is rendered again, not reused."""
    preset = tmp_path / "jobs.toml"
    preset.write_text(two_stems(1))
    monkeypatch.setattr(engine, "usable_cores", lambda: 2)
    loaded = load_preset(preset)
    one = plan_set(loaded, pipe, tmp_path / "out", jobs=1)
    assert one.threads == 2 and one.engine["torch"] and "cpu_isa" in one.engine
    render_set(one, pipe, jobs=1, log=lambda line: None)
    m = manifest_of(one.folder)
    assert m["engine"]["threads"] == 2
    again = plan_set(load_preset(preset), pipe, tmp_path / "out", jobs=1)
    assert [p.action for p in again.stems] == ["reuse", "reuse"]
    two = plan_set(load_preset(preset), pipe, tmp_path / "out", jobs=2)
    assert two.threads == 1
    assert [p.action for p in two.stems] == ["render", "render"]
    assert {p.key for p in two.stems}.isdisjoint(p.key for p in one.stems)


def test_the_same_jobs_give_the_same_bytes_and_the_jobs_path_is_quiet(tmp_path, pipe):
    preset = tmp_path / "jobs.toml"
    preset.write_text(two_stems(1))
    result = CliRunner().invoke(
        main, [str(preset), "-o", str(tmp_path / "a"), "--model", TINY, "-q", "--jobs", "2"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert result.output.strip() == f"{tmp_path / 'a'}/jobs/manifest.json"  # -q: nothing but the manifest's path
    lines: list[str] = []  # through the API, the jobs path reports through `log`, like the serial one
    plan = plan_set(load_preset(preset), pipe, tmp_path / "b", jobs=2)
    render_set(plan, pipe, model_spec=TINY, jobs=2, log=lines.append)
    assert sorted(line.split(":")[0] for line in lines) == ["jobs/first.wav", "jobs/mixdown.wav", "jobs/second.wav"]
    assert final_files(tmp_path / "a" / "jobs") == final_files(tmp_path / "b" / "jobs")
