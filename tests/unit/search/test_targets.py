"""hyctas.search.targets: a target's model spec, its optional init, and baselines."""

from __future__ import annotations

import numpy as np
import pytest

from hyctas.search import Archive, Objective
from hyctas.search.run import ACCURACY, LATENCY
from hyctas.search.targets import model_spec
from hyctas.space import sample_arch

SEARCH = {"extra_objectives": [], "constraints": {}}


@pytest.fixture
def archive_csv(space, tmp_path):
    """An archive of 6 random architectures with mIoU and latency rising together."""
    rng = np.random.default_rng(0)
    archs = {}
    while len(archs) < 6:
        arch = sample_arch(space, rng)
        archs.setdefault(arch.id, arch)
    rank = {a: i for i, a in enumerate(archs)}
    objectives = [
        Objective(ACCURACY, lambda a: 0.1 + 0.01 * rank[a.id], "max"),
        Objective(LATENCY, lambda a: 10.0 + rank[a.id], "min"),
    ]
    archive = Archive(objectives, [])
    for arch in archs.values():
        archive.evaluate(arch, generation=1, method="nsga2")
    path = tmp_path / "archive.csv"
    archive.save(path)
    return path, list(archs)


def test_init_is_carried_by_the_spec_and_not_taken_for_a_rule(archive_csv):
    path, ids = archive_csv
    plain = model_spec("accurate", {"front_quantile": 1.0}, path, SEARCH)
    inherited = model_spec("acc_sn", {"front_quantile": 1.0, "init": "supernet"}, path, SEARCH)
    assert plain["arch_id"] == inherited["arch_id"] == ids[-1]
    assert "init" not in plain and inherited["init"] == "supernet"
    assert inherited["target"] == "acc_sn" and inherited["kind"] == "segnet"


def test_baseline_spec(archive_csv):
    path, _ = archive_csv
    spec = model_spec("base", {"baseline": "fast_scnn", "width": 0.5}, path, SEARCH)
    assert spec == {
        "target": "base",
        "kind": "baseline",
        "baseline": {"name": "fast_scnn", "width": 0.5},
    }
