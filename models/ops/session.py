"""What the operations share about the session new audio joins: the audio laid where new audio goes, the
stretch around it that new audio is measured against, the finishing chain that holds new audio to it, and
the seam that joins it.

Every stage of a finishing chain is a `(samples, session) -> samples` function, as a pedalboard effect is
`(audio, sample_rate) -> audio`: each operation declares its chain once (its FINISH) and `finished` runs it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np
import torch

from ..audio import Audio, limit_peaks
from ..drift import balance_db, hold_balance
from ..grid import Grid, parse_bpm
from ..groove import fine_period, on_beats, period
from ..headroom import ceiling_of, hold_under
from ..operations import INPAINT_SEAM_SECONDS
from ..stream import fade_curve
from ..true_peak import true_peak

if TYPE_CHECKING:
    from ..pipeline import ReveriePipeline

FILL_DB = 1.0  # how far an inpainted band may stray from the session around it
# The session new audio is measured against: a continuation is held no louder than this much of the input
# before it (headroom.py), a fill to the balance, level and image of this much either side (drift.py,
# headroom.py, detail.py), and where the session has no period its grains come from there (texture.py).
# Not the model's crop around a fill: it can end before what the listener hears next (docs/model.md, the
# grains' entry: a fill held to its crop sat under a bass that came in after it).
AROUND_SECONDS = 6.0
# New audio's true peak: at most this far over its inputs' (operations on audio), under this for generate;
# the limiter aims METER_MARGIN_DB lower, as independent true-peak meters differ by that much on music.
CEILING_OVER_INPUT_DB = 1.0
GENERATE_CEILING_DBTP = -1.0
METER_MARGIN_DB = 0.05


@dataclass(frozen=True, eq=False)
class Laid:
    """The session's own audio laid out where new audio goes, repeated at its period (groove.py): where new
    audio starts from and what the model's change is measured against. `mel` is the model's mel of it from
    model frame `from_frame` of the session on."""

    audio: np.ndarray
    mel: torch.Tensor
    from_frame: int = 0


def ceiling(*inputs: np.ndarray) -> float:
    """New audio's true peak stays within CEILING_OVER_INPUT_DB of its inputs' and never clips where they do
    not: under full scale, or under their own peak for float audio already over it. Only the peaks are
    touched (audio.limit_peaks)."""
    over = 10 ** ((CEILING_OVER_INPUT_DB - METER_MARGIN_DB) / 20)
    highest = max(true_peak(x) for x in inputs)
    return min(highest * over, max(1.0, *(float(np.abs(x).max()) for x in inputs)))


def nearby(audio: Audio, first: int, last: int) -> list[np.ndarray]:
    """The session around new audio in samples [first, last) of `audio`: AROUND_SECONDS before and after
    (either may be short or empty)."""
    near = round(AROUND_SECONDS * audio.sample_rate)
    return [audio.samples[:, max(0, first - near) : first], audio.samples[:, last : last + near]]


def held(new: np.ndarray, sample_rate: int, *around: np.ndarray) -> np.ndarray:
    """New audio no louder than the session `around` it (headroom.py): its loudest 50 ms within 1 dB of theirs."""
    ceiling = ceiling_of(*around, sample_rate=sample_rate)
    return new if ceiling is None else hold_under(new, sample_rate, ceiling)


def joined_after(new: np.ndarray, before: np.ndarray, sample_rate: int) -> np.ndarray:
    """`new` audio after `before` (the caller's audio it follows): over its first seam it fades in from
    `before` mirrored at the join, so no channel jumps there."""
    seam = min(round(INPAINT_SEAM_SECONDS * sample_rate), before.shape[-1], new.shape[-1])
    new = new.astype(np.float32)
    if seam:
        fade = fade_curve(seam)
        new[:, :seam] = new[:, :seam] * fade + before[:, before.shape[-1] - seam :][:, ::-1] * (1 - fade)
    return new


def nonempty(samples: np.ndarray, sample_rate: int) -> Iterator[Audio]:
    if samples.shape[-1]:
        yield Audio(samples, sample_rate)


def erode(mask: torch.Tensor, frames: int) -> torch.Tensor:
    """Shrink the known mask by `frames` next to unknown frames, so Griffin-Lim may adjust the seam."""
    unknown = 1 - mask
    grown = torch.nn.functional.max_pool1d(unknown[None, None], 2 * frames + 1, 1, frames)[0, 0]
    return 1 - grown


@dataclass(frozen=True, eq=False)
class Session:
    """What new audio is finished against, at `rate`: the caller's audio `around` it (what it must sound
    like and be no louder than) and every input it must not out-peak."""

    rate: int
    around: tuple[np.ndarray, ...]
    inputs: tuple[np.ndarray, ...]


Stage = Callable[[np.ndarray, Session], np.ndarray]


def balance_held(new: np.ndarray, session: Session) -> np.ndarray:
    """Each band of new audio within FILL_DB of the session around it, as a listener hears it (drift.py)."""
    return hold_balance(new, balance_db(list(session.around), session.rate), session.rate, FILL_DB)


def loudness_held(new: np.ndarray, session: Session) -> np.ndarray:
    """New audio's loudest 50 ms within 1 dB of the session around it (headroom.py)."""
    return held(new, session.rate, *session.around)


def peaks_held(new: np.ndarray, session: Session) -> np.ndarray:
    """New audio's true peak within CEILING_OVER_INPUT_DB of the inputs' (true_peak.py)."""
    return limit_peaks(new, ceiling(*session.inputs), session.rate)


def finished(new: np.ndarray, session: Session, chain: tuple[Stage, ...]) -> np.ndarray:
    for stage in chain:
        new = stage(new, session)
    return new


# --- hearing the session: its bar and the period new audio repeats it at ---------------------------


def heard_samples(pipe: ReveriePipeline, rate: int) -> int:
    """How much of the session period() hears (a window of frames), in samples at `rate`."""
    return round(pipe.config.window_frames * pipe.config.mel.hop_length * rate / pipe.sample_rate)


def period_samples(pipe: ReveriePipeline, session: np.ndarray, rate: int, lag: int, bpm) -> int:
    """The period of `session` (channels, samples at `rate`) to the sample, near `lag` model frames
    (groove.fine_period); on whole beats of the caller's `bpm` where given and it fits (groove.on_beats)."""
    frame = pipe.config.mel.hop_length * rate / pipe.sample_rate
    period = fine_period(session.mean(axis=0), rate, round(lag * frame), search=round(1.5 * frame))
    return period if bpm is None else on_beats(period, rate, parse_bpm(bpm).steady_bpm)


def groove_lag(pipe: ReveriePipeline, args, known: torch.Tensor, grid: Grid | None) -> int | None:
    """The period (frames) new audio repeats `known` at (groove.py), or None where it has none."""
    return period(known[..., -pipe.config.window_frames :], pipe.config.mel.frame_rate, bar_frames(pipe, grid))


def bar_frames(pipe: ReveriePipeline, grid: Grid | None) -> float | None:
    """The session's bar in model frames, where its tempo is known (heard or the caller's)."""
    if grid is None or grid.steady_bpm is None:
        return None
    return grid.beats_per_bar * 60.0 / grid.steady_bpm * pipe.config.mel.frame_rate
