"""Reverie's command line: `reverie` (a click group) over the shared pipeline operations."""
