"""The `select` stage's logic: one model spec per retraining target.

A target is either a budget on the searched front (`max_latency_ms` or `front_quantile`,
see `hyctas.search.selection`, with an optional `init` that overrides `retrain.init` for that
target) or a hand-designed baseline (`baseline: <name>`, `width`), so retraining and
evaluation fan out over one list of names. Searched targets come from the architectures
NSGA-II visited in the search run (the archive's `in_nsga2` column), never from the random
baseline's samples or from cached rows of earlier runs. Two targets with the same rule and different
`init` retrain one architecture both ways, side by side in the report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hyctas.search.archive import Archive, ArchiveError
from hyctas.search.objectives import Constraint, Objective
from hyctas.search.run import ACCURACY, LATENCY
from hyctas.search.selection import select_targets

KEY = "select.targets"
NSGA2 = "nsga2"  # the method whose visited architectures are the candidates


def _not_recomputed(arch: Any) -> float:
    raise AssertionError("select only reads archived values")


def load_archive(path: Path, search_block: dict) -> Archive:
    """The search stage's archive, with the objective/constraint columns the params declare."""
    objectives = [
        Objective(ACCURACY, _not_recomputed, "max"),
        Objective(LATENCY, _not_recomputed, "min"),
    ]
    objectives += [Objective(n, _not_recomputed, "min") for n in search_block["extra_objectives"]]
    constraints = [
        Constraint(f"{n}_cap", _not_recomputed, float(b))
        for n, b in search_block["constraints"].items()
        if b is not None
    ]
    return Archive.load(path, objectives, constraints)


def model_spec(target: str, spec: dict, archive_path: Path, search_block: dict) -> dict[str, Any]:
    """The model spec of `target`: a searched architecture within its budget, or a baseline.

    Raises:
        ArchiveError: the archive does not say which architectures NSGA-II visited.
        NoArchitectureInBudget: no architecture NSGA-II visited meets the target's budget.
    """
    if "baseline" in spec:
        return {
            "target": target,
            "kind": "baseline",
            "baseline": {"name": spec["baseline"], "width": spec["width"]},
        }
    rule = {k: v for k, v in spec.items() if k != "init"}
    archive = load_archive(archive_path, search_block)
    if NSGA2 not in archive.runs:
        raise ArchiveError(
            f"{archive_path}: no in_{NSGA2} column, so it does not say which architectures "
            "NSGA-II visited; it was written by an older search: re-run the search stage"
        )
    chosen = select_targets(
        archive,
        {target: rule},
        accuracy=ACCURACY,
        latency=LATENCY,
        key=KEY,
        among=archive.runs[NSGA2],
    )[target]
    out = {
        "target": target,
        "kind": "segnet",
        "arch": chosen.arch.to_dict(),
        "arch_id": chosen.arch_id,
        "compact": chosen.arch.compact(),
        "rule": chosen.rule,
        "budget_ms": chosen.budget,
        "predicted": chosen.values,
    }
    if "init" in spec:  # the spec carries it, so changing it reruns only this target's retrain
        out["init"] = spec["init"]
    return out
