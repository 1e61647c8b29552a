"""Datasets: Cityscapes-layout trees (real or synthetic), label conversion, loaders, transforms."""
