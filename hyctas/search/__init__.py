"""Multi-objective architecture search, handed its objectives (it knows nothing of networks).

Objectives and constraints (`objectives`), an evaluation cache saved as CSV (`archive`),
pymoo operators over architectures (`operators`), NSGA-II and a random baseline (`nsga`),
their sample efficiency over several seeds in normalised hypervolume (`efficiency`),
per-target selection from the archive (`selection`) and plots (`plots`, imported on its
own so that the search does not load matplotlib).
"""

from hyctas.search.archive import Archive, ArchiveError, Record
from hyctas.search.front import hypervolume, non_dominated
from hyctas.search.nsga import run_nsga2, run_random
from hyctas.search.objectives import Constraint, Objective
from hyctas.search.result import SearchResult
from hyctas.search.selection import NoArchitectureInBudget, Selection, select_targets

__all__ = [
    "Archive",
    "ArchiveError",
    "Constraint",
    "NoArchitectureInBudget",
    "Objective",
    "Record",
    "SearchResult",
    "Selection",
    "hypervolume",
    "non_dominated",
    "run_nsga2",
    "run_random",
    "select_targets",
]
