"""Band targets: a random-search architecture in the predicted-latency band of a searched one.

`draw_in_band` (selection) and the `band_of` model spec (targets): deterministic from the seed
and the draw, inside the band, distinct draws distinct, the center never drawn, and an error
naming the key when the band holds too few.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest

from hyctas.errors import ConfigError
from hyctas.params import validate_params
from hyctas.search import Archive, ArchiveError, NoArchitectureInBudget, Objective
from hyctas.search.objectives import ACCURACY, LATENCY
from hyctas.search.selection import draw_in_band
from hyctas.search.targets import model_spec
from hyctas.space import sample_arch

SEARCH = {"extra_objectives": [], "constraints": {}}
# NSGA-II: a front of three; front_quantile 0.5 picks the 20 ms one (the band's center).
NSGA = [(0.1, 10.0), (0.2, 20.0), (0.3, 30.0)]
# Random search: three inside +-10 % of 20 ms (18 to 22), the others outside.
RANDOM = [(0.05, 17.0), (0.06, 18.5), (0.04, 19.0), (0.07, 21.0), (0.08, 22.5), (0.1, 30.5)]
IN_BAND = [1, 2, 3]  # indices into RANDOM
MID_BAND = {"band_of": {"front_quantile": 0.5}, "band": 0.1}


@pytest.fixture
def placed(space, tmp_path):
    """The archive CSV (in_nsga2, in_random columns) and the ids of both runs."""
    rng = np.random.default_rng(1)
    archs = {}
    while len(archs) < len(NSGA) + len(RANDOM):
        arch = sample_arch(space, rng)
        archs.setdefault(arch.id, arch)
    values = dict(zip(archs, NSGA + RANDOM, strict=True))
    archive = Archive(
        [
            Objective(ACCURACY, lambda a: values[a.id][0], "max"),
            Objective(LATENCY, lambda a: values[a.id][1], "min"),
        ]
    )
    for arch in archs.values():
        archive.evaluate(arch, generation=1, method="x")
    ids = list(archs)
    nsga, random = ids[: len(NSGA)], ids[len(NSGA) :]
    path = tmp_path / "archive.csv"
    archive.save(path, runs={"nsga2": nsga, "random": random})
    return path, archive, nsga, random


def spec(path, draw, seed=0, name="mid_band", **extra):
    return model_spec(name, {**MID_BAND, "draw": draw, **extra}, path, SEARCH, seed=seed)


def test_draws_are_deterministic_distinct_and_in_the_band(placed):
    path, _, nsga, random = placed
    drawn = [spec(path, d) for d in range(3)]
    assert [s["arch_id"] for s in drawn] == [spec(path, d)["arch_id"] for d in range(3)]
    assert {s["arch_id"] for s in drawn} == {random[i] for i in IN_BAND}
    for s in drawn:
        assert 18.0 <= s["predicted"][LATENCY] <= 22.0
        assert s["kind"] == "segnet" and s["band"]["center_arch_id"] == nsga[1]
        assert s["band"]["center_latency_ms"] == 20.0 and s["band"]["candidates"] == 3
        assert s["band"]["low_ms"] == pytest.approx(18.0)
        assert s["band"]["high_ms"] == pytest.approx(22.0)
        assert s["band"]["of"] == "front_quantile=0.5" and "init" not in s
    orders = {tuple(spec(path, d, seed=seed)["arch_id"] for d in range(3)) for seed in range(6)}
    assert len(orders) > 1  # the seed shuffles the band


def test_init_is_carried_and_a_band_target_never_draws_its_center(placed):
    path, archive, nsga, random = placed
    assert spec(path, 0, init="supernet")["init"] == "supernet"
    center = archive.get(nsga[1])
    among = [nsga[1], *random]  # random search visited the center too
    kwargs = dict(center=center, band=0.1, seed=0, latency=LATENCY, among=among, key="k")
    drawn = {draw_in_band(archive, draw=d, **kwargs).record.arch_id for d in range(3)}
    assert nsga[1] not in drawn and len(drawn) == 3


def test_a_draw_stays_put_when_another_architecture_joins_the_band(placed):
    _, archive, nsga, random = placed
    center = archive.get(nsga[1])
    kwargs = dict(center=center, band=0.1, seed=3, latency=LATENCY, key="k")
    fewer = [draw_in_band(archive, draw=d, among=random[:3], **kwargs) for d in range(2)]
    more = [draw_in_band(archive, draw=d, among=random, **kwargs) for d in range(3)]
    order = [d.record.arch_id for d in more]
    assert [d.record.arch_id for d in fewer] == [i for i in order if i in random[:3]]


@pytest.mark.parametrize(
    ("draw", "band", "phrase"),
    [
        (3, 0.1, "select.targets.mid_band.draw = 3: only 3 random-search"),
        (0, 0.01, "select.targets.mid_band.draw = 0: only 0 random-search"),
    ],
)
def test_too_few_in_the_band_names_the_key(placed, draw, band, phrase):
    path, *_ = placed
    with pytest.raises(ConfigError, match=phrase) as err:
        model_spec("mid_band", {**MID_BAND, "band": band, "draw": draw}, path, SEARCH, seed=0)
    assert "select.targets.mid_band.band" in str(err.value)  # says what to widen


def test_bad_band_or_draw_and_missing_inputs(placed, tmp_path):
    path, archive, nsga, random = placed
    with pytest.raises(ConfigError, match=r"mid_band\.band: must be a number in \(0, 1\]"):
        spec(path, 0, band=0.0)
    with pytest.raises(ConfigError, match=r"mid_band\.draw: must be an integer >= 0"):
        spec(path, -1)
    with pytest.raises(ValueError, match="needs the seed"):
        model_spec("mid_band", {**MID_BAND, "draw": 0}, path, SEARCH)
    bare = tmp_path / "nsga_only.csv"
    archive.save(bare, runs={"nsga2": nsga})
    with pytest.raises(ArchiveError, match="search.random_baseline: true"):
        spec(bare, 0)
    with pytest.raises(NoArchitectureInBudget, match="select.targets.mid_band.band_of: no arch"):
        model_spec(
            "mid_band",
            {"band_of": {"max_latency_ms": 1.0}, "band": 0.1, "draw": 0},
            path,
            SEARCH,
            seed=0,
        )


def test_the_schema_takes_band_targets_with_every_key(repo_params):
    params = copy.deepcopy(repo_params)
    params["select"]["targets"]["b"] = {**MID_BAND, "draw": 1, "init": "scratch"}
    validate_params(params)
    for broken in (
        {"band_of": {"front_quantile": 0.5}, "draw": 0},  # no band: no hidden default
        {**MID_BAND, "draw": 0, "front_quantile": 0.5},
        {**MID_BAND, "band_of": {"front_quantile": 0.5, "init": "supernet"}, "draw": 0},
        {**MID_BAND, "band": 1.5, "draw": 0},
    ):
        params["select"]["targets"]["b"] = broken
        with pytest.raises(ConfigError, match="select.targets.b"):
            validate_params(params)
