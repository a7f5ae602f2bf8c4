"""The ZeroMQ bridge: protocol, server, client, pedalboard Remote and DAW scripts."""
