"""A result of whole bars that loops on the bar, made as it streams.

generate with `bars` makes a bar of pre-roll before bar 1, the bars themselves, and nothing after. The
pre-roll's last `fade` samples (a beat) are what leads into bar 1, so the result's last `fade` samples fade from
the music made there into that lead-in: played again from the top, the end runs into the start as the
pre-roll did. Both sides of the fade are whole bars apart, on the same beat. Memory: the fade, twice.
"""

from __future__ import annotations

import numpy as np

from .stream import fade_curve


class BarLoop:
    def __init__(self, lead: int, fade: int, frames: int):
        """lead: pre-roll samples before bar 1 (at least `fade`); frames: the result's length."""
        if not 0 < fade <= min(lead, frames):
            raise ValueError(f"a loop's fade ({fade}) must be within its lead ({lead}) and length ({frames})")
        self.lead, self.fade, self.frames = lead, fade, frames
        self.seen = 0  # input samples taken, pre-roll included
        self.lead_in: list[np.ndarray] = []  # the pre-roll's last `fade` samples
        self.held = np.zeros((0, 0), np.float32)  # the latest output samples, the last `fade` of which wait
        self.emitted = 0

    def push(self, piece: np.ndarray) -> np.ndarray:
        """(channels, n) in -> what is final of the result so far."""
        start, self.seen = self.seen, self.seen + piece.shape[1]
        skip = max(0, min(self.lead - self.fade, self.seen) - start)  # the pre-roll before the lead-in
        lead_in_end = max(0, min(self.lead, self.seen) - start)
        if lead_in_end > skip:
            self.lead_in.append(piece[:, skip:lead_in_end])
        body = piece[:, lead_in_end:]
        wanted = self.frames - self.emitted - self.held.shape[1]
        body = body[:, : max(0, wanted)]
        self.held = body if self.held.size == 0 else np.concatenate([self.held, body], axis=1)
        ready = self.held.shape[1] - self.fade
        if ready <= 0:
            return np.zeros((piece.shape[0], 0), np.float32)
        out, self.held = self.held[:, :ready], self.held[:, ready:]
        self.emitted += ready
        return out

    def flush(self) -> np.ndarray:
        """The last `fade` samples, faded into the lead-in (padded with silence if the input fell short)."""
        channels = self.held.shape[0] if self.held.size else (self.lead_in[0].shape[0] if self.lead_in else 1)
        missing = self.frames - self.emitted - self.held.shape[1]
        tail = self.held if self.held.size else np.zeros((channels, 0), np.float32)
        tail = np.concatenate([tail, np.zeros((channels, max(0, missing)), np.float32)], axis=1)
        lead_in = np.concatenate(self.lead_in, axis=1) if self.lead_in else np.zeros((channels, 0), np.float32)
        lead_in = np.pad(lead_in, ((0, 0), (self.fade - lead_in.shape[1], 0)))[:, -tail.shape[1] :]
        w = fade_curve(tail.shape[1])
        self.emitted += tail.shape[1]
        self.held = np.zeros((0, 0), np.float32)
        return (tail * (1 - w) + lead_in * w).astype(np.float32)
