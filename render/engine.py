"""What a stem's bytes depend on besides the preset and the model: torch's version, the CPU's vector ISA and the
number of threads the stem runs on.

Float reductions in torch can round differently with another thread count or
instruction set, so these go into every cache key and into the manifest: a
folder rendered with `--jobs 1` (every core on one stem) is rendered again,
not reported up to date, by `--jobs 2` (half the cores per stem), and a
folder copied to another machine is not silently mixed with its output. The
thread count is a function of `--jobs` and the cores this process may use,
the same in the parent and in every worker.
"""

from __future__ import annotations

import os
from contextlib import contextmanager


def usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def stem_threads(jobs: int) -> int:
    """Torch threads per stem when `jobs` stems render at once: the usable cores shared out."""
    return max(1, usable_cores() // max(1, jobs))


def engine(threads: int) -> dict:
    """The recorded facts the audio depends on (besides preset and model)."""
    import torch

    return {"torch": torch.__version__, "cpu_isa": torch.backends.cpu.get_cpu_capability(), "threads": threads}


@contextmanager
def torch_threads(threads: int):
    """Run the block with torch on exactly `threads` threads, then restore what was set."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
