"""The model an actor loads, wherever it runs: nodes need no shared filesystem.

The embedded default model ships inside the package (every node has the same install), so for it only the
name travels. A model folder is read once here, its files put once in
Ray's object store, and every actor writes them to a private temp folder and loads from there. The weights'
hash is checked on arrival, so an actor never renders with a model other than the one the cache keys name.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reverie.models.errors import ReverieError

# What ReveriePipeline.from_pretrained reads; a training folder's checkpoints and logs stay behind.
MODEL_FILES = ("reverie.json", "card.json", "unet/config.json", "unet/*.safetensors")


@dataclass(frozen=True)
class ModelSource:
    spec: str | None  # None (embedded) or the folder as given: what the manifest records
    model_hash: str  # the weights' hash the driver loaded
    files: Any = None  # an ObjectRef to {relative path: bytes} for a folder, else None


def ship_model(spec, model_hash: str) -> ModelSource:
    """Describe the model for actors; a folder's files go into the object store once, here."""
    if spec is None:
        return ModelSource(spec, model_hash)
    import ray

    folder = Path(spec)
    files = {
        str(p.relative_to(folder)): p.read_bytes() for pattern in MODEL_FILES for p in sorted(folder.glob(pattern))
    }
    if "reverie.json" not in files:
        raise ReverieError(f"--model {spec}: not a Reverie model folder (no reverie.json)", field="model")
    return ModelSource(str(spec), model_hash, ray.put(files))


def load_model(source: ModelSource):
    """The pipeline an actor renders with: loaded once per actor, checked against the driver's hash."""
    from reverie.models.pipeline import load_pipeline

    if source.files is None:
        pipe = load_pipeline(source.spec)
    elif (Path(source.spec) / "reverie.json").is_file():
        # The folder is on this node (the driver's, or a shared filesystem): read it there. The hash check
        # below still holds it to the driver's model. (A worker Ray restarted did not get its files back
        # from the object store: `serve --ray --model DIR` hung after its workers were killed.)
        pipe = load_pipeline(source.spec)
    else:
        import ray

        files = ray.get(source.files)
        folder = Path(tempfile.mkdtemp(prefix="reverie-model-"))
        try:
            for name, data in files.items():
                (folder / name).parent.mkdir(parents=True, exist_ok=True)
                (folder / name).write_bytes(data)
            pipe = load_pipeline(folder)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    if pipe.model_hash != source.model_hash:
        raise ReverieError(
            f"a Ray worker loaded model {pipe.model_hash}, the driver {source.model_hash} "
            f"(--model {source.spec or 'default'}); every node needs the same reverie install",
            field="model",
        )
    return pipe


class ModelActor:
    """What every Reverie actor starts with: torch on its thread count, the model loaded once, and a set of
    cancelled work tokens that its pipeline callbacks read (a second actor slot serves `cancel`)."""

    def __init__(self, model: ModelSource, threads: int):
        import torch  # after reverie.models (imported above), which sets OpenMP's wait policy

        torch.set_num_threads(threads)
        self.threads = threads
        self.pipe = load_model(model)
        self._cancelled: set[str] = set()

    def cancel(self, token: str) -> None:
        self._cancelled.add(token)
