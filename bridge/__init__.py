"""The ZeroMQ bridge: protocol, server, client, pedalboard Remote and DAW scripts.

    from reverie.bridge import Client          # bridge.client.Client
    from reverie.bridge import Remote          # bridge.pedal.Remote

The wire protocol is docs/protocol.md. Names load lazily, so importing a
submodule (the DAW script, the protocol constants) costs nothing extra.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "Client": "reverie.bridge.client",
    "Result": "reverie.bridge.client",
    "RemoteError": "reverie.bridge.client",
    "Remote": "reverie.bridge.pedal",
    "process_file": "reverie.bridge.pedal",
    "Server": "reverie.bridge.server",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'bridge' has no attribute {name!r}")
