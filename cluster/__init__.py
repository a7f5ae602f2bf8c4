"""Running Reverie on Ray (reverie.cluster): `render --ray` and `reverie serve --ray`.

Nothing here imports ray at module level, and nothing outside imports this package unless --ray was given:
ray's import and start-up take seconds, and the default install does not have it (`pip install -e ".[ray]"`).
"""
