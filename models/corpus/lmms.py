"""LMMS's demo projects, rendered by LMMS itself: real produced stereo music (synthesisers, drum kits,
effects, whole mixes) for the unconditional branch, beside the Debian music packages of real.py.

    apt-get install lmms        (the projects come with lmms-common)

Each project is rendered once, headless (`QT_QPA_PLATFORM=offscreen lmms --allowroot render ...`), at
44.1 kHz, into a cache folder, and then read like any real track. As in real.py, every fourth project
by sorted path is held out. The 25 projects of Debian's lmms-common 1.2.2 give 65 minutes of music in
about 7 minutes here; their licences (GPL-2+, Artistic-2, BSD-2-clause, CC-BY-SA-3.0) are listed in
/usr/share/doc/lmms-common/copyright.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ..errors import ReverieError
from .build import SAMPLE_RATE
from .real import Track, held_out, pick

PROJECTS = Path("/usr/share/lmms/projects")
FOLDERS = ("demos", "shorties")  # not the templates (empty songs) or the tutorials
PACKAGE = "lmms"
TIMEOUT_S = 600


def installed() -> bool:
    return shutil.which("lmms") is not None and PROJECTS.is_dir()


def projects() -> list[Path]:
    return sorted(p for folder in FOLDERS for p in (PROJECTS / folder).rglob("*") if p.suffix in (".mmp", ".mmpz"))


def render(project: Path, out: Path) -> Path:
    """`project` rendered to the WAV file `out` (written whole or not at all)."""
    partial = out.with_suffix(".partial.wav")
    command = ["lmms", "--allowroot", "render", str(project), "-f", "wav", "-s", str(SAMPLE_RATE), "-o", str(partial)]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    try:
        done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=TIMEOUT_S)
    except FileNotFoundError:
        raise ReverieError("LMMS is not installed: apt-get install lmms", field="lmms") from None
    except subprocess.TimeoutExpired:
        raise ReverieError(f"LMMS took over {TIMEOUT_S} s to render {project}", field="lmms") from None
    if done.returncode != 0 or not partial.is_file():
        tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
        raise ReverieError(f"LMMS could not render {project}: {tail[0]}", field="lmms")
    partial.replace(out)
    return out


def tracks(cache: Path, split: str | None = None) -> list[Track]:
    """Every project as a rendered track (rendering those not yet in `cache`); `split` as in real.tracks."""
    if not installed():
        return []
    cache.mkdir(parents=True, exist_ok=True)
    found = []
    for index, project in enumerate(projects()):
        out = cache / f"{project.stem}.wav"
        if not out.is_file():
            render(project, out)
        found.append(Track(PACKAGE, out, held_out(index)))
    return pick(found, split)
