"""One import package: `reverie` works from any directory, fast, and puts no generic names on the path."""

import subprocess
import sys

from dummy_models import TINY


def run_elsewhere(tmp_path, code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)


def test_import_reverie_is_light_and_exports_resolve(tmp_path):
    code = (
        "import sys, reverie\n"
        "assert 'torch' not in sys.modules and 'zmq' not in sys.modules, 'import reverie loaded torch or zmq'\n"
        "names = {n: getattr(reverie, n).__module__ for n in reverie.__all__}\n"
        "print(sorted(names.items()))\n"
    )
    done = run_elsewhere(tmp_path, code)
    assert done.returncode == 0, done.stderr
    for name, module in [
        ("ReveriePipeline", "reverie.models.pipeline"),
        ("Audio", "reverie.models.audio"),
        ("load_audio", "reverie.models.audio"),
        ("save_audio", "reverie.models.audio"),
        ("Melody", "reverie.models.melody.notes"),
        ("Client", "reverie.bridge.client"),
        ("Remote", "reverie.bridge.pedal"),
        ("ReverieError", "reverie.models.errors"),
    ]:
        assert f"('{name}', '{module}')" in done.stdout


def test_generic_top_level_names_are_not_installed(tmp_path):
    for name in ("models", "cli", "bridge", "render"):
        done = run_elsewhere(tmp_path, f"import {name}")
        assert done.returncode != 0 and "No module named" in done.stderr, f"`import {name}` worked: {done.stderr}"


def test_unknown_attribute_names_the_module(tmp_path):
    done = run_elsewhere(tmp_path, "import reverie; reverie.Nope")
    assert "module 'reverie' has no attribute 'Nope'" in done.stderr


def test_default_model_loads_from_another_directory(tmp_path):
    done = run_elsewhere(tmp_path, "import reverie; p = reverie.ReveriePipeline.from_pretrained(); print(p.styles)")
    assert done.returncode == 0, done.stderr
    assert "'sleep', 'calm', 'happy', 'sad', 'tense'" in done.stdout


def test_render_and_serve_without_ray_never_import_it(tmp_path):
    """ray's import takes seconds: only --ray pays for it."""
    preset = tmp_path / "p.toml"
    preset.write_text('[set]\nname = "p"\nseconds = 1\nsample_rate = 22050\n\n[[stems]]\nname = "a"\nsteps = 1\n')
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from reverie.cli.render import main\n"
        "import reverie.cli.serve, reverie.bridge.server\n"
        f"r = CliRunner().invoke(main, [{str(preset)!r}, '--dry-run', '--model', {TINY!r}, '-o', {str(tmp_path)!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "assert 'ray' not in sys.modules, 'render without --ray imported ray'\n"
    )
    done = run_elsewhere(tmp_path, code)
    assert done.returncode == 0, done.stderr
