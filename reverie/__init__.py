"""Reverie: local, offline generative audio.

    import reverie

    pipe = reverie.ReveriePipeline.from_pretrained()      # the embedded default model
    audio = reverie.load_audio("loop.wav")
    calm = pipe.transform(audio, style="calm", strength=0.4)
    reverie.save_audio(calm, "calm.wav")

The subpackages are `reverie.models` (the model core), `reverie.bridge` (the
ZeroMQ server, client and DAW scripts), `reverie.render` (the preset renderer)
and `reverie.cli`. Names below load on first use, so `import reverie` imports
neither torch nor zmq.
"""

from __future__ import annotations

import importlib
from pathlib import Path

# The subpackages live in the top-level folders of a checkout (models/, bridge/, ...), mapped under
# this name by the install. A DAW's own Python that runs a script straight from a checkout has no
# install: there, find them beside this folder.
_checkout = Path(__file__).resolve().parent.parent
if (_checkout / "models" / "pipeline.py").is_file() and str(_checkout) not in __path__:
    __path__.append(str(_checkout))

_EXPORTS = {
    "ReveriePipeline": "reverie.models.pipeline",
    "Audio": "reverie.models.audio",
    "load_audio": "reverie.models.audio",
    "save_audio": "reverie.models.audio",
    "Melody": "reverie.models.melody",
    "ReverieError": "reverie.models.errors",
    "Client": "reverie.bridge.client",
    "Remote": "reverie.bridge.pedal",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'reverie' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
