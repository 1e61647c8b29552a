"""The `select` stage's logic: one model spec per retraining target.

A target is either a budget on the searched front (`max_latency_ms` or `front_quantile`,
see `hyctas.search.selection`, with an optional `init` that overrides `retrain.init` for that
target) or a hand-designed baseline (`baseline: <name>`, `width`), so retraining and
evaluation fan out over one list of names. Searched targets come from the architectures
NSGA-II visited in the search run (the archive's `in_nsga2` column), never from the random
baseline's samples or from cached rows of earlier runs. Two targets with the same rule and different
`init` retrain one architecture both ways, side by side in the report.

A third kind is the chance level a searched target is compared with: `band_of: <rule>`,
`band`, `draw` (and an optional `init`) is a random-search architecture (the `in_random`
rows: uniform samples of the space) whose predicted latency is within +-`band` of the
architecture `<rule>` selects; `draw` 0, 1, ... are distinct ones, in an order seeded by
`base.seed` (`hyctas.search.selection.draw_in_band`). The rule is written out rather than
naming another target so that the target's own params entry is all it depends on: DVC's
foreach cannot declare one item's dependency on another item's params.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hyctas.search.archive import Archive, ArchiveError
from hyctas.search.objectives import ACCURACY, LATENCY, Constraint, Objective
from hyctas.search.selection import draw_in_band, select_targets

KEY = "select.targets"
NSGA2 = "nsga2"  # the method whose visited architectures are the candidates
RANDOM = "random"  # the run whose samples the band targets are drawn from


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


def model_spec(
    target: str,
    spec: dict,
    archive_path: Path,
    search_block: dict,
    *,
    seed: int | None = None,
) -> dict[str, Any]:
    """The model spec of `target`: a searched architecture within its budget, a random one in
    the latency band of a searched one, or a baseline.

    Args:
        target: The target's name.
        spec: Its entry of select.targets.
        archive_path: The search stage's archive.
        search_block: The `search` params (objective and constraint columns).
        seed: `base.seed`, which orders the draws of a `band_of` target (needed for those).

    Raises:
        ArchiveError: the archive does not say which architectures NSGA-II (or, for a band
            target, random search) visited.
        NoArchitectureInBudget: no architecture NSGA-II visited meets the target's budget.
        ConfigError: a band target's band holds too few random-search architectures.
    """
    if "baseline" in spec:
        return {
            "target": target,
            "kind": "baseline",
            "baseline": {"name": spec["baseline"], "width": spec["width"]},
        }
    archive = load_archive(archive_path, search_block)
    if NSGA2 not in archive.runs:
        raise ArchiveError(
            f"{archive_path}: no in_{NSGA2} column, so it does not say which architectures "
            "NSGA-II visited; it was written by an older search: re-run the search stage"
        )
    if "band_of" in spec:
        out = _band_spec(target, spec, archive, archive_path, seed)
        if "init" in spec:
            out["init"] = spec["init"]
        return out
    rule = {k: v for k, v in spec.items() if k != "init"}
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


def _band_spec(
    target: str, spec: dict, archive: Archive, archive_path: Path, seed: int | None
) -> dict[str, Any]:
    """The spec of a `band_of` target: a seeded draw among random search's samples in the band."""
    key = f"{KEY}.{target}"
    if seed is None:
        raise ValueError(f"{key}: a band_of target needs the seed (base.seed) to draw")
    if RANDOM not in archive.runs:
        raise ArchiveError(
            f"{archive_path}: no in_{RANDOM} column, so there are no random-search samples "
            f"to draw {key} from; set search.random_baseline: true and re-run the search"
        )
    center = select_targets(
        archive,
        {"band_of": spec["band_of"]},
        accuracy=ACCURACY,
        latency=LATENCY,
        key=key,
        among=archive.runs[NSGA2],
    )["band_of"]
    drawn = draw_in_band(
        archive,
        center=archive.get(center.arch_id),
        band=spec["band"],
        draw=spec["draw"],
        seed=seed,
        latency=LATENCY,
        among=archive.runs[RANDOM],
        key=key,
    )
    record = drawn.record
    return {
        "target": target,
        "kind": "segnet",
        "arch": record.arch.to_dict(),
        "arch_id": record.arch_id,
        "compact": record.compact,
        "rule": f"random within +-{spec['band']:g} of {center.rule}, draw {spec['draw']}",
        "predicted": dict(record.values),
        "band": {
            "of": center.rule,
            "center_arch_id": center.arch_id,
            "center_latency_ms": center.values[LATENCY],
            "width": spec["band"],
            "low_ms": drawn.low,
            "high_ms": drawn.high,
            "draw": spec["draw"],
            "candidates": drawn.candidates,
        },
    }
