"""Reverie's model core: audio I/O, mel frontend, 1D mel U-Net, schedulers and the one pipeline.

Import submodules directly (`from reverie.models.pipeline import ReveriePipeline`);
this package imports nothing heavy so the CLI stays fast.
"""

import os

# torch's OpenMP threads spin while they wait by default. When anything else
# wants the same cores (a DAW, a render job, a second worker), spinning threads
# starve each other: measured here, generating 30 s with 2 threads next to one
# busy process took 37.9 s spinning and 5.1 s passive. Must be set before torch
# is imported; a user's own setting wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
