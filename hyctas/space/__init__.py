"""The search space: architecture encoding, its config, file formats and genetic operators."""

from hyctas.space.arch import FORMAT, LAST_WIDTH, MAX_SCALE, OP_NAMES, Arch, Cell
from hyctas.space.config import SpaceConfig
from hyctas.space.evolve import crossover, enumerate_final_scales, mutate, repair, sample_arch
from hyctas.space.io import load_arch, save_arch
from hyctas.space.published import from_published, to_published

__all__ = [
    "FORMAT",
    "LAST_WIDTH",
    "MAX_SCALE",
    "OP_NAMES",
    "Arch",
    "Cell",
    "SpaceConfig",
    "crossover",
    "enumerate_final_scales",
    "from_published",
    "load_arch",
    "mutate",
    "repair",
    "sample_arch",
    "save_arch",
    "to_published",
]
