"""manifest.json: what was rendered from what, and the cache keys that decide what a later run reuses.

A stem's key is the sha256 of everything its file depends on: the renderer
version, the model hash, the set's format and length, the stem's resolved
parameters (seeds and model defaults filled in) and the sha256 of every input
file. A stem is reused when the manifest holds the same key and its file is
still there with the recorded hash. The manifest is rewritten (atomically)
after every finished stem, so an interrupted run keeps what it finished.

An entry is saved under `pending` just before its files are renamed into
place and moved to `stems` (or `mixdown`) just after: a run killed between
the rename and the manifest update still finds the file, checks its hash
against the pending entry and reuses it instead of rendering it again.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

# Bump when a change in the renderer changes the audio it writes for the same inputs.
RENDER_VERSION = 3  # 2: TPDF dither on 16-bit files, tags in every file; 3: a bext chunk in WAV files
MANIFEST = "manifest.json"
FORMAT = "reverie-render/1"
MIXDOWN = "mixdown"  # the mixdown's output name (a name no stem may take)


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            digest.update(block)
    return digest.hexdigest()


def cache_key(*parts) -> str:
    """sha256 of the canonical JSON of `parts`."""
    text = json.dumps([RENDER_VERSION, *parts], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def write_json_atomic(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.partial")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    os.replace(tmp, path)


def read_manifest(folder: Path) -> dict:
    """The previous run's manifest, or an empty one when there is none or it cannot be read."""
    path = folder / MANIFEST
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("format") == FORMAT else {}


def still_valid(entry: dict | None, key: str, folder: Path) -> bool:
    """Is a manifest entry's file there, unchanged, and made from the same key?"""
    if not entry or entry.get("key") != key:
        return False
    path = folder / entry.get("file", "")
    if not path.is_file() or path.stat().st_size != entry.get("bytes"):
        return False
    return sha256_file(path) == entry.get("sha256")


class Manifest:
    """The manifest of one set folder, saved after every change."""

    def __init__(self, folder: Path, previous: dict | None = None):
        self.folder = folder
        self.previous = read_manifest(folder) if previous is None else previous
        self.data = {"format": FORMAT, "stems": {}, "mixdown": None}

    def start(self, header: dict) -> None:
        """Begin this run's manifest: the header first, then the stems and mixdown as they finish."""
        self.data = {"format": FORMAT, **header, "stems": {}, "mixdown": None, "pending": {}}

    def previous_entries(self, name: str) -> list[dict]:
        """The previous run's entries for output `name` (a stem, or "mixdown"): finished, then pending."""
        finished = self.previous.get("mixdown") if name == MIXDOWN else (self.previous.get("stems") or {}).get(name)
        pending = (self.previous.get("pending") or {}).get(name)
        return [e for e in (finished, pending) if isinstance(e, dict)]

    def previous_valid(self, name: str, key: str) -> dict | None:
        """The previous entry for `name` made from `key` whose file is still there, unchanged; None if none is."""
        return next((e for e in self.previous_entries(name) if still_valid(e, key, self.folder)), None)

    def set_pending(self, name: str, entry: dict) -> None:
        self.data.setdefault("pending", {})[name] = entry
        self.save()

    def set_stem(self, name: str, entry: dict) -> None:
        self.data["stems"][name] = entry
        self.data.get("pending", {}).pop(name, None)
        self.save()

    def set_mixdown(self, entry: dict | None) -> None:
        self.data["mixdown"] = entry
        self.data.get("pending", {}).pop(MIXDOWN, None)
        self.save()

    def save(self) -> None:
        write_json_atomic(self.folder / MANIFEST, self.data)
