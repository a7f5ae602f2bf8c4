"""The batch renderer: TOML presets to mastered stems, a mixdown and a manifest."""
