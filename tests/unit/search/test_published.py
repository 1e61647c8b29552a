"""The published S/M/L models placed in a search: projected into small spaces, as-is at scale."""

from __future__ import annotations

import math

from hyctas.models.presets import published_space_config
from hyctas.search.published import bundled_published, evaluate_published


def test_bundled_models_are_the_three_releases():
    archs = bundled_published()
    assert list(archs) == ["S", "M", "L"]
    assert [len(a.branches) for a in archs.values()] == [1, 1, 3]


def test_projected_into_the_cpu_space_and_evaluated(space, objectives):
    rows = evaluate_published(space, objectives, seed=0)
    assert [r["name"] for r in rows] == ["published S", "published M", "published L"]
    assert all(r["projected"] for r in rows)  # deeper than the default max_depth of 6
    assert all(math.isfinite(r["acc"]) and r["lat_ms"] > 0 for r in rows)
    assert rows == evaluate_published(space, objectives, seed=0)  # seeded projection


def test_evaluated_as_published_in_the_published_space(objectives):
    rows = evaluate_published(published_space_config(), objectives, seed=0)
    assert not any(r["projected"] for r in rows)
