"""Where the published HyCTAS S/M/L models fall in this search: the same two objectives.

Each published architecture is projected into the configured search space with
`evolve.repair` (ops outside the space redrawn, widths snapped, depths clipped to
`max_depth`, seeded), so at paper-scale params it is evaluated as published and at the small
CPU default as its nearest member of the space. The rows say which happened.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hyctas.search.objectives import Objective
from hyctas.space.arch import Arch
from hyctas.space.config import SpaceConfig
from hyctas.space.evolve import repair
from hyctas.space.published import from_published

# The three published HyCTAS architectures, shipped with the package (copies of the releases).
BUNDLED_DIR = Path(__file__).with_name("published_archs")
BUNDLED = {"S": "HRTNET_S.json", "M": "HRTNET_M.json", "L": "HRTNet_L.json"}


def bundled_published() -> dict[str, Arch]:
    """The published HyCTAS S, M and L architectures (name -> arch, in the published space)."""
    return {
        name: from_published(json.loads((BUNDLED_DIR / file).read_text(encoding="utf-8")))
        for name, file in BUNDLED.items()
    }


def evaluate_published(
    cfg: SpaceConfig, objectives: Sequence[Objective], seed: int
) -> list[dict[str, object]]:
    """One row per published model: name, ids, whether it was projected, objective values."""
    rows = []
    for name, arch in bundled_published().items():
        member = repair(arch, cfg, np.random.default_rng([seed, len(rows)]))
        rows.append(
            {
                "name": f"published {name}",
                "published_id": arch.id,
                "arch_id": member.id,
                # Widths within tolerance of an allowed one are the same network.
                "projected": member.id != arch.snapped(cfg).id,
                "compact": member.compact(),
                **{o.name: o.fn(member) for o in objectives},
            }
        )
    return rows
