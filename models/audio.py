"""Audio in and out: one small value type, file I/O with soundfile, resampling with torchaudio.

Samples are float32 with shape (channels, frames), the layout pedalboard and
torchaudio use. The model is mono; stereo is handled as mid/side (see
`to_mid` and docs/architecture.md).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from .errors import AudioFileError, ReverieError
from .limits import MAX_CHANNELS, SAMPLE_RATES

# soundfile picks the container from the suffix; these are the ones we promise.
WRITABLE = {".wav": "WAV", ".flac": "FLAC", ".ogg": "OGG"}
SUBTYPES = {16: "PCM_16", 24: "PCM_24", 32: "FLOAT"}
# Float audio may go over full scale, but not without bound: the mel's power overflows float32 near
# 1e19, and nothing real is 60 dB over full scale.
MAX_SAMPLE = 1000.0


@dataclass(frozen=True)
class Audio:
    samples: np.ndarray  # float32, (channels, frames)
    sample_rate: int

    def __post_init__(self) -> None:
        samples = np.asarray(self.samples, dtype=np.float32)
        if samples.ndim == 1:
            samples = samples[None, :]
        if samples.ndim != 2:
            raise ReverieError(f"audio must have shape (channels, frames), got {samples.shape}", field="audio")
        object.__setattr__(self, "samples", samples)
        check_sample_rate(self.sample_rate)

    @property
    def channels(self) -> int:
        return self.samples.shape[0]

    @property
    def frames(self) -> int:
        return self.samples.shape[1]

    @property
    def seconds(self) -> float:
        return self.frames / self.sample_rate

    def validate(self, field: str = "audio") -> "Audio":
        """Reject what the model cannot use, naming the field and what is allowed."""
        if self.frames == 0:
            raise ReverieError(f"{field} is empty (0 frames); give at least one sample", field=field)
        if not 1 <= self.channels <= MAX_CHANNELS:
            raise ReverieError(f"{field} has {self.channels} channels; allowed 1 to {MAX_CHANNELS}", field=field)
        if not np.isfinite(self.samples).all():
            bad = int((~np.isfinite(self.samples)).sum())
            raise ReverieError(
                f"{field} contains {bad} NaN or infinite samples; all samples must be finite",
                field=field,
            )
        peak = float(np.abs(self.samples).max())
        if peak > MAX_SAMPLE:
            raise ReverieError(
                f"{field} has a sample of magnitude {peak:.3g}; allowed at most {MAX_SAMPLE:g} "
                f"(+{20 * np.log10(MAX_SAMPLE):.0f} dBFS). Is it integer PCM read as float?",
                field=field,
                code="bad_audio",
            )
        return self


def check_sample_rate(sample_rate: int, field: str = "sample_rate") -> int:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, (int, np.integer)):
        raise ReverieError(f"{field} must be an integer in Hz, got {sample_rate!r}", field=field)
    low, high = SAMPLE_RATES
    if not low <= int(sample_rate) <= high:
        raise ReverieError(f"{field} must be between {low} and {high} Hz, got {sample_rate}", field=field)
    return int(sample_rate)


def load_audio(path: str | os.PathLike, field: str = "input") -> Audio:
    path = Path(path)
    if not path.exists():
        raise AudioFileError(f"{field} file not found: {path}", field=field)
    if path.is_dir():
        raise AudioFileError(f"{field} is a folder, not an audio file: {path}", field=field)
    try:
        data, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioFileError(
            f"{field} is not readable audio ({path}): {exc}; allowed formats are wav, flac and ogg",
            field=field,
        ) from None
    return Audio(data.T.copy(), int(rate)).validate(field)


def save_audio(audio: Audio, path: str | os.PathLike, bit_depth: int = 24) -> Path:
    """Write atomically: a temp file in the same folder, then rename, so no half file has the final name."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITABLE:
        raise ReverieError(f"cannot write {path.name}: the output must end in {', '.join(WRITABLE)}", field="output")
    if bit_depth not in SUBTYPES:
        raise ReverieError(f"bit depth must be 16, 24 or 32, got {bit_depth}", field="bit_depth")
    subtype = "VORBIS" if suffix == ".ogg" else SUBTYPES[bit_depth]
    if suffix == ".flac" and bit_depth == 32:
        subtype = "PCM_24"  # FLAC has no float samples
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.partial{suffix}")
    sf.write(str(tmp), audio.samples.T, audio.sample_rate, subtype=subtype, format=WRITABLE[suffix])
    os.replace(tmp, path)
    return path


def resample(samples: np.ndarray, orig_rate: int, new_rate: int) -> np.ndarray:
    """Band-limited resampling of (channels, frames) float32 with torchaudio's windowed sinc."""
    if orig_rate == new_rate:
        return samples
    import torch
    import torchaudio.functional as AF

    out = AF.resample(torch.from_numpy(np.ascontiguousarray(samples)), orig_rate, new_rate)
    return out.numpy()


def limit_peaks(samples: np.ndarray, ceiling: float, sample_rate: int, hold_seconds: float = 0.005) -> np.ndarray:
    """(channels, frames) with its true peak (true_peak.py) at most `ceiling`, by a smooth gain that dips
    only around peaks."""
    from .true_peak import OVERSHOOT  # scipy: loaded when audio is limited, not when a face checks a path

    if samples.size == 0 or np.abs(samples).max() * OVERSHOOT <= ceiling:
        return samples  # no sample near the ceiling: the signal between samples cannot reach it either
    limiter = PeakLimiter(ceiling, sample_rate, hold_seconds)
    return np.concatenate([limiter.push(samples), limiter.flush()], axis=-1)


class PeakLimiter:
    """limit_peaks as a stream: the same samples however the input is chunked, `reach` + PAD samples late.

    A sample's level is its true peak over all channels: the largest magnitude of the signal between it
    and the next, oversampled (true_peak.py; the same values in any chunking). The gain is the ceiling
    over a peak hold 2W wide, averaged over W (W = hold_seconds): every gain in the average already sees
    the level at its centre, so the average cannot let it through. Before the first sample and after the
    last, the signal is silence and the level is taken to stay as it was.
    """

    def __init__(self, ceiling: float, sample_rate: int, hold_seconds: float = 0.005):
        self.ceiling = ceiling
        self.w = max(1, round(hold_seconds * sample_rate))
        self.kernel = self.w | 1  # odd length: centred
        self.reach = self.w + self.kernel // 2  # levels each side that one output sample depends on
        self.pending: np.ndarray | None = None  # input not yet output
        self.levels = np.zeros(0)  # levels from `reach` samples before pending[0] on, as far as known
        self.raw: np.ndarray | None = None  # input from PAD samples before the first without a level

    def push(self, samples: np.ndarray) -> np.ndarray:
        from .true_peak import PAD

        samples = np.asarray(samples, dtype=np.float32)
        if self.pending is None:
            if not samples.shape[-1]:
                return samples  # nothing to hold yet: the channel count comes with the first samples
            self.pending = samples[:, :0]
            self.raw = np.zeros((samples.shape[0], PAD), np.float32)  # silence before the first sample
        self.pending = np.concatenate([self.pending, samples], axis=-1)
        self._measure(samples)
        return self._emit(len(self.levels) - 2 * self.reach)

    def flush(self) -> np.ndarray:
        from .true_peak import PAD

        if self.pending is None:
            return np.zeros((1, 0), np.float32)
        self._measure(np.zeros((self.pending.shape[0], PAD), np.float32))  # silence after the last sample
        self.levels = np.concatenate([self.levels, np.full(self.reach, self.levels[-1])])
        return self._emit(self.pending.shape[-1])

    def _measure(self, samples: np.ndarray) -> None:
        """Levels of every sample whose PAD samples after it have arrived."""
        from .true_peak import PAD, sparse_peaks

        self.raw = np.concatenate([self.raw, samples], axis=-1)
        if self.raw.shape[-1] <= 2 * PAD:
            return
        level = sparse_peaks(self.raw, self.ceiling)  # exact wherever it can pass the ceiling
        self.raw = self.raw[:, -2 * PAD :]
        if not len(self.levels):
            self.levels = np.full(self.reach, level[0])
        self.levels = np.concatenate([self.levels, level])

    def _emit(self, count: int) -> np.ndarray:
        if count <= 0:
            return self.pending[:, :0]
        from scipy.ndimage import maximum_filter1d

        levels = self.levels[: count + 2 * self.reach]
        if levels.max() <= self.ceiling:  # no peak within reach: every gain is exactly 1
            out = self.pending[:, :count].copy()
        else:
            hold = maximum_filter1d(levels, 2 * self.w + 1, mode="nearest")[self.w : len(levels) - self.w]
            gain = np.minimum(1.0, self.ceiling / np.maximum(hold, 1e-30))
            smooth = np.convolve(gain, np.ones(self.kernel) / self.kernel, mode="valid")[:count]
            out = (self.pending[:, :count] * np.minimum(smooth, 1.0)).astype(np.float32)
        self.pending = self.pending[:, count:]
        self.levels = self.levels[count:]
        return out


def fit_length(samples: np.ndarray, frames: int) -> np.ndarray:
    """Trim or zero-pad the last axis to exactly `frames` (numpy arrays and torch tensors)."""
    have = samples.shape[-1]
    if have >= frames:
        return samples[..., :frames]
    if not isinstance(samples, np.ndarray):  # a torch tensor
        import torch.nn.functional as F

        return F.pad(samples, (0, frames - have))
    pad = [(0, 0)] * (samples.ndim - 1) + [(0, frames - have)]
    return np.pad(samples, pad)


def to_mid(audio: Audio) -> np.ndarray:
    """The mono signal the model sees: the mean of all channels (the mid of a stereo pair)."""
    return audio.samples.mean(axis=0)


def to_model_rate(audio: Audio, model_rate: int) -> np.ndarray:
    """Mid signal resampled to the model's rate, shape (frames,)."""
    return resample(to_mid(audio)[None, :], audio.sample_rate, model_rate)[0]
