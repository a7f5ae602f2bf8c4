"""Benchmark `render --ray` against `render --jobs 1`: presets per hour, and what each stem costs where.

    .venv/bin/python bench/scale.py                          # embedded model, 4 presets x 2 stems x 30 s, 3 repeats
    .venv/bin/python bench/scale.py --model tiny --repeats 2 # quick
    .venv/bin/python bench/scale.py --address auto           # a real cluster (`ray start --head` first)

Each repeat renders the same presets with --force, in this process, first locally (`--jobs 1`: one stem at
a time on every core) and then on Ray (a local runtime of this machine's cores, or the cluster at
--address). Both runs pin the same threads per stem, so they write the same bytes (checked). Wall time
counts from the plans to the last manifest: the Ray run includes starting its actors and loading the model
in each (once per run), not starting the Ray runtime (once per process, printed on its own).

Per-stem costs come from the manifests: `model_s` (audio from the pipeline: on Ray, the time this process
waited for it) and the driver's own work for a stem (effects, writing, loudness, mastering, spectrogram),
plus the mixdown per set. docs/scale.md turns them into an estimate for a cluster.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from bench.models import HELP as MODEL_HELP  # noqa: E402
from bench.models import model_spec  # noqa: E402


def presets(folder: Path, count: int, stems: int, seconds: float, rate: int) -> list[Path]:
    """`count` small sets, each `stems` generate stems of `seconds` (one with a reverb) and a mixdown."""
    paths = []
    styles = ["sleep", "calm", "happy", "sad", "tense"]
    for i in range(count):
        lines = [f'[set]\nname = "set{i}"\nsample_rate = {rate}\nformat = "wav"\nseconds = {seconds}\nseed = {i}\n']
        for j in range(stems):
            effects = '\neffects = [{ plugin = "Reverb", room_size = 0.6 }]' if j == 0 else ""
            lines.append(f'[[stems]]\nname = "s{j}"\nstyle = "{styles[(i + j) % len(styles)]}"{effects}\n')
        path = folder / f"set{i}.toml"
        path.write_text("\n".join(lines))
        paths.append(path)
    return paths


def render(paths, pipe, model, out: Path, ray: bool) -> float:
    from reverie.render.preset import load_preset
    from reverie.render.renderer import plan_set, render_set

    quiet = lambda line: None  # noqa: E731
    t0 = time.perf_counter()
    plans = [plan_set(load_preset(p), pipe, out, force=True) for p in paths]
    if ray:
        from reverie.cluster.render import render_sets_on_ray

        render_sets_on_ray(plans, pipe, model_spec=model, jobs=1, log=quiet)
    else:
        for plan in plans:
            render_set(plan, pipe, model_spec=model, jobs=1, log=quiet)
    return time.perf_counter() - t0


def costs(out: Path) -> dict:
    """Per-stem and per-set seconds from the manifests of the last run."""
    model, driver, mix = [], [], []
    for manifest in sorted(out.glob("*/manifest.json")):
        data = json.loads(manifest.read_text())
        for entry in data["stems"].values():
            t = entry["timings"]
            model.append(t["model_s"])
            driver.append(t["total_s"] - t["model_s"])
        mix.append(data["mixdown"]["timings"]["total_s"])
    return {"model_s": statistics.mean(model), "driver_s": statistics.mean(driver), "mixdown_s": statistics.mean(mix)}


def files(out: Path) -> dict:
    from reverie.render.manifest import sha256_file

    return {str(p.relative_to(out)): sha256_file(p) for p in sorted(out.glob("*/*.wav"))}


def spread(values: list[float]) -> str:
    mean = statistics.mean(values)
    low, high = min(values), max(values)
    return f"{mean:7.1f}  (min {low:.1f}, max {high:.1f}, {100 * (high - low) / mean:.0f}% spread)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=None, help=MODEL_HELP)
    parser.add_argument("--presets", type=int, default=4)
    parser.add_argument("--stems", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--rate", type=int, default=44100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--address", default="local", help="Ray: `local` (a runtime here), auto, HOST:PORT")
    parser.add_argument("--json", metavar="FILE")
    args = parser.parse_args()
    args.model = model_spec(args.model)

    from reverie.cluster.runtime import connect
    from reverie.models.pipeline import load_pipeline
    from reverie.render.engine import stem_threads

    pipe = load_pipeline(args.model)
    t0 = time.perf_counter()
    runtime = connect(args.address)
    ray_start = time.perf_counter() - t0
    results = {"local": [], "ray": []}
    cost = {}
    try:
        with tempfile.TemporaryDirectory(prefix="reverie-scale-") as tmp:
            paths = presets(Path(tmp), args.presets, args.stems, args.seconds, args.rate)
            for _ in range(args.repeats):
                for kind in ("local", "ray"):
                    out = Path(tmp) / kind
                    results[kind].append(render(paths, pipe, args.model, out, kind == "ray"))
                    cost[kind] = costs(out)
                if files(Path(tmp) / "local") != files(Path(tmp) / "ray"):
                    raise SystemExit("the Ray run wrote other bytes than --jobs 1")
    finally:
        runtime.close()
    n = args.presets
    print(
        f"{n} presets x {args.stems} stems x {args.seconds:g} s at {args.rate} Hz, model {args.model or 'default'}, "
        f"{stem_threads(1)} threads per stem, {args.repeats} repeats; Ray at {args.address} "
        f"(runtime start {ray_start:.1f} s, not counted)"
    )
    print("                 wall s per run                         presets per hour")
    for kind in ("local", "ray"):
        per_hour = [3600 * n / s for s in results[kind]]
        label = "--jobs 1" if kind == "local" else "--ray   "
        print(f"  {label}  {spread(results[kind])}   {spread(per_hour)}")
    for kind in ("local", "ray"):
        c = cost[kind]
        print(
            f"  per stem ({kind}): model {c['model_s']:.2f} s, driver {c['driver_s']:.2f} s; "
            f"mixdown {c['mixdown_s']:.2f} s per set"
        )
    print("  bytes: identical")
    if args.json:
        Path(args.json).write_text(json.dumps({"args": vars(args), "wall_s": results, "costs": cost}, indent=2))


if __name__ == "__main__":
    main()
