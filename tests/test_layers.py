"""Each layer imports only downward: the model core, then the renderer, then Ray's scale-out, then the front
ends (the bridge, then the command line). A module may import its own layer and those under it only."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Folder (as installed under reverie.) -> its height. Front ends sit on top: cli drives the bridge.
LAYERS = {"models": 0, "render": 1, "cluster": 2, "bridge": 3, "cli": 4}


def layer_of_module(name: str) -> int | None:
    """The layer a module name lives in, or None for anything outside Reverie."""
    parts = name.split(".")
    if parts[0] == "reverie" and len(parts) > 1:
        return LAYERS.get(parts[1])
    return None


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every import in `path`, inside functions too (lazy imports count)."""
    folder = path.relative_to(ROOT).parts[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the file's package
                base = ["reverie", *folder[: len(folder) - node.level + 1]]
                found.append((node.lineno, ".".join(base + ([node.module] if node.module else []))))
            else:
                found.append((node.lineno, node.module or ""))
    return found


def test_no_module_imports_a_layer_above_its_own():
    upward = []
    for folder, height in LAYERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            for line, name in imports(path):
                target = layer_of_module(name)
                if target is not None and target > height:
                    upward.append(f"{path.relative_to(ROOT)}:{line} imports {name}")
    assert upward == []


def test_only_the_command_line_speaks_click():
    """Commands live in cli/: the core, the renderer, Ray and the bridge are libraries."""
    speaking = [
        str(path.relative_to(ROOT))
        for folder in ("models", "render", "cluster", "bridge")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if any(name == "click" or name.startswith("click.") for _, name in imports(path))
    ]
    assert speaking == []


def test_the_walk_sees_relative_and_lazy_imports():
    found = dict((name, line) for line, name in imports(ROOT / "render" / "renderer.py"))
    assert any(name.startswith("reverie.render.") for name in found)  # `from .x import` resolved
    lazy = [name for _, name in imports(ROOT / "cli" / "render.py") if name == "reverie.render.renderer"]
    assert lazy  # an import inside a function counts too


def test_the_spec_and_audio_close_no_import_circle():
    """operations.py (the spec) and audio.py are what every layer stands on: neither reaches itself back
    through the modules it imports, lazily or not (audio importing the spec closed a circle through grid,
    melody and hum; the limits both need are models/limits.py now)."""
    paths = {
        "reverie." + ".".join(p.relative_to(ROOT).with_suffix("").parts): p for p in (ROOT / "models").rglob("*.py")
    }
    paths = {name.removesuffix(".__init__"): path for name, path in paths.items()}
    graph = {
        name: {m for _, imported in imports(path) for m in paths if imported == m or imported.startswith(m + ".")}
        - {name}
        for name, path in paths.items()
    }
    for start in ("reverie.models.operations", "reverie.models.audio", "reverie.models.grid"):
        seen, stack = set(), [start]
        while stack:
            for reached in graph[stack.pop()]:
                assert reached != start, f"{start} is imported back by a module it imports"
                if reached not in seen:
                    seen.add(reached)
                    stack.append(reached)
