"""Hash every operation's output, to prove a refactor keeps the bytes.

    .venv/bin/python bench/op_hashes.py out.json                # write the hashes
    .venv/bin/python bench/op_hashes.py after.json --compare before.json

Runs each operation (with a MIDI-like melody, long generate, inversion, RePaint,
DPM-Solver) on the tiny and the embedded default model, on a held-out asset
(presets/assets/music_box.ogg), and records the output's SHA-256, its shape,
`total_steps` and how many progress callbacks came. About 12 s on 2 cores.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.models import model_spec  # noqa: E402
from reverie.models.audio import Audio, load_audio  # noqa: E402
from reverie.models.melody import Melody, Note  # noqa: E402
from reverie.models.pipeline import ReveriePipeline, load_pipeline  # noqa: E402

ASSETS = Path(__file__).resolve().parents[1] / "presets" / "assets"


def cases(style: str | None) -> dict[str, tuple[str, dict]]:
    clip = load_audio(ASSETS / "music_box.ogg")
    clip = Audio(clip.samples[:, : clip.sample_rate * 6], clip.sample_rate)
    other = load_audio(ASSETS / "music_box_sad.ogg")
    melody = Melody([Note(i * 0.4, i * 0.4 + 0.35, 60 + i % 7) for i in range(10)])
    return {
        "generate": ("generate", dict(seconds=7.3, seed=3, style=style, melody=melody)),
        "generate_long": ("generate", dict(seconds=25.0, seed=4, style=style, channels=1, sample_rate=48000)),
        "transform": ("transform", dict(audio=clip, strength=0.4, seed=1, style=style)),
        "transform_inversion": ("transform", dict(audio=clip, strength=0.3, inversion=True, seed=1)),
        "inpaint": ("inpaint", dict(audio=clip, start=2.0, end=3.1, seed=2)),
        "inpaint_repaint": ("inpaint", dict(audio=clip, start=2.0, end=3.1, seed=2, method="repaint")),
        "interpolate": ("interpolate", dict(a=clip, b=other, ratio=0.3, strength=0.5, seed=5)),
        "continue": ("continue", dict(audio=clip, seconds=5.0, seed=6, style=style)),
        "generate_dpm": ("generate", dict(seconds=3.0, seed=3, scheduler="dpm")),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="where to write the hashes (JSON)")
    parser.add_argument("--compare", help="hashes written before: print what differs, exit 1 if anything does")
    args = parser.parse_args()
    found = {}
    for name, pipe in (("tiny", load_pipeline(model_spec("tiny"))), ("default", ReveriePipeline.from_pretrained())):
        for case, (op, kwargs) in cases(None if name == "tiny" else "calm").items():
            seen: list[int] = []
            out = pipe.run(op, callback=lambda step, total, seen=seen: seen.append(step), **kwargs)
            digest = hashlib.sha256(np.ascontiguousarray(out.samples).tobytes()).hexdigest()[:16]
            found[f"{name}/{case}"] = [digest, list(out.samples.shape), pipe.total_steps(op, **kwargs), len(seen)]
            print(f"{name}/{case}: {found[f'{name}/{case}']}", flush=True)
    Path(args.out).write_text(json.dumps(found, indent=1) + "\n")
    if not args.compare:
        return 0
    before = json.loads(Path(args.compare).read_text())
    differ = [key for key in before if before[key] != found.get(key)]
    print("identical" if not differ else "differ: " + ", ".join(differ))
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
