"""The render's progress display: one tqdm bar for every stem's denoising steps, and one line per stem
being rendered (or mixed), reused as stems finish; safe to drive from several threads."""

from __future__ import annotations

import sys
import threading


class Progress:
    """tqdm bars: one for all stems of the run (denoising steps), one per stem being rendered."""

    def __init__(self, total_steps: int, enabled: bool = True):
        from tqdm import tqdm

        self._tqdm = tqdm
        self.enabled = enabled
        self.lock = threading.Lock()
        self.overall = tqdm(
            total=total_steps,
            unit="step",
            desc="all stems",
            position=0,
            disable=_off(enabled),
            dynamic_ncols=True,
            file=sys.stderr,
        )
        self.bars: dict[str, object] = {}
        self.done: dict[str, int] = {}
        self.slots: list[str | None] = []

    def start(self, name: str, total: int) -> None:
        with self.lock:
            self._open(name, total=total, unit="step")
            self.done[name] = 0

    def start_frames(self, name: str, frames: int, rate: int) -> None:
        """A bar in seconds of audio (the mixdown: no denoising steps), outside the steps of the overall bar."""
        with self.lock:
            self._open(name, total=frames, unit="s", unit_scale=1 / rate)

    def _open(self, name: str, **bar) -> None:
        """A bar for `name` on the first free line below the overall bar (call with the lock held)."""
        slot = self.slots.index(None) if None in self.slots else len(self.slots)
        if slot == len(self.slots):
            self.slots.append(None)
        self.slots[slot] = name
        self.bars[name] = self._tqdm(
            **bar,
            desc=name,
            position=slot + 1,
            leave=False,
            disable=_off(self.enabled),
            dynamic_ncols=True,
            file=sys.stderr,
        )

    def advance(self, name: str, frames: int) -> None:
        with self.lock:
            bar = self.bars.get(name)
            if bar is not None:
                bar.update(frames)
                if bar.n >= bar.total:
                    bar.refresh()  # show the finished line, however fast it got there

    def step(self, name: str, step: int, total: int) -> None:
        with self.lock:
            bar = self.bars.get(name)
            if bar is None:
                return
            delta = step - self.done[name]
            self.done[name] = step
            bar.update(delta)
            self.overall.update(delta)

    def phase(self, name: str, text: str) -> None:
        with self.lock:
            if name in self.bars:
                self.bars[name].set_postfix_str(text)

    def note(self, text: str) -> None:
        """A word on the overall bar (with --ray: stems done across the cluster)."""
        with self.lock:
            self.overall.set_postfix_str(text)

    def abandon(self, name: str) -> None:
        """A stem that will be rendered again from the start (its Ray worker was lost): take back its steps."""
        with self.lock:
            bar = self.bars.pop(name, None)
            if bar is not None:
                bar.close()
                self.slots[self.slots.index(name)] = None
            self.overall.update(-self.done.pop(name, 0))

    def finish(self, name: str, line: str) -> None:
        with self.lock:
            bar = self.bars.pop(name, None)
            if bar is not None:
                bar.close()
                self.slots[self.slots.index(name)] = None
            self.overall.write(line, file=sys.stderr) if self.enabled else None

    def close(self) -> None:
        for bar in list(self.bars.values()):
            bar.close()
        self.overall.close()


def _off(enabled: bool) -> bool | None:
    """tqdm's `disable`: off when asked, and (None) off where stderr is no terminal, whose log redrawn bars
    would fill with overwritten lines."""
    return None if enabled else True
