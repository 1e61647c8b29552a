"""Arch and Cell: scales, canonical JSON and id, compact strings, validation errors."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hyctas.errors import ArchError
from hyctas.space import Arch, Cell, SpaceConfig, sample_arch

from .conftest import CONFIGS

DEFAULT = CONFIGS["default"]
N_RANDOM = 200


def c(op: str = "conv", width: float = 1.0, stride: int = 1) -> Cell:
    return Cell(op, width, stride)


def two_branch() -> Arch:
    return Arch(
        (
            (c("conv", 2 / 3), c("sa", 1.0, 2), c("conv_2x_downup", 0.5, 2), c("skip")),
            (c("skip", 0.5), c("conv_downup")),
        )
    )


def test_scales() -> None:
    arch = two_branch()
    assert arch.input_scales(0) == [0, 0, 1, 2]
    assert arch.output_scales(0) == [0, 1, 2, 2]
    assert arch.final_scales() == [2, 0]
    assert arch.depths == (4, 2)
    assert arch.canonical().final_scales() == [0, 2]


def test_to_dict_format_and_canonical_json() -> None:
    arch = two_branch()
    d = arch.to_dict()
    assert d["format"] == "hyctas-arch/1"
    assert d["branches"][0][0] == {"op": "conv", "width": 0.666667, "stride": 1}
    text = arch.canonical_json()
    assert " " not in text and json.loads(text)["branches"][0][0]["op"] == "skip"
    assert len(arch.id) == 12 and int(arch.id, 16) >= 0


def test_same_network_same_id() -> None:
    arch = two_branch()
    assert arch.id == two_branch().id
    rebuilt = Arch.from_dict(json.loads(json.dumps(arch.to_dict())), DEFAULT)
    assert rebuilt == arch and rebuilt.id == arch.id
    # 2/3 written either way is one width, one arch, one id.
    other = Arch(((c("conv", 0.666667),) + arch.branches[0][1:], arch.branches[1]))
    assert other == arch and other.id == arch.id
    # Branch order does not change the network, so it does not change the id.
    assert Arch(arch.branches[::-1]).id == arch.id


def test_different_archs_different_ids() -> None:
    rng = np.random.default_rng(1)
    archs = {sample_arch(DEFAULT, rng).canonical() for _ in range(N_RANDOM)}
    assert len({a.id for a in archs}) == len(archs) > N_RANDOM // 2
    base = two_branch()
    changed = Arch(((c("conv", 0.5),) + base.branches[0][1:], base.branches[1]))
    assert changed.id != base.id


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_json_and_compact_round_trip_random(name: str) -> None:
    cfg = CONFIGS[name]
    rng = np.random.default_rng(7)
    for _ in range(N_RANDOM):
        arch = sample_arch(cfg, rng)
        again = Arch.from_dict(json.loads(json.dumps(arch.to_dict())), cfg)
        assert again == arch and again.id == arch.id
        assert Arch.from_dict(arch.to_dict()) == arch  # without cfg too
        assert Arch.from_compact(arch.compact()) == arch


def test_compact_is_readable() -> None:
    assert two_branch().compact() == (
        "b0:conv.666667|sa1/2|conv_2x_downup.5/2|skip1;b1:skip.5|conv_downup1"
    )
    with pytest.raises(ArchError, match="branch 1, cell 0: cannot parse"):
        Arch.from_compact("b0:conv1;b1:???")
    with pytest.raises(ArchError, match="expected 'b1:<cells>'"):
        Arch.from_compact("b0:conv1;b7:conv1")


def test_from_dict_snaps_widths_to_cfg() -> None:
    d = two_branch().to_dict()
    d["branches"][1][0]["width"] = 0.5004  # within 1e-3 of 0.5
    d["branches"][0][0]["width"] = 0.6666666666666666
    arch = Arch.from_dict(d, DEFAULT)
    assert arch == two_branch()
    d["branches"][1][0]["width"] = 0.52
    with pytest.raises(ArchError, match=r"branch 1, cell 0: width 0.52 not in search_space.widths"):
        Arch.from_dict(d, DEFAULT)


def _bad(edit):  # a two_branch dict, edited in place
    d = two_branch().to_dict()
    edit(d)
    return d


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(format="other/2"), "format: expected 'hyctas-arch/1'"),
        (lambda d: d.update(branches=[]), "branches: expected a non-empty list"),
        (lambda d: d.update(extra=1), "extra: unknown key"),
        (lambda d: d["branches"].__setitem__(1, "x"), "branches, branch 1: expected a list"),
        (lambda d: d["branches"][1][1].pop("op"), "branch 1, cell 1: missing key 'op'"),
        (lambda d: d["branches"][0][2].update(kind=1), "branch 0, cell 2: unknown key 'kind'"),
        (lambda d: d["branches"][1][0].update(op=3), "branch 1, cell 0: op must be a string"),
        (lambda d: d["branches"][1][0].update(width="1"), "branch 1, cell 0: width must be"),
        (lambda d: d["branches"][1][0].update(stride=1.0), "branch 1, cell 0: stride must be"),
        (lambda d: d["branches"][1][0].update(op="foo"), "branch 1, cell 0: op 'foo' unknown"),
        (lambda d: d["branches"][1][0].update(stride=3), "branch 1, cell 0: stride 3 invalid"),
        (lambda d: d["branches"][1][0].update(width=0), "branch 1, cell 0: width 0.0 must be"),
        (lambda d: d["branches"][1].clear(), "branch 1: has no cells"),
        (
            lambda d: d["branches"][0][3].update(stride=2),
            "branch 0, cell 3: stride 2 would go below 1/32",
        ),
        (
            lambda d: d["branches"][1][1].update(width=0.5),
            "branch 1, cell 1: width 0.5 of a branch's last",
        ),
        (
            lambda d: d["branches"].append([{"op": "sa", "width": 1.0, "stride": 1}]),
            "branches 1 and 2 both end at scale 0 (1/8): final scales must be distinct",
        ),
        (
            lambda d: d["branches"].extend([d["branches"][1]] * 2),
            "branches: 4 branches, at most 3",
        ),
    ],
)
def test_from_dict_errors_name_field_and_place(edit, message: str) -> None:
    with pytest.raises(ArchError) as err:
        Arch.from_dict(_bad(edit))
    assert message in str(err.value)


def _limited(**kw) -> SpaceConfig:
    from .conftest import make_cfg

    return make_cfg(**kw)


@pytest.mark.parametrize(
    ("cfg_overrides", "message"),
    [
        (
            {"max_branches": 1, "branch_ratios": [1.0]},
            "2 branches but search_space.max_branches is 1",
        ),
        ({"min_depth": 3}, "branch 1: depth 2 outside [3, 6]"),
        ({"max_depth": 3}, "branch 0: depth 4 outside [2, 3]"),
        (
            {"ops": ["conv", "skip", "conv_downup", "conv_2x_downup"]},
            "branch 0, cell 1: op 'sa' not in search_space.ops",
        ),
        ({"widths": [0.5, 1.0]}, "branch 0, cell 0: width 0.666667 not in search_space.widths"),
    ],
)
def test_validate_against_cfg(cfg_overrides: dict, message: str) -> None:
    arch = two_branch()
    arch.validate(DEFAULT)
    with pytest.raises(ArchError) as err:
        arch.validate(_limited(**cfg_overrides))
    assert message in str(err.value)


def test_last_width_is_fixed_even_when_cfg_lacks_it() -> None:
    cfg = CONFIGS["two_branches_no_full_width"]
    Arch(((Cell("skip", 1.0, 1),), (Cell("conv_downup", 1.0, 2),))).validate(cfg)
