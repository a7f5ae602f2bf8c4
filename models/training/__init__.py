"""Training: folder of audio -> cached features -> a model folder that `ReveriePipeline.from_pretrained` loads."""
