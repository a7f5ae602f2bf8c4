"""The model as a step of a pedalboard chain, running on a bridge server.

pedalboard has no Python plugin type (spotify/pedalboard issue 12), so a
Remote cannot go inside a Pedalboard. It is a plain callable with a plugin's
signature instead, and a script chains it by hand:

    from pedalboard import Pedalboard, Compressor, Reverb
    from reverie.bridge.pedal import Remote, process_file

    board_a = Pedalboard([Compressor(threshold_db=-18)])
    remote = Remote("transform", strength=0.3, style="calm", seed=7)
    board_b = Pedalboard([Reverb(room_size=0.4)])

    out = board_b(remote(board_a(audio, sr), sr), sr)               # in memory
    process_file("in.wav", "out.wav", [board_a, remote, board_b])   # a long file, in chunks

Audio is (channels, frames) float32, or 1-D for mono, as pedalboard uses it.
"""

from __future__ import annotations

import os
from typing import Any, Callable, Sequence

import numpy as np

from reverie.models.errors import ReverieError
from reverie.models.operations import operation

from . import protocol as P
from .client import Client, Progress


class Remote:
    """Callable (audio, sample_rate) -> audio that runs `op` on a bridge server.

    - transform, inpaint (start=, end=), continue (seconds=): on the incoming audio.
    - interpolate: blends the incoming audio (A) with `other` (B, at `other_rate`).
    - generate: replaces the incoming audio by new audio of the same length,
      rate and channels.

    Other keyword arguments are the op's parameters (style, seed, steps, ...).
    The connection opens on the first call; `close()` or `with` ends it.
    """

    def __init__(
        self,
        op: str,
        *,
        server: str = P.DEFAULT_ENDPOINT,
        server_key: str | bytes | None = None,
        timeout: float = 60.0,
        progress: Progress | None = None,
        other: np.ndarray | None = None,
        other_rate: int | None = None,
        client: Client | None = None,
        **params: Any,
    ):
        self.spec = operation(op)  # an unknown name is a ReverieError listing the five
        if len(self.spec.inputs) > 1 and other is None:
            raise ReverieError(f"{op} needs other= (the B clip) and other_rate=", field="other")
        self.op, self.params, self.progress = op, params, progress
        self.other, self.other_rate = other, other_rate
        self._endpoint, self._server_key, self._timeout = server, server_key, timeout
        self._client = client
        self._own_client = client is None
        self.last_result = None

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self._endpoint, server_key=self._server_key, timeout=self._timeout)
        return self._client

    def __call__(self, audio: np.ndarray, sample_rate: float) -> np.ndarray:
        samples = np.asarray(audio, dtype=np.float32)
        mono_in = samples.ndim == 1
        planar = samples[None, :] if mono_in else samples
        if planar.ndim != 2:
            raise ReverieError(f"audio must be (channels, frames) or 1-D, got shape {samples.shape}", field="audio")
        rate = int(round(sample_rate))
        kw = dict(self.params, progress=self.progress)
        if self.spec.main_input is None:  # new audio in the incoming audio's place
            channels, frames = planar.shape
            result = self.client.generate(frames / rate, rate, channels, **kw)
        else:
            sources = dict(zip(self.spec.inputs, ((planar, rate), (self.other, self.other_rate or rate))))
            result = self.client.job(self.op, sources, kw)
        self.last_result = result
        out = np.array(result.audio, dtype=np.float32)  # writable, like a plugin's output
        return out[0] if mono_in and out.shape[0] == 1 else out

    def close(self) -> None:
        if self._client is not None and self._own_client:
            self._client.close()
            self._client = None

    def __enter__(self) -> "Remote":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def process_file(
    input_path: str | os.PathLike,
    output_path: str | os.PathLike,
    chain: Sequence[Callable],
    *,
    chunk_seconds: float = 10.0,
    overlap_seconds: float = 0.25,
    bit_depth: int | None = None,
    on_chunk: Callable[[float, float], Any] | None = None,
) -> int:
    """Stream a file through `chain` chunk by chunk with pedalboard.io.AudioFile; returns frames written.

    Pedalboard plugins run with reset=False, so their state (reverb tails,
    compressor envelopes) carries across chunks as if the file were one buffer.
    Any other callable, a Remote included, sees each chunk with the last
    `overlap_seconds` of the previous one in front, and its outputs are
    crossfaded there, so chunk boundaries leave no seam. Such a step must keep
    the length (transform, interpolate, inpaint do; continue does not).
    `bit_depth` of the output defaults to the input file's (16, 24 or 32 = float).
    `on_chunk(done_seconds, total_seconds)` is called after each chunk.
    """
    from pedalboard import Plugin
    from pedalboard.io import AudioFile

    if chunk_seconds <= 0 or overlap_seconds < 0:
        raise ReverieError("chunk_seconds must be above 0 and overlap_seconds at least 0", field="chunk_seconds")
    written = 0
    with AudioFile(str(input_path)) as source:
        rate = source.samplerate
        if bit_depth is None:
            bit_depth = _BIT_DEPTHS.get(str(source.file_dtype), 32)
        chunk = max(1, int(round(chunk_seconds * rate)))
        overlap = min(int(round(overlap_seconds * rate)), chunk)
        stages = [
            _PluginStage(step, rate) if isinstance(step, Plugin) else _OverlapStage(step, rate, overlap)
            for step in chain
        ]
        sink = None
        total = source.frames
        try:
            while source.tell() < total:
                block = source.read(min(chunk, total - source.tell()))
                for stage in stages:
                    block = stage.push(block)
                sink, written = _write(sink, output_path, rate, bit_depth, block, written)
                if on_chunk is not None:
                    on_chunk(source.tell() / rate, total / rate)
            # Flush what stages held back (the overlap tails), through the stages after them.
            for index, stage in enumerate(stages):
                block = stage.flush()
                for later in stages[index + 1 :]:
                    block = later.push(block)
                sink, written = _write(sink, output_path, rate, bit_depth, block, written)
        finally:
            if sink is not None:
                sink.close()
    return written


# pedalboard's names for a file's sample format -> bit_depth for writing.
_BIT_DEPTHS = {"int8": 8, "int16": 16, "int24": 24, "int32": 32, "float32": 32, "float64": 32}


def _write(sink, path, rate, bit_depth: int, block: np.ndarray, written: int):
    if block.shape[-1] == 0:
        return sink, written
    if sink is None:
        from pedalboard.io import AudioFile

        sink = AudioFile(str(path), "w", rate, num_channels=block.shape[0], bit_depth=bit_depth)
    sink.write(block)
    return sink, written + block.shape[-1]


class _PluginStage:
    def __init__(self, plugin: Any, rate: float):
        self.plugin, self.rate = plugin, rate

    def push(self, block: np.ndarray) -> np.ndarray:
        if block.shape[-1] == 0:
            return block
        return self.plugin(block, self.rate, reset=False)

    def flush(self) -> np.ndarray:
        return np.zeros((1, 0), np.float32)


class _OverlapStage:
    """Run a length-keeping callable on overlapping chunks; crossfade the overlaps (sin² fade, sums to 1)."""

    def __init__(self, fn: Callable, rate: float, overlap: int):
        self.fn, self.rate, self.overlap = fn, rate, overlap
        self.previous_input: np.ndarray | None = None  # the input behind `pending`
        self.pending: np.ndarray | None = None  # output not yet emitted, to be crossfaded

    def push(self, block: np.ndarray) -> np.ndarray:
        if block.shape[-1] == 0:
            return block
        joined = block if self.previous_input is None else np.concatenate([self.previous_input, block], axis=1)
        out = np.asarray(self.fn(joined, self.rate), dtype=np.float32)
        if out.ndim == 1:
            out = out[None, :]
        if out.shape[-1] != joined.shape[-1]:
            raise ReverieError(
                f"{getattr(self.fn, 'op', self.fn)!r} changed the length ({joined.shape[-1]} -> {out.shape[-1]} "
                "frames); process_file streams only steps that keep it",
                field="chain",
            )
        if self.pending is not None:
            k = self.pending.shape[-1]
            fade = np.sin(0.5 * np.pi * (np.arange(k, dtype=np.float32) + 0.5) / k) ** 2
            out = np.concatenate([self.pending * (1 - fade) + out[:, :k] * fade, out[:, k:]], axis=1)
        keep = min(self.overlap, block.shape[-1])
        if keep == 0:
            self.pending = self.previous_input = None
            return out
        self.pending, self.previous_input = out[:, -keep:], joined[:, -keep:]
        return out[:, :-keep]

    def flush(self) -> np.ndarray:
        pending, self.pending, self.previous_input = self.pending, None, None
        return pending if pending is not None else np.zeros((1, 0), np.float32)
