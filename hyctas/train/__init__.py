"""Training: loss, schedule, sampler, checkpoints, signals, DDP and the shared training loop."""
