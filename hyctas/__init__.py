"""HyCTAS: search, train and evaluate real-time segmentation networks."""
