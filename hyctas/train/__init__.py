"""Training: loss, schedule, sampler, checkpoints, signals, DDP and the loop shared by the training stages."""
