"""The ZeroMQ bridge: protocol, server, client, pedalboard Remote and DAW scripts.

    from bridge import Client          # bridge.client.Client
    from bridge import Remote          # bridge.pedal.Remote

The wire protocol is docs/protocol.md. Names load lazily, so importing a
submodule (the DAW script, the protocol constants) costs nothing extra.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "Client": "bridge.client",
    "Result": "bridge.client",
    "RemoteError": "bridge.client",
    "Remote": "bridge.pedal",
    "process_file": "bridge.pedal",
    "Server": "bridge.server",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'bridge' has no attribute {name!r}")
