"""Reverie's model core: audio I/O, mel frontend, 1D mel U-Net, schedulers and the one pipeline.

Import submodules directly (`from models.pipeline import ReveriePipeline`);
this package imports nothing heavy so the CLI stays fast.
"""
