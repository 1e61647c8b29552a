"""Figures and the front table of a search are written (atomically) and readable."""

from __future__ import annotations

import pandas as pd

from hyctas.search import run_random, select_targets
from hyctas.search.plots import plot_front, plot_hypervolume, write_front_table

from .conftest import HV_REFERENCE

PNG = b"\x89PNG\r\n\x1a\n"


def test_plots_and_front_table(space, objectives, nsga, make_archive, tmp_path):
    archive = make_archive()
    result = nsga(archive, generations=4)
    rand = run_random(
        space,
        objectives,
        (),
        evaluations=result.n_evaluations,
        seed=0,
        archive=archive,
        hv_reference=HV_REFERENCE,
        checkpoints=result.evals_history,
        progress=False,
    )
    chosen = select_targets(
        archive,
        {"fast": {"front_quantile": 0.0}, "top": {"front_quantile": 1.0}},
        accuracy="acc",
        latency="lat_ms",
    )
    out = tmp_path / "plots"
    plot_front(
        out / "front.png",
        archive,
        accuracy="acc",
        latency="lat_ms",
        front_ids=result.front_ids,
        selected=chosen,
        extra_points={"published-S": (3.0, 0.7)},
        title="proxy",
    )
    plot_hypervolume(out / "hv.png", {"NSGA-II": result, "random": rand})
    write_front_table(out / "front.csv", archive, result.front_ids, sort_by="lat_ms")
    for name in ["front.png", "hv.png"]:
        data = (out / name).read_bytes()
        assert data.startswith(PNG) and len(data) > 10_000
    assert sorted(p.name for p in out.iterdir()) == ["front.csv", "front.png", "hv.png"]
    table = pd.read_csv(out / "front.csv")
    assert set(table["id"]) == set(result.front_ids) and len(table) == len(result.front_ids)
    assert table["lat_ms"].is_monotonic_increasing
    assert list(table.columns)[:7] == [
        "id",
        "compact",
        "generation",
        "method",
        "eval_seconds",
        "acc",
        "lat_ms",
    ]
