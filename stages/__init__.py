"""Stage scripts, one per pipeline stage: `python -m stages.<name> --params params.yaml ...`."""
