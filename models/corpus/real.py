"""Real produced stereo recordings from Debian packages: the model's detail prior, and held-out test material.

Nothing here is downloaded: the music comes from packages installed by name (`scripts/install-music`):

    apt-get install wesnoth-1.16-music warzone2100-music     # scripts/install-music
    apt-get install supertuxkart-data supertux-data ...      # scripts/install-corpus: CORPUS_PACKAGES

Every fourth track of each package, by sorted file name, is held out: never measured for the prior or
trained on, kept for bench/quality.py's fidelity measures and the tests. The split is a function of
the file name only, so it is the same on every machine.

    python -m reverie.models.corpus.real                  # list what is installed, by split
    python -m reverie.models.corpus.real prior MODEL_DIR  # measure the detail prior into MODEL_DIR/reverie.json
"""

from __future__ import annotations

import argparse
import functools
import json
import operator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

# Debian package -> (the folder its music is under, licence as its debian/copyright states it). The first
# two are installed by scripts/install-music, for the tests and benches; the rest, game soundtracks with
# drums, by scripts/install-corpus, for training and bench/music_fit.py.
SOURCES = {
    "wesnoth-1.16-music": ("/usr/share/games/wesnoth/1.16/data/core/music", "GPL-2+"),
    "warzone2100-music": ("/usr/share/games/warzone2100/music", "GPL-2+ / CC-BY-SA-3.0"),
    "supertuxkart-data": ("/usr/share/games/supertuxkart/data/music", "CC-BY-SA-3.0 / CC-BY-SA-4.0 / CC-BY-3.0"),
    "supertux-data": ("/usr/share/games/supertux2/music", "GPL-2+ / CC-BY-SA"),
    "hedgewars-data": ("/usr/share/games/hedgewars/Data/Music", "GPL-2"),
    "widelands-data": ("/usr/share/games/widelands/data/music", "GPL-2+ / CC-BY-SA-3.0"),
    "freedroidrpg-data": ("/usr/share/freedroidrpg/data/sound/music", "GPL-2+"),
    "flare-game": ("/usr/share/games/flare/mods/fantasycore/music", "CC-BY-SA-3.0+"),
    "openclonk-data": ("/usr/share/games/openclonk/Music.ocg", "ISC / CC-BY-3.0 / CC0"),
    "xmoto-data": ("/usr/share/games/xmoto/Textures/Musics", "GPL-2+"),
    "extremetuxracer-data": ("/usr/share/games/etr/music", "GPL-2+"),
}
CORPUS_PACKAGES = tuple(SOURCES)[2:]
SUFFIXES = (".ogg", ".opus", ".flac", ".wav")
HELD_OUT_EVERY = 4
# The prior measures this stretch of each track: long enough for the mix, short enough to be quick.
PRIOR_SECONDS = (20.0, 60.0)


@dataclass(frozen=True)
class Track:
    package: str
    path: Path
    held_out: bool


def tracks(split: str | None = None) -> list[Track]:
    """The installed tracks, each package's sorted by name; `split` "train" or "held_out" picks one side."""
    found = []
    for package, (folder, _) in SOURCES.items():
        files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in SUFFIXES)
        for index, path in enumerate(files):
            found.append(Track(package, path, held_out(index)))
    return pick(found, split)


def held_out(index: int) -> bool:
    """Whether the track at `index` of its source's sorted list is held out: every fourth."""
    return index % HELD_OUT_EVERY == HELD_OUT_EVERY - 1


def pick(found: list[Track], split: str | None) -> list[Track]:
    """`found` (None), or its "train" or "held_out" side."""
    if split is None:
        return found
    if split not in ("train", "held_out"):
        raise ValueError(f"split must be 'train' or 'held_out', got {split!r}")
    return [t for t in found if t.held_out == (split == "held_out")]


def installed() -> dict[str, bool]:
    return {package: Path(folder).is_dir() for package, (folder, _) in SOURCES.items()}


def read(path: Path, start: float, seconds: float) -> tuple[np.ndarray, int]:
    """(channels, frames) float32 of `seconds` from `start` (less if the track is shorter), and its rate."""
    info = sf.info(str(path))
    first = min(int(start * info.samplerate), max(0, info.frames - int(seconds * info.samplerate)))
    data, rate = sf.read(str(path), start=first, frames=int(seconds * info.samplerate), dtype="float32", always_2d=True)
    return data.T.copy(), rate


def measure_prior(paths: list[Path]) -> dict:
    """The detail (image and air) of all of `paths` together, as PipelineConfig.detail holds it."""
    from ..detail import measure

    def one(path: Path):
        samples, rate = read(path, PRIOR_SECONDS[0], PRIOR_SECONDS[1] - PRIOR_SECONDS[0])
        return measure(samples, rate)

    detail = functools.reduce(operator.add, (one(p) for p in paths)).detail()
    return detail.to_dict()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", nargs="?", choices=("list", "prior"), default="list")
    parser.add_argument("model", nargs="?", type=Path, help="model folder whose reverie.json gets the prior")
    args = parser.parse_args(argv)
    for package, ok in installed().items():
        print(f"{package}: {'installed' if ok else 'not installed (apt-get install ' + package + ')'}")
    train, held = tracks("train"), tracks("held_out")
    print(f"{len(train)} training tracks, {len(held)} held out")
    if args.action == "list":
        for t in held:
            print(f"  held out: {t.path}")
        return
    if args.model is None:
        parser.error("prior needs the model folder to write into")
    if not train:
        parser.error("no real recordings are installed: run scripts/install-music")
    config_file = args.model / "reverie.json"
    config = json.loads(config_file.read_text())
    config["detail"] = measure_prior([t.path for t in train])
    config_file.write_text(json.dumps(config, indent=2) + "\n")
    print(f"wrote the detail prior of {len(train)} tracks to {config_file}")


if __name__ == "__main__":
    main()
