"""Training: config schema, model builders, the trainer, checkpoints."""
