"""DAW scripts that talk to the bridge."""
