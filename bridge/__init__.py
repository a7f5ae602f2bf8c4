"""The ZeroMQ bridge as a library: protocol, validation, server, client, pedalboard Remote and DAW scripts.

The everyday names are exported by the package: `reverie.Client` (bridge.client)
and `reverie.Remote` (bridge.pedal). The wire protocol is docs/protocol.md. This
package imports nothing itself, so a DAW script or a client loads only the
modules it names.
"""
