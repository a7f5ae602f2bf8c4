"""A stem's inputs, read for the pipeline: its melody (MIDI or a hummed take) and its audio at the set's rate.

Hum transcriptions (pitch tracking, the slow part) are cached by the take's
sha256 and key, so a later run, or a worker process, reads the same notes back.
Validation defers those cache writes (`deferred`) until every stem of every
preset has passed, so an invalid preset writes nothing.
"""

from __future__ import annotations

import json
from pathlib import Path

from reverie.models.errors import ReverieError
from reverie.models.operations import operation

from .manifest import sha256_file, write_json_atomic
from .preset import StemSpec
from .schema import CHANNELS


def load_inputs(
    stem: StemSpec,
    sample_rate: int,
    cache_dir: Path | None = None,
    write_cache: bool = True,
    deferred: list | None = None,
):
    """(melody, {input name: Audio}) of a stem, ready for the pipeline: audio at `sample_rate`, stereo.

    New cache entries are written, or appended to `deferred` as (path, data) for `write_cache_entries`.
    """
    from reverie.models.audio import load_audio
    from reverie.models.melody import Melody

    v, melody, audio = stem.values, None, {}
    if "midi" in stem.paths:
        melody = Melody.from_midi(stem.paths["midi"], track=v.get("track"), channel=v.get("channel"))
    elif "hum" in stem.paths:
        melody = transcribe_hum(stem.paths["hum"], v.get("hum_key"), cache_dir, write_cache, deferred)
    files = stem.paths.get("sources") or ([stem.paths["source"]] if "source" in stem.paths else [])
    for name, path in zip(operation(stem.op).inputs, files):
        where = "source" if len(files) == 1 else name  # as the error names it: the preset's key, or a / b
        audio[name] = set_audio(load_audio(path, field=where), sample_rate, where)
    return melody, audio


def set_audio(audio, sample_rate: int, field_name: str):
    """`audio` as the set holds it: stereo (a mono or multichannel file is folded to mono first), at its rate."""
    from reverie.models.audio import Audio, fit_length, resample

    samples = audio.samples
    if audio.channels != CHANNELS:
        samples = samples.mean(axis=0, keepdims=True).repeat(CHANNELS, axis=0)
    samples = resample(samples, audio.sample_rate, sample_rate)
    frames = round(audio.frames * sample_rate / audio.sample_rate)
    return Audio(fit_length(samples, frames), sample_rate).validate(field_name)


def transcribe_hum(
    path: str, key: str | None, cache_dir: Path | None, write_cache: bool = True, deferred: list | None = None
):
    """The melody of a hummed take, from the cache when it holds this take and key."""
    from reverie.models.audio import load_audio
    from reverie.models.melody import Melody, Note

    cached = None
    if cache_dir is not None:
        cached = Path(cache_dir) / f"hum-{sha256_file(path)[:24]}-{(key or 'auto').replace(' ', '_')}.json"
        if cached.is_file():
            try:
                entry = json.loads(cached.read_text())
                return Melody(tuple(Note(**n) for n in entry["notes"]), take_seconds=entry.get("take_seconds"))
            except (ValueError, KeyError, TypeError, ReverieError):
                pass  # a damaged cache entry: transcribe again
    melody = Melody.from_hum(load_audio(path, field="hum"), key=key)
    if cached is not None and write_cache:
        notes = [{"start": n.start, "end": n.end, "pitch": n.pitch, "velocity": n.velocity} for n in melody.notes]
        entry = (cached, {"source": Path(path).name, "key": key, "notes": notes, "take_seconds": melody.take_seconds})
        deferred.append(entry) if deferred is not None else write_cache_entries([entry])
    return melody


def write_cache_entries(entries: list) -> None:
    for path, data in entries:
        path.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(path, data)
