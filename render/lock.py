"""A set folder belongs to one run at a time: its lock, and the cleanup of what a killed run left."""

from __future__ import annotations

from pathlib import Path

from reverie.models.errors import ReverieError

LOCK = ".render.lock"


class SetLock:
    """An exclusive lock on a set folder (released when the process ends, however it ends)."""

    def __init__(self, folder: Path):
        self.path = folder / LOCK
        self.file = None

    def __enter__(self):
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(self.path, "w")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.file.close()
            raise ReverieError(
                f"another render is writing {self.path.parent}; wait for it or use another -o folder", field="output"
            ) from None
        return self

    def __exit__(self, *exc):
        self.file.close()


def clean_partials(folder: Path) -> list[str]:
    """Remove temp files a killed run left (hidden names containing `.partial`)."""
    removed = []
    for path in folder.glob(".*.partial*"):
        path.unlink(missing_ok=True)
        removed.append(path.name)
    return removed
