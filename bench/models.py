"""Which model a bench runs: a model folder, the embedded default (None), or "tiny", the tests' small random
model (tests/dummy_models.py, not part of the product), saved as a folder so that `render`, `reverie serve`
and Ray actors can load it too."""

from __future__ import annotations

import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1] / "tests"
HELP = "a model folder, or 'tiny' (the tests' random model); default: the embedded model"


def model_spec(spec: str | None) -> str | None:
    if spec != "tiny":
        return spec
    sys.path.insert(0, str(TESTS))
    from dummy_models import TINY

    return TINY
