"""Import and export of the published encoding (ops/paths/downs/widths/lasts)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest

from hyctas.errors import ArchError
from hyctas.space import Arch, SpaceConfig, from_published, sample_arch, to_published

from .conftest import CONFIGS, PUBLISHED_DIR

FILES = sorted(PUBLISHED_DIR.glob("*.json"))


def _same_published(a: dict, b: dict) -> bool:
    if any(a[k] != b[k] for k in ("ops", "paths", "downs", "lasts")):
        return False
    flat_a = [w for branch in a["widths"] for w in branch]
    flat_b = [w for branch in b["widths"] for w in branch]
    shapes = [len(x) for x in a["widths"]] == [len(x) for x in b["widths"]]
    return shapes and np.allclose(flat_a, flat_b, atol=1e-6)


def test_three_published_files_exist() -> None:
    assert [f.name for f in FILES] == ["HRTNET_M.json", "HRTNET_S.json", "HRTNet_L.json"]


@pytest.mark.parametrize("path", FILES, ids=lambda p: p.stem)
def test_published_round_trip(path, published_cfg: SpaceConfig) -> None:
    original = json.loads(path.read_text())
    arch = from_published(original, published_cfg)
    arch.validate(published_cfg)
    assert _same_published(to_published(arch), original)
    assert from_published(to_published(arch), published_cfg) == arch
    assert Arch.from_dict(arch.to_dict(), published_cfg) == arch


def test_published_facts(published_cfg: SpaceConfig) -> None:
    archs = {p.stem: from_published(json.loads(p.read_text()), published_cfg) for p in FILES}
    small, medium, large = archs["HRTNET_S"], archs["HRTNET_M"], archs["HRTNet_L"]
    assert small.depths == (11,) and small.final_scales() == [2]
    cells = zip(small.branches[0], small.input_scales(0), strict=True)
    assert [scale for cell, scale in cells if cell.op == "sa"] == [2]
    assert medium.depths == (17,) and sum(c.op == "sa" for c in medium.branches[0]) == 2
    assert large.depths == (20, 20, 20) and large.final_scales() == [0, 1, 2]
    assert all(branch[-1].op == "sa" for branch in large.branches)
    assert len({small.id, medium.id, large.id}) == 3


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_random_archs_round_trip_published(name: str) -> None:
    cfg = CONFIGS[name]
    rng = np.random.default_rng(3)
    for _ in range(200):
        arch = sample_arch(cfg, rng)
        exported = json.loads(json.dumps(to_published(arch)))
        assert from_published(exported, cfg) == arch
        assert from_published(exported) == arch


def _small() -> dict:
    return json.loads((PUBLISHED_DIR / "HRTNET_S.json").read_text())


def _large() -> dict:
    return json.loads((PUBLISHED_DIR / "HRTNet_L.json").read_text())


def _edit(base: dict, fn) -> dict:
    d = copy.deepcopy(base)
    fn(d)
    return d


BAD = [
    ("missing", _small, lambda d: d.pop("downs"), "downs: missing"),
    ("lasts type", _small, lambda d: d.update(lasts=2), "lasts: expected a non-empty list"),
    ("branch count", _large, lambda d: d["ops"].pop(), "ops: 2 branches but lasts has 3"),
    (
        "paths length",
        _small,
        lambda d: d["paths"][0].pop(),
        "paths, branch 0: 10 entries but ops has 11",
    ),
    ("downs length", _large, lambda d: d["downs"][2].append(0), "downs, branch 2: 21 entries"),
    (
        "widths length",
        _large,
        lambda d: d["widths"][1].append(1),
        "widths, branch 1: 20 entries but ops has 20 cells, expected 19",
    ),
    (
        "op index",
        _small,
        lambda d: d["ops"][0].__setitem__(4, 7),
        "ops, branch 0, cell 4: op index 7 unknown",
    ),
    (
        "op type",
        _large,
        lambda d: d["ops"][1].__setitem__(0, "conv"),
        "ops, branch 1, cell 0: op index 'conv'",
    ),
    (
        "downs value",
        _small,
        lambda d: d["downs"][0].__setitem__(2, 2),
        "downs, branch 0, cell 2: must be 0 or 1",
    ),
    (
        "path start",
        _large,
        lambda d: d["paths"][1].__setitem__(0, 1),
        "paths, branch 1, cell 0: a branch starts at scale 0",
    ),
    (
        "path goes up",
        _small,
        lambda d: d["paths"][0].__setitem__(5, 1),
        "paths, branch 0, cell 5: scale goes from 2 to 1",
    ),
    (
        "path skips",
        _small,
        lambda d: d["paths"][0].__setitem__(2, 2),
        "paths, branch 0, cell 2: scale goes from 0 to 2",
    ),
    (
        "path scale",
        _small,
        lambda d: d["paths"][0].__setitem__(10, 3),
        "paths, branch 0, cell 10: scale 3 invalid",
    ),
    (
        "downs vs paths",
        _small,
        lambda d: d["downs"][0].__setitem__(1, 0),
        "downs, branch 0, cell 1: downs is 0 but paths goes from 0 to 1",
    ),
    (
        "below 1/32",
        _small,
        lambda d: d["downs"][0].__setitem__(10, 1),
        "downs, branch 0, cell 10: stride 2 would go below 1/32",
    ),
    (
        "lasts disagree",
        _large,
        lambda d: d["lasts"].__setitem__(1, 2),
        "lasts, branch 1: says scale 2 but the cells end at scale 1",
    ),
    (
        "width value",
        _small,
        lambda d: d["widths"][0].__setitem__(3, -0.5),
        "widths, branch 0, cell 3: -0.5 is not a number > 0",
    ),
    (
        "empty branch",
        _small,
        lambda d: [d[k][0].clear() for k in ("ops", "paths", "downs")],
        "ops, branch 0: has no cells",
    ),
]


@pytest.mark.parametrize(("base", "edit", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_malformed_published_raise_one_arch_error(base, edit, message: str) -> None:
    with pytest.raises(ArchError) as err:
        from_published(_edit(base(), edit))
    assert message in str(err.value)


def test_repeated_final_scale() -> None:
    d = _large()
    for key in ("ops", "paths", "downs", "widths"):
        d[key][0] = copy.deepcopy(d[key][1])
    d["lasts"][0] = 1
    with pytest.raises(ArchError, match=r"lasts: branches 0 and 1 both end at scale 1 \(1/16\)"):
        from_published(d)


def test_width_not_allowed_with_cfg(published_cfg: SpaceConfig) -> None:
    d = _small()
    d["widths"][0][4] = 0.6
    from_published(d)  # any positive width without a cfg
    with pytest.raises(ArchError, match=r"widths, branch 0, cell 4: width 0.6 not in search_space"):
        from_published(d, published_cfg)


def test_cfg_limits_apply(published_cfg: SpaceConfig) -> None:
    from .conftest import make_cfg

    with pytest.raises(ArchError, match="published architecture: branch 0: depth 20 outside"):
        from_published(_large(), CONFIGS["default"])
    no_sa = make_cfg(ops=["skip", "conv", "conv_downup", "conv_2x_downup"], max_depth=20)
    with pytest.raises(ArchError, match="branch 0, cell 5: op 'sa' not in search_space.ops"):
        from_published(_small(), no_sa)


def test_export_rejects_invalid_arch() -> None:
    arch = from_published(_small())
    broken = Arch((arch.branches[0][:-1],))  # its last cell now has width 0.33
    with pytest.raises(ArchError, match="last cell must be 1.0"):
        to_published(broken)
