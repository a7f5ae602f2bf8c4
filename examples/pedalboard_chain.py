"""Put Reverie between two pedalboard effect chains: board_a -> Remote -> board_b.

Start a server first (`.venv/bin/reverie serve`), then, from the repository's root:

    .venv/bin/python examples/pedalboard_chain.py presets/assets/music_box.ogg out.wav --strength 0.3 --style calm

The file is streamed in chunks (pedalboard.io.AudioFile), so any length
works in constant memory; the model's chunks are crossfaded where they meet.
Without IN, a short test tone is made and processed in memory instead.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
from pedalboard import Compressor, HighpassFilter, Limiter, Pedalboard, Reverb

from reverie.bridge.pedal import Remote, process_file


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("input", nargs="?", help="audio file to process (wav, flac, ogg, mp3)")
    parser.add_argument("output", nargs="?", default="chain_out.wav")
    parser.add_argument("--server", default="tcp://127.0.0.1:5555")
    parser.add_argument("--strength", type=float, default=0.3)
    parser.add_argument("--style", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--chunk-seconds", type=float, default=10.0)
    args = parser.parse_args()

    board_a = Pedalboard([HighpassFilter(cutoff_frequency_hz=60), Compressor(threshold_db=-20, ratio=3)])
    board_b = Pedalboard([Reverb(room_size=0.35, wet_level=0.2), Limiter(threshold_db=-1)])

    with Remote("transform", server=args.server, strength=args.strength, style=args.style, seed=args.seed) as remote:
        if args.input is None:
            rate = 44100
            t = np.arange(rate * 3) / rate
            tone = (0.3 * np.sin(2 * np.pi * 220 * t) * np.exp(-t)).astype(np.float32)
            audio = np.stack([tone, tone])
            out = board_b(remote(board_a(audio, rate), rate), rate)
            print(
                f"in memory: {audio.shape} -> {out.shape} at {rate} Hz "
                f"(server compute {remote.last_result.timings['compute_s']} s)"
            )
            return
        frames = process_file(
            args.input,
            args.output,
            [board_a, remote, board_b],
            chunk_seconds=args.chunk_seconds,
            on_chunk=lambda done, total: print(f"\r{done:7.1f} / {total:.1f} s", end="", file=sys.stderr),
        )
        print(f"\nwrote {args.output}: {frames} frames", file=sys.stderr)


if __name__ == "__main__":
    main()
