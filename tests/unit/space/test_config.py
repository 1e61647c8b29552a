"""SpaceConfig: parsing params, validation errors, channel counts."""

from __future__ import annotations

import pytest

from hyctas.errors import ConfigError
from hyctas.space import OP_NAMES, SpaceConfig

from .conftest import params


def test_from_params_builds_tuples_and_rounds_widths() -> None:
    cfg = SpaceConfig.from_params(params(widths=[1 / 3, 0.5, 1.0]))
    assert cfg.ops == OP_NAMES
    assert cfg.widths == (0.333333, 0.5, 1.0)
    assert cfg.branch_ratios == (0.4, 0.3, 0.3)
    assert SpaceConfig.from_params(cfg.to_params()) == cfg
    hash(cfg)  # frozen and hashable


def test_channels() -> None:
    cfg = SpaceConfig.from_params(params(fch=16))
    assert [cfg.channels(s, 1.0) for s in range(3)] == [128, 256, 512]
    assert cfg.channels(0, 1 / 3) == 43  # 42.67 rounds to 43
    assert cfg.channels(2, 0.5) == 256
    small = SpaceConfig.from_params(params(fch=4))
    assert small.channels(0, 0.333333) == 11
    assert small.channels(0, 0.01) == 1  # never 0 channels


@pytest.mark.parametrize(
    ("overrides", "key", "hint"),
    [
        ({"ops": ["conv", "dilated"]}, "ops", "'dilated' unknown"),
        ({"ops": []}, "ops", "non-empty"),
        ({"ops": ["conv", "conv"]}, "ops", "repeated"),
        ({"widths": [0.5, "one"]}, "widths", "not a number"),
        ({"widths": [0.5, -1.0]}, "widths", "not a number > 0"),
        ({"widths": [0.5, 0.5004]}, "widths", "closer than"),
        ({"widths": []}, "widths", "non-empty"),
        ({"max_branches": 4, "branch_ratios": [0.25] * 4}, "max_branches", "allowed: 1..3"),
        ({"max_branches": 0}, "max_branches", ">= 1"),
        ({"max_branches": 2.0}, "max_branches", "integer"),
        ({"max_branches": True}, "max_branches", "integer"),
        ({"min_depth": 0}, "min_depth", ">= 1"),
        ({"min_depth": 5, "max_depth": 3}, "max_depth", "below search_space.min_depth"),
        ({"min_depth": 1, "max_depth": 1}, "max_depth", "distinct final scales"),
        ({"branch_ratios": [0.5, 0.5]}, "branch_ratios", "length 3"),
        ({"branch_ratios": [0.5, 0.3, 0.3]}, "branch_ratios", "sum to 1"),
        ({"branch_ratios": [1.2, -0.2, 0.0]}, "branch_ratios", ">= 0"),
        ({"fch": 0}, "fch", ">= 1"),
        ({"sa_heads": "2"}, "sa_heads", "integer"),
        ({"sa_head_dim": -16}, "sa_head_dim", ">= 1"),
        ({"head_skip_channels": 0}, "head_skip_channels", ">= 1"),
        ({"colour": "red"}, "colour", "unknown key"),
    ],
)
def test_from_params_errors_name_the_key(overrides: dict, key: str, hint: str) -> None:
    with pytest.raises(ConfigError) as err:
        SpaceConfig.from_params(params(**overrides))
    assert f"search_space.{key}" in str(err.value)
    assert hint in str(err.value)


def test_missing_key_and_not_a_mapping() -> None:
    block = params()
    del block["fch"]
    with pytest.raises(ConfigError, match=r"search_space\.fch: missing"):
        SpaceConfig.from_params(block)
    with pytest.raises(ConfigError, match="expected a mapping"):
        SpaceConfig.from_params(["ops"])  # type: ignore[arg-type]


def test_unknown_op_error_lists_allowed_ops() -> None:
    with pytest.raises(ConfigError) as err:
        SpaceConfig.from_params(params(ops=["conv", "dilated"]))
    assert ", ".join(OP_NAMES) in str(err.value)


def test_direct_construction_is_validated() -> None:
    block = params(max_depth=1)
    block.update(min_depth=1)
    with pytest.raises(ConfigError, match="search_space.max_depth"):
        SpaceConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in block.items()})
