"""Real-time factor of every operation at default settings, vocoder included.

    .venv/bin/python bench/speed.py [--model DIR|tiny] [--seconds 30] [--precision fp32|bf16] [--threads N]
                                    [--steps N] [--compile]

Prints, per operation, seconds of audio made per wall-clock second (goal: >= 10
on 2 CPU cores for 30 s of audio), then the torch thread count and peak memory.
`--steps` measures fewer (or more) sampler steps than the model's; `--compile` the U-Net
through torch.compile (inductor), each operation run once untimed first, since compiling
takes about a minute per new input shape (docs/model.md, "Speed").
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.models import HELP as MODEL_HELP  # noqa: E402
from bench.models import model_spec  # noqa: E402
from reverie.models.audio import Audio  # noqa: E402  first: the models package sets torch's thread wait policy
from reverie.models.pipeline import load_pipeline  # noqa: E402


def clip(seconds: float, sample_rate: int = 44100, seed: int = 0) -> Audio:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sample_rate)) / sample_rate
    notes = 220 * 2 ** (rng.integers(0, 12, size=int(seconds * 2) + 1) / 12)
    f = notes[(t * 2).astype(int)]
    x = 0.3 * np.sin(2 * np.pi * np.cumsum(f) / sample_rate) + 0.02 * rng.standard_normal(len(t))
    return Audio(np.stack([x, x]).astype(np.float32), sample_rate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help=MODEL_HELP)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--precision", choices=["fp32", "bf16"], default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--repeat", type=int, default=2, help="runs per operation; the best is reported")
    parser.add_argument("--steps", type=int, default=None, help="sampler steps (default: the model's)")
    parser.add_argument("--compile", action="store_true", help="the U-Net through torch.compile (warmed up)")
    args = parser.parse_args()
    args.model = model_spec(args.model)
    if args.threads:
        torch.set_num_threads(args.threads)
    pipe = load_pipeline(args.model)
    if args.precision:
        pipe.config.precision = args.precision
    if args.steps:
        pipe.config.steps = args.steps
    if args.compile:
        pipe.unet.forward = torch.compile(pipe.unet.forward)
    s = args.seconds
    a, b = clip(s), clip(s, seed=1)
    cases = {
        "generate": (dict(seconds=s, style="sleep"), s),
        "transform": (dict(audio=a, strength=0.5, style="calm"), s),
        "inpaint": (dict(audio=a, start=s / 3, end=s / 3 + min(10.0, s / 3), style="calm"), min(10.0, s / 3)),
        "interpolate": (dict(a=a, b=b, ratio=0.5, strength=0.5), s),
        "continue": (dict(audio=clip(10.0), seconds=s, style="calm"), s),
    }
    print(
        f"model {pipe.model_hash}  precision {pipe.config.precision}  steps {pipe.config.steps}  "
        f"guidance {pipe.config.guidance}  sampler {pipe.config.sampler}  compiled {args.compile}"
    )
    print(f"{'operation':<12} {'audio s':>8} {'wall s':>8} {'x real time':>12}")
    for op, (kwargs, made) in cases.items():
        if args.compile:
            print(f"{op:<12} compiling: {_timed(pipe, op, kwargs):.1f} s (untimed run)")
        best = min(_timed(pipe, op, kwargs) for _ in range(args.repeat))
        print(f"{op:<12} {made:>8.1f} {best:>8.2f} {made / best:>12.1f}")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"torch threads {torch.get_num_threads()}  peak memory {peak:.0f} MiB")


def _timed(pipe, op: str, kwargs: dict) -> float:
    start = time.perf_counter()
    pipe.run(op, **kwargs)
    return time.perf_counter() - start


if __name__ == "__main__":
    main()
