"""The archive: a cache of evaluations with an exact CSV round trip."""

from __future__ import annotations

import numpy as np
import pytest

from hyctas.search import Archive, ArchiveError, Constraint, Objective
from hyctas.space import sample_arch

from .conftest import FakeClock, proxy_accuracy, proxy_latency, proxy_params


def _archs(space, n, seed=0):
    rng = np.random.default_rng(seed)
    archs = {}
    while len(archs) < n:
        a = sample_arch(space, rng)
        archs[a.id] = a
    return list(archs.values())


def test_known_ids_are_answered_from_the_cache(space):
    calls = []

    def counted(arch):
        calls.append(arch.id)
        return proxy_latency(arch)

    archive = Archive([Objective("lat_ms", counted, "min")], clock=FakeClock())
    a, b = _archs(space, 2)
    first = archive.evaluate(a, generation=1, method="nsga2")
    again = archive.evaluate(a, generation=5, method="random")
    archive.evaluate(b, generation=2, method="random")
    assert again is first and calls == [a.id, b.id]
    assert (archive.hits, archive.computed, len(archive)) == (1, 2, 2)
    # generation and method are those of the first evaluation
    assert (again.generation, again.method) == (1, "nsga2")
    assert first.values == {"lat_ms": proxy_latency(a)}
    assert first.eval_seconds == pytest.approx(0.001)
    assert first.arch == a and first.compact == a.compact()


def test_csv_round_trip_is_exact_and_bytes_stable(space, objectives, tmp_path):
    cons = (Constraint("params", proxy_params, 9.0),)
    archive = Archive(objectives, cons, clock=FakeClock())
    for g, arch in enumerate(_archs(space, 12), start=1):
        archive.evaluate(arch, generation=g, method="nsga2")
    path = tmp_path / "sub" / "archive.csv"
    archive.save(path)
    loaded = Archive.load(path, objectives, cons)
    assert [r.arch_id for r in loaded] == [r.arch_id for r in archive]
    for r in archive:
        assert loaded.get(r.arch_id) == r  # floats bit-identical
    loaded.save(tmp_path / "again.csv")
    assert (tmp_path / "again.csv").read_bytes() == path.read_bytes()
    header = path.read_text().splitlines()[0]
    assert header == "id,compact,generation,method,eval_seconds,acc,lat_ms,params,arch_json"
    assert [p.name for p in path.parent.iterdir()] == ["archive.csv"]  # no temp files left
    # a loaded archive answers from the cache without calling the objectives
    hits = loaded.hits
    loaded.evaluate(next(iter(archive)).arch, generation=99, method="x")
    assert loaded.hits == hits + 1 and loaded.computed == 0


def test_loading_for_other_objectives_or_a_missing_file_fails(space, objectives, tmp_path):
    path = tmp_path / "archive.csv"
    with pytest.raises(ArchiveError, match="not found"):
        Archive.load(path, objectives)
    assert len(Archive.load(path, objectives, missing_ok=True)) == 0
    archive = Archive(objectives)
    archive.evaluate(_archs(space, 1)[0], generation=1, method="nsga2")
    archive.save(path)
    other = [Objective("acc", proxy_accuracy, "max"), Objective("latency", proxy_latency, "min")]
    with pytest.raises(ArchiveError, match="delete the file"):
        Archive.load(path, other)


def test_non_finite_objective_is_reported_with_the_arch(space):
    archive = Archive([Objective("bad", lambda a: float("nan"), "min")])
    arch = _archs(space, 1)[0]
    with pytest.raises(ArchiveError, match=f"bad: returned nan for architecture {arch.id}"):
        archive.evaluate(arch, generation=1, method="nsga2")
    assert len(archive) == 0


def test_run_membership_columns_round_trip(space, objectives, tmp_path):
    cons = (Constraint("params", proxy_params, 9.0),)
    archive = Archive(objectives, cons, clock=FakeClock())
    archs = _archs(space, 5)
    for arch in archs:
        archive.evaluate(arch, generation=1, method="nsga2")
    ids = [a.id for a in archs]
    path = tmp_path / "archive.csv"
    archive.save(path, runs={"nsga2": [ids[3], ids[0]], "random": ids[2:]})
    header = path.read_text().splitlines()[0]
    assert header.startswith("id,compact,generation,method,eval_seconds,in_nsga2,in_random,acc,")
    loaded = Archive.load(path, objectives, cons)
    assert loaded.runs == {"nsga2": (ids[0], ids[3]), "random": tuple(ids[2:])}  # archive order
    assert [loaded.get(i) for i in ids] == [archive.get(i) for i in ids]
    assert (
        archive.runs == {}
        and Archive.load(tmp_path / "x.csv", objectives, missing_ok=True).runs == {}
    )
    with pytest.raises(ArchiveError, match="not in the archive"):
        archive.save(path, runs={"nsga2": ["nope"]})
