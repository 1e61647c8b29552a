"""hyctas.search.targets: a target's model spec, its optional init, and baselines.

Searched targets come from the architectures NSGA-II visited (the `in_nsga2` column) only.
"""

from __future__ import annotations

import numpy as np
import pytest

from hyctas.search import Archive, ArchiveError, Objective
from hyctas.search.objectives import ACCURACY, LATENCY
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
    archive.save(path, runs={"nsga2": list(archs)})
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


def test_a_random_search_row_is_never_a_target(space, tmp_path):
    """A random-search sample that dominates every NSGA-II row is neither picked nor on the
    front the quantiles are taken from, even when it is also a cached row (method nsga2)."""
    rng = np.random.default_rng(1)
    archs = {}
    while len(archs) < 5:
        arch = sample_arch(space, rng)
        archs.setdefault(arch.id, arch)
    ids = list(archs)
    # ids[0..2]: NSGA-II's (latency 10, 20, 30); ids[3]: random's, better than all of them
    # (faster and more accurate); ids[4]: an old cached NSGA-II row this run never visited.
    values = {ids[0]: (0.3, 10.0), ids[1]: (0.4, 20.0), ids[2]: (0.5, 30.0)}
    values |= {ids[3]: (0.9, 1.0), ids[4]: (0.95, 0.5)}
    objectives = [
        Objective(ACCURACY, lambda a: values[a.id][0], "max"),
        Objective(LATENCY, lambda a: values[a.id][1], "min"),
    ]
    archive = Archive(objectives, [])
    archive.evaluate(archs[ids[4]], generation=1, method="nsga2")  # from an earlier run
    for i in ids[:4]:
        archive.evaluate(archs[i], generation=1, method="random" if i == ids[3] else "nsga2")
    path = tmp_path / "archive.csv"
    archive.save(path, runs={"nsga2": ids[:3], "random": [ids[3], ids[4]]})
    picked = {
        name: model_spec(name, rule, path, SEARCH)["arch_id"]
        for name, rule in {
            "fast": {"front_quantile": 0.0},
            "mid": {"front_quantile": 0.5},
            "top": {"front_quantile": 1.0},
            "any": {"max_latency_ms": 99.0},
        }.items()
    }
    assert picked == {"fast": ids[0], "mid": ids[1], "top": ids[2], "any": ids[2]}
    assert model_spec("mid", {"front_quantile": 0.5}, path, SEARCH)["budget_ms"] == 20.0


def test_an_archive_without_nsga2_membership_is_refused(archive_csv, tmp_path):
    path, _ = archive_csv
    bare = tmp_path / "bare.csv"
    Archive.load(path, [Objective(ACCURACY, len, "max"), Objective(LATENCY, len, "min")]).save(bare)
    with pytest.raises(ArchiveError, match="no in_nsga2 column.*re-run the search stage"):
        model_spec("fast", {"front_quantile": 0.0}, bare, SEARCH)
