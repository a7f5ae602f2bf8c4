"""The Ray actor that makes stems' audio: it loads the model once and streams each stem's own audio back.

What it runs is `render.stems.content` (the pipeline's audio at the set's rate), the one part of a stem that
needs the model and whose bytes depend on torch's threads and the CPU. The driver does the rest as it does
for `--jobs 1` (effects, pan, fades, measuring, mastering, the spectrogram: render.stems.timeline and
render.write), so effect plugins and impulse-response files need to exist only where the presets are, and
only the driver ever writes a file.

The audio leaves in blocks of at most `render.write.BLOCK` frames through a Ray streaming generator with
backpressure, so an actor holds a bounded amount of audio however long the stem is. Progress (each denoising
step) travels in the same stream, in order. The pipeline runs in a thread of its own so that a step event
can leave while the next step computes; a second actor slot serves `cancel`.
"""

from __future__ import annotations

import os
import queue
import threading

from .model import ModelActor

AHEAD = 4  # blocks the pipeline thread may make before the stream takes them
SLOTS = 2  # one stem at a time plus `cancel`


class StemWorker(ModelActor):
    def ready(self) -> dict:
        """Where this actor runs and the facts its bytes depend on (checked against the driver's plan)."""
        import ray
        import torch

        from reverie.render.engine import engine

        return {
            "node": ray.util.get_node_ip_address(),
            "node_id": ray.get_runtime_context().get_node_id(),
            "pid": os.getpid(),
            "engine": engine(self.threads) | {"threads": self.threads, "torch_threads": torch.get_num_threads()},
            "model": self.pipe.model_hash,
        }

    def content(self, token: str, stem, set_spec, params: dict):
        """Yield ("step", step, total) and ("audio", (2, n) float32 block) in order, then ("end",)."""
        from reverie.models.errors import Cancelled
        from reverie.render.engine import torch_threads
        from reverie.render.stems import content, reblock

        events: queue.Queue = queue.Queue(maxsize=AHEAD)

        def put(item) -> None:
            while token not in self._cancelled:
                try:
                    events.put(item, timeout=0.2)
                    return
                except queue.Full:
                    continue
            raise Cancelled()

        def callback(step: int, total: int) -> bool:
            put(("step", step, total))
            return token not in self._cancelled

        def work() -> None:
            try:
                # Torch's thread count is per process, but set it in the thread that runs, as --jobs 1 does.
                with torch_threads(self.threads):
                    for block in reblock(content(self.pipe, stem, set_spec, params, callback)):
                        put(("audio", block))
                put(("end",))
            except Cancelled:
                pass
            except BaseException as exc:  # reaches the driver as the stem's error, not as a lost worker
                try:
                    put(("error", getattr(exc, "message", None) or f"{type(exc).__name__}: {exc}"))
                except Cancelled:
                    pass

        thread = threading.Thread(target=work, name=f"stem-{stem.name}", daemon=True)
        thread.start()
        try:
            while True:
                try:
                    item = events.get(timeout=0.2)
                except queue.Empty:
                    if not thread.is_alive() and events.empty():
                        return  # cancelled
                    continue
                yield item
                if item[0] in ("end", "error"):
                    return
        finally:
            self._cancelled.add(token)  # the driver went away or the stream ended: stop the thread
            thread.join(timeout=5)
            if not thread.is_alive():
                self._cancelled.discard(token)
