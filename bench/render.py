"""Benchmark the batch renderer: throughput on a preset, and peak memory against stem length.

    .venv/bin/python bench/render.py                       # embedded model, presets/sleep_set.toml
    .venv/bin/python bench/render.py --model tiny          # the random test model (no trained weights needed)
    .venv/bin/python bench/render.py --skip-throughput --memory-minutes 5 60 --memory-steps 1

Throughput: `render PRESET --force` in a fresh process, timed from start to
exit (imports, validation, rendering, mastering, mixdown, spectrograms, all
included). Reported as seconds of stem audio per wall-clock second, counted
three ways from the manifest:
  content: each stem's own audio (a looped stem counts its full looped length)
  model:   what the model generated (a looped stem counts its clip once)
  files:   the length of every stem file (each spans the whole set)
Target: content >= 10x real time on 2 CPU cores.

Memory: a one-stem preset (generate, with reverb and filter, 44.1 kHz
stereo) rendered at each length in its own process; the figure is that
process's peak resident set size (ru_maxrss). Target: the 60-minute stem within
10% of the 5-minute one. `--memory-steps` lowers the denoising steps to keep
the long run short; memory does not depend on the step count.

Results are printed and written as JSON (--json).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Run as a script, this file's folder comes first on sys.path and `render` would name this file, not the package.
sys.path[:] = [str(ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

from bench.models import HELP as MODEL_HELP  # noqa: E402
from bench.models import model_spec  # noqa: E402

MEMORY_PRESET = """
[set]
name = "memory"
sample_rate = 44100
format = "flac"
seconds = {seconds}
loudness_lufs = -23

[[stems]]
name = "long"
style = {style}
{steps}
effects = [
  {{ plugin = "LowpassFilter", cutoff_frequency_hz = 6000 }},
  {{ plugin = "Reverb", room_size = 0.8, wet_level = 0.3 }},
]

[mix]
enabled = false
"""


def child(argv: list[str]) -> None:
    """Run `render` in this process, then print the peak RSS (for the memory runs)."""
    from reverie.cli.render import main

    code = 0
    try:
        main.main(argv, standalone_mode=False)
    except SystemExit as exc:
        code = exc.code or 0
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"peak_rss_mb": round(peak_kb / 1024, 1), "exit": code}), flush=True)


def run_render(argv: list[str], timeout: float | None = None) -> tuple[float, dict]:
    """`render argv` in a fresh process; returns wall seconds and the child's report."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", *argv]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"render failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    if report["exit"] != 0:
        raise SystemExit(f"render failed:\n{proc.stderr[-3000:]}")
    return wall, report


def model_args(model: str | None) -> list[str]:
    return ["--model", model] if model else []


def throughput(preset: Path, model: str | None, jobs: int, out: Path) -> dict:
    wall, report = run_render([str(preset), "-o", str(out), "--force", "-q", "--jobs", str(jobs), *model_args(model)])
    folder = next(p for p in out.iterdir() if (p / "manifest.json").exists())
    manifest = json.loads((folder / "manifest.json").read_text())
    content = model_seconds = files = in_model = 0.0
    per_stem = {}
    for name, entry in manifest["stems"].items():
        own, made = entry["content_seconds"], entry["model_seconds"]
        content += own
        model_seconds += made
        files += entry["seconds"]
        in_model += entry["timings"]["model_s"]
        per_stem[name] = {
            "content_s": round(own, 1),
            "model_s": round(made, 1),
            "in_pipeline_s": entry["timings"]["model_s"],
            "total_s": entry["timings"]["total_s"],
        }
    return {
        "preset": str(preset.relative_to(ROOT) if preset.is_relative_to(ROOT) else preset),
        "model": manifest["model"],
        "jobs": jobs,
        "wall_s": round(wall, 1),
        "stems_wall_s": manifest["run"]["stems_wall_s"],
        "content_audio_s": round(content, 1),
        "model_audio_s": round(model_seconds, 1),
        "file_audio_s": round(files, 1),
        "x_realtime_content": round(content / wall, 2),
        "x_realtime_model": round(model_seconds / wall, 2),
        "x_realtime_files": round(files / wall, 2),
        "in_pipeline_s": round(in_model, 1),
        "pipeline_x_realtime": round(model_seconds / in_model, 2) if in_model else None,
        "renderer_own_s": round(wall - in_model, 1),
        "renderer_x_realtime_content": round(content / (wall - in_model), 2),
        "load_average": os.getloadavg(),
        "peak_rss_mb": report["peak_rss_mb"],
        "stems": per_stem,
    }


def memory(minutes: list[float], model: str | None, steps: int | None, style: str, out: Path) -> dict:
    results = {}
    for m in minutes:
        folder = out / f"memory_{m:g}min"
        folder.mkdir(parents=True, exist_ok=True)
        preset = folder / "memory.toml"
        preset.write_text(
            MEMORY_PRESET.format(seconds=m * 60, style=json.dumps(style), steps=f"steps = {steps}" if steps else "")
        )
        wall, report = run_render([str(preset), "-o", str(folder / "out"), "--force", "-q", *model_args(model)])
        results[f"{m:g} min"] = {
            "peak_rss_mb": report["peak_rss_mb"],
            "wall_s": round(wall, 1),
            "x_realtime": round(m * 60 / wall, 2),
            "load_average": os.getloadavg(),
        }
        print(f"  {m:g}-minute stem: peak RSS {report['peak_rss_mb']} MB, {wall:.0f} s wall", flush=True)
    values = [r["peak_rss_mb"] for r in results.values()]
    results["growth_pct"] = round(100 * (max(values) - values[0]) / values[0], 1) if values else None
    return results


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        child(sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help=MODEL_HELP)
    parser.add_argument("--preset", type=Path, default=ROOT / "presets" / "sleep_set.toml")
    parser.add_argument("--jobs", type=int, default=1)
    parser.add_argument("--memory-minutes", type=float, nargs="+", default=[5, 60])
    parser.add_argument("--memory-steps", type=int, help="denoising steps for the memory runs (default: the model's)")
    parser.add_argument("--memory-style", default="sleep")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--out", type=Path, help="keep the renders here (default: a temp folder)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    args.model = model_spec(args.model)

    results = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    with tempfile.TemporaryDirectory(prefix="reverie-bench-") as tmp:
        out = args.out or Path(tmp)
        if not args.skip_throughput:
            print(f"throughput: render {args.preset} --force (jobs {args.jobs})", flush=True)
            t = throughput(args.preset.resolve(), args.model, args.jobs, out / "throughput")
            results["throughput"] = t
            print(
                f"  wall {t['wall_s']} s (stems {t['stems_wall_s']} s); stem audio: content {t['content_audio_s']} s "
                f"-> {t['x_realtime_content']}x real time; model-generated {t['model_audio_s']} s -> "
                f"{t['x_realtime_model']}x; files {t['file_audio_s']} s -> {t['x_realtime_files']}x; "
                f"peak RSS {t['peak_rss_mb']} MB",
                flush=True,
            )
            print(
                f"  of which inside the pipeline {t['in_pipeline_s']} s (model {t['pipeline_x_realtime']}x real time); "
                f"the renderer's own work {t['renderer_own_s']} s ({t['renderer_x_realtime_content']}x real time "
                f"of content); load average {t['load_average']}",
                flush=True,
            )
            for name, s in t["stems"].items():
                print(
                    f"    {name}: content {s['content_s']} s, model-made {s['model_s']} s, "
                    f"in pipeline {s['in_pipeline_s']} s, total {s['total_s']} s"
                )
        if not args.skip_memory:
            print(
                f"memory: one generate stem of {', '.join(f'{m:g}' for m in args.memory_minutes)} minutes", flush=True
            )
            results["memory"] = memory(
                args.memory_minutes, args.model, args.memory_steps, args.memory_style, out / "memory"
            )
            print(f"  growth from the first to the largest: {results['memory']['growth_pct']}%")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
