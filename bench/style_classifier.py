"""A small style classifier for the quality report, and the signal measures it shares.

    features(mono, sample_rate) -> (N_FEATURES,) float64: clip-level statistics
    train_classifier(x, y, styles) -> StyleClassifier (standardise -> tanh hidden layer -> softmax)
    StyleClassifier.embed(x) -> (n, HIDDEN): the hidden layer, the Fréchet embedding
    frechet_distance(a, b): Fréchet distance between two sets of embeddings
    log_mel_db(mono, sample_rate), spectral_flux(mel_db, lag), seam_score(...), region_l1(...): inpainting

Everything here uses its own fixed log-mel (FEATURE_RATE, N_FFT, HOP, N_MELS,
in dB), never a model's mel frontend, so numbers compare across checkpoints
whose mel normalisation differs. numpy plus torch (STFT and the optimiser);
deterministic: no global RNG is touched.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

FEATURE_RATE = 22050
N_FFT = 1024
HOP = 256  # 11.6 ms frames
N_MELS = 64
F_MIN, F_MAX = 30.0, 11025.0
FLOOR_DB = -80.0  # power floor of the log-mel: quieter bins all read -80 dB, so inaudible hiss
# against digital silence counts for little in an L1 or a flux
HIDDEN = 8  # embedding width: small so a covariance from ~20 clips is still estimable
FEATURE_VERSION = 2  # bump when features() changes: the cached classifier is keyed by it
FEATURE_NAMES = (
    [f"mel_mean_{i}" for i in range(N_MELS)]
    + [f"mel_std_{i}" for i in range(N_MELS)]
    + [
        "flux_mean",
        "flux_std",
        "flux_p90",
        "onset_rate",
        "level_mean",
        "level_std",
        "level_p95",
        "level_p10",
        "centroid_mean",
        "centroid_std",
    ]
)
N_FEATURES = len(FEATURE_NAMES)

_FILTERS: dict[int, torch.Tensor] = {}


def _filters() -> torch.Tensor:
    if FEATURE_RATE not in _FILTERS:
        import torchaudio.functional as AF

        _FILTERS[FEATURE_RATE] = AF.melscale_fbanks(
            N_FFT // 2 + 1, F_MIN, F_MAX, N_MELS, FEATURE_RATE, norm="slaney", mel_scale="slaney"
        )
    return _FILTERS[FEATURE_RATE]


def to_feature_rate(mono: np.ndarray, sample_rate: int) -> np.ndarray:
    from reverie.models.audio import resample

    x = np.asarray(mono, dtype=np.float32)
    if x.ndim == 2:
        x = x.mean(axis=0)
    return resample(x[None, :], sample_rate, FEATURE_RATE)[0]


def log_mel_db(mono: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mono (or (channels, frames)) audio -> (N_MELS, frames) power log-mel in dB; frame i is centred on i * HOP."""
    x = torch.from_numpy(np.ascontiguousarray(to_feature_rate(mono, sample_rate)))
    if x.numel() < N_FFT:
        x = torch.nn.functional.pad(x, (0, N_FFT - x.numel()))
    spec = torch.stft(x, N_FFT, HOP, window=torch.hann_window(N_FFT), center=True, return_complex=True)
    mel = _filters().T @ spec.abs().square()
    return (10 * torch.log10(mel.clamp(min=10 ** (FLOOR_DB / 10)))).double().numpy()


def frame_seconds(frames: int) -> np.ndarray:
    return np.arange(frames) * HOP / FEATURE_RATE


def spectral_flux(mel_db: np.ndarray, lag: int = 1) -> np.ndarray:
    """(frames - lag,) mean absolute dB change per mel bin from frame j to frame j + lag.

    Not half-wave rectified: a seam that drops energy is as audible as one that
    adds it. Value j is centred on time (j + lag / 2) * HOP / FEATURE_RATE.
    """
    if mel_db.shape[1] <= lag:
        return np.zeros(0)
    return np.abs(mel_db[:, lag:] - mel_db[:, :-lag]).mean(axis=0)


def seam_lag(fade_seconds: float) -> int:
    """Frames that straddle a crossfade and one analysis window: a fade spreads a jump over them."""
    return max(1, math.ceil((fade_seconds + N_FFT / FEATURE_RATE) * FEATURE_RATE / HOP))


def seam_score(mel_db: np.ndarray, seams: list[float], fade_seconds: float = 0.05, spread: int = 2) -> float:
    """Spectral flux across the seams divided by the clip's median flux (about 1: as smooth as anywhere).

    Seams alternate start, end: a start seam at s has its crossfade on
    [s, s + fade], an end seam on [end - fade, end] (inside the region, as
    `inpaint` does). The flux is taken at a lag (`seam_lag`: 104 ms for a 50 ms
    fade) so that the frames compared lie on either side of the whole fade,
    not inside it; a seam's value is the mean over the 2 * spread + 1 positions
    nearest the fade's centre; the score averages the seams and divides by the
    median of the same lagged flux over the whole clip.
    """
    lag = seam_lag(fade_seconds)
    flux = spectral_flux(mel_db, lag)
    if not len(flux):
        return float("nan")
    centres = (np.arange(len(flux)) + lag / 2) * HOP / FEATURE_RATE
    values = []
    for i, s in enumerate(seams):
        middle = s + fade_seconds / 2 if i % 2 == 0 else s - fade_seconds / 2
        j = int(np.argmin(np.abs(centres - middle)))
        values.append(float(flux[max(0, j - spread) : j + spread + 1].mean()))
    return float(np.mean(values)) / (float(np.median(flux)) + 1e-9)


def region_l1(mel_a: np.ndarray, mel_b: np.ndarray, start: float, end: float) -> float:
    """Mean absolute dB difference per mel bin over the frames centred in [start, end)."""
    n = min(mel_a.shape[1], mel_b.shape[1])
    t = frame_seconds(n)
    sel = (t >= start) & (t < end)
    return float(np.abs(mel_a[:, :n][:, sel] - mel_b[:, :n][:, sel]).mean())


def features(mono: np.ndarray, sample_rate: int) -> np.ndarray:
    """Clip-level statistics: per-bin mean and std of the log-mel, flux, onset rate, level and brightness."""
    mel = log_mel_db(mono, sample_rate)
    if mel.shape[1] < 3:
        mel = np.pad(mel, ((0, 0), (0, 3 - mel.shape[1])), mode="edge")
    flux = spectral_flux(mel)
    return np.concatenate(
        [
            mel.mean(axis=1),
            mel.std(axis=1),
            [flux.mean(), flux.std(), np.percentile(flux, 90), onset_rate(mel), *_level_and_brightness(mel)],
        ]
    ).astype(np.float64)


def onset_rate(mel_db: np.ndarray, threshold_db: float = 0.5, spacing: int = 2, window: int = 43) -> float:
    """Onsets per second: peaks of the smoothed rectified flux (the highest within +-spacing frames)
    standing threshold_db above its moving median over `window` frames (0.5 s)."""
    seconds = mel_db.shape[1] * HOP / FEATURE_RATE
    rise = np.maximum(np.diff(mel_db, axis=1), 0).mean(axis=0)
    rise = np.convolve(rise, np.ones(3) / 3, mode="same")
    view = np.lib.stride_tricks.sliding_window_view
    local = np.median(view(np.pad(rise, (window // 2, window // 2), mode="edge"), window), axis=1)
    highest = view(np.pad(rise, (spacing, spacing), constant_values=-1.0), 2 * spacing + 1).max(axis=1)
    peaks = (rise >= highest) & (rise > local + threshold_db)
    return float(peaks.sum()) / max(seconds, 1e-3)


def _level_and_brightness(mel: np.ndarray) -> list[float]:
    power = 10 ** (mel / 10)
    level = 10 * np.log10(power.sum(axis=0) + 1e-10)
    centres = np.arange(N_MELS, dtype=np.float64)
    centroid = (power * centres[:, None]).sum(axis=0) / (power.sum(axis=0) + 1e-12)
    return [
        level.mean(),
        level.std(),
        np.percentile(level, 95),
        np.percentile(level, 10),
        centroid.mean(),
        centroid.std(),
    ]


# --- the classifier -------------------------------------------------------------


@dataclass
class StyleClassifier:
    styles: tuple[str, ...]
    mean: np.ndarray  # (F,) feature standardisation
    scale: np.ndarray  # (F,)
    w1: np.ndarray  # (F, HIDDEN)
    b1: np.ndarray  # (HIDDEN,)
    w2: np.ndarray  # (HIDDEN, C)
    b2: np.ndarray  # (C,)

    def embed(self, x: np.ndarray) -> np.ndarray:
        """(n, F) features -> (n, HIDDEN) hidden-layer activations (the penultimate layer)."""
        z = (np.atleast_2d(x) - self.mean) / self.scale
        return np.tanh(z @ self.w1 + self.b1)

    def logits(self, x: np.ndarray) -> np.ndarray:
        return self.embed(x) @ self.w2 + self.b2

    def predict(self, x: np.ndarray) -> list[str]:
        return [self.styles[i] for i in self.logits(x).argmax(axis=1)]

    def save(self, path: Path, **extra: np.ndarray) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".partial.npz")
        np.savez(
            tmp,
            styles=np.array(self.styles),
            mean=self.mean,
            scale=self.scale,
            w1=self.w1,
            b1=self.b1,
            w2=self.w2,
            b2=self.b2,
            **extra,
        )
        tmp.replace(path)

    @classmethod
    def load(cls, path: Path) -> tuple["StyleClassifier", dict[str, np.ndarray]]:
        with np.load(path, allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        clf = cls(
            tuple(str(s) for s in data.pop("styles")), *(data.pop(k) for k in ("mean", "scale", "w1", "b1", "w2", "b2"))
        )
        return clf, data


def train_classifier(
    x: np.ndarray,
    y: np.ndarray,
    styles: tuple[str, ...],
    seed: int = 0,
    hidden: int = HIDDEN,
    iters: int = 1500,
    weight_decay: float = 3e-3,
) -> StyleClassifier:
    """Full-batch Adam on cross-entropy; a tanh hidden layer of `hidden` units. Deterministic for a seed."""
    x = np.asarray(x, dtype=np.float64)
    mean, scale = x.mean(axis=0), x.std(axis=0) + 1e-6
    z = torch.from_numpy((x - mean) / scale).float()
    target = torch.as_tensor(np.asarray(y), dtype=torch.long)
    g = torch.Generator().manual_seed(seed)
    n_in, n_out = z.shape[1], len(styles)
    w1 = (torch.randn(n_in, hidden, generator=g) / math.sqrt(n_in)).requires_grad_()
    b1 = torch.zeros(hidden, requires_grad=True)
    w2 = (torch.randn(hidden, n_out, generator=g) / math.sqrt(hidden)).requires_grad_()
    b2 = torch.zeros(n_out, requires_grad=True)
    params = [w1, b1, w2, b2]
    # Adam by hand: torch.optim imports torch._dynamo, which alone takes seconds to import.
    lr, beta1, beta2, eps = 1e-2, 0.9, 0.999, 1e-8
    m = [torch.zeros_like(p) for p in params]
    v = [torch.zeros_like(p) for p in params]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # ops this small only lose to thread hand-offs on shared cores
    try:
        for step in range(1, iters + 1):
            logits = torch.tanh(z @ w1 + b1) @ w2 + b2
            loss = torch.nn.functional.cross_entropy(logits, target)
            loss = loss + weight_decay * (w1.square().sum() + w2.square().sum())
            grads = torch.autograd.grad(loss, params)
            with torch.no_grad():
                for p, g_, m_, v_ in zip(params, grads, m, v):
                    m_.mul_(beta1).add_(g_, alpha=1 - beta1)
                    v_.mul_(beta2).addcmul_(g_, g_, value=1 - beta2)
                    step_size = lr * math.sqrt(1 - beta2**step) / (1 - beta1**step)
                    p.sub_(step_size * m_ / (v_.sqrt() + eps))
    finally:
        torch.set_num_threads(threads)
    d = [p.detach().double().numpy() for p in params]
    return StyleClassifier(tuple(styles), mean, scale, *d)


def crop(mono: np.ndarray, sample_rate: int, offset: float, seconds: float) -> np.ndarray:
    a = int(round(offset * sample_rate))
    out = np.asarray(mono[a : a + int(round(seconds * sample_rate))], dtype=np.float32)
    return np.pad(out, (0, int(round(seconds * sample_rate)) - len(out)))


def cache_key(manifest: Path, seconds: float, seed: int) -> str:
    digest = hashlib.sha256(Path(manifest).read_bytes())
    digest.update(f"v{FEATURE_VERSION} {seconds:g} {seed} {HIDDEN} {N_MELS} {N_FFT} {HOP}".encode())
    return digest.hexdigest()[:16]


# --- Fréchet distance --------------------------------------------------------------


def _sqrt_psd(m: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((m + m.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """|mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^1/2) between two (n, d) sets of embeddings.

    The trace of the matrix square root is taken through the symmetric form
    S_a^1/2 S_b S_a^1/2, whose eigenvalues are real and non-negative.
    """
    a, b = np.atleast_2d(np.asarray(a, np.float64)), np.atleast_2d(np.asarray(b, np.float64))
    mu = a.mean(axis=0) - b.mean(axis=0)
    sa = np.cov(a, rowvar=False) if len(a) > 1 else np.zeros((a.shape[1],) * 2)
    sb = np.cov(b, rowvar=False) if len(b) > 1 else np.zeros((b.shape[1],) * 2)
    sa, sb = np.atleast_2d(sa), np.atleast_2d(sb)
    root = _sqrt_psd(sa)
    cross = np.sqrt(np.clip(np.linalg.eigvalsh(root @ sb @ root), 0, None)).sum()
    return float(max(mu @ mu + np.trace(sa) + np.trace(sb) - 2 * cross, 0.0))


# --- reference signals --------------------------------------------------------------


def noise_clip(seconds: float, sample_rate: int, seed: int, colour: str = "white", rms_db: float = -20.0) -> np.ndarray:
    """White or pink (1/f power) noise at an RMS level in dBFS; deterministic for a seed."""
    rng = np.random.default_rng(seed)
    n = int(round(seconds * sample_rate))
    x = rng.standard_normal(n)
    if colour == "pink":
        spectrum = np.fft.rfft(x)
        f = np.fft.rfftfreq(n, 1 / sample_rate)
        spectrum /= np.sqrt(np.maximum(f, 20.0))
        x = np.fft.irfft(spectrum, n)
    x *= 10 ** (rms_db / 20) / (np.sqrt(np.mean(x**2)) + 1e-12)
    return x.astype(np.float32)
