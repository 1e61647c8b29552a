"""hyctas.report: verdict, scratch-vs-supernet pairing, rank correlation and the Markdown."""

from __future__ import annotations

import numpy as np
import pytest

from hyctas.report import (
    class_iou_section,
    data_split_sizes,
    init_pairs,
    init_section,
    markdown,
    rank_correlation,
    ranking_section,
    verdict,
)


def row(target, miou, latency, *, arch="a1", init="scratch", kind="segnet", supernet=0.05):
    return {
        "target": target,
        "kind": kind,
        "arch_id": arch if kind == "segnet" else "fast_scnn",
        "compact": "b0:conv1|skip1" if kind == "segnet" else "",
        "branches": 1 if kind == "segnet" else None,
        "params_m": 0.1,
        "macs_g": 0.2,
        "predicted_latency_ms": latency if kind == "segnet" else None,
        "latency_ms": latency,
        "fps": 1000.0 / latency,
        "supernet_miou": supernet if kind == "segnet" else None,
        "miou": miou,
        "init": init,
        "train_seconds": 1.0,
    }


BASE = row("baseline", 0.10, 20.0, kind="baseline")
SIZES = {"train.txt": 100, "supernet_train.txt": 80, "search.txt": 20, "val.txt": 30}


def test_verdict_names_a_winner_only_when_better_and_faster():
    assert "Beats the baseline" in verdict([BASE, row("fast", 0.12, 15.0)])
    assert "No searched architecture" in verdict([BASE, row("fast", 0.12, 25.0)])
    assert "No searched architecture" in verdict([BASE, row("fast", 0.08, 15.0)])
    assert "no comparison" in verdict([row("fast", 0.12, 15.0)])


def test_verdict_compares_paired_latency_when_every_row_has_it():
    # Measured one by one, fast looks slower than the baseline; timed side by side it is not.
    base, fast = dict(BASE, paired_latency_ms=21.0), row("fast", 0.12, 25.0)
    assert "No searched architecture" in verdict([base, fast])  # one row lacks a paired time
    text = verdict([base, dict(fast, paired_latency_ms=16.0)])
    assert "at lower paired latency: `fast` (0.120 mIoU, 16.0 ms)" in text
    assert "same interleaved rounds" in text
    table = markdown([base, dict(fast, paired_latency_ms=16.0)], {}, SIZES, None, {}, "t")
    assert "| 25.0 | 16.0 |" in table and "paired latency (ms)" in table


def test_init_pairs_match_the_same_architecture_trained_both_ways():
    rows = [
        row("fast", 0.10, 15.0, arch="a1"),
        row("fast_supernet", 0.13, 15.0, arch="a1", init="supernet"),
        row("accurate", 0.2, 30.0, arch="a2"),
        row("other_supernet", 0.3, 30.0, arch="a3", init="supernet"),
        BASE,
    ]
    pairs = init_pairs(rows)
    assert [(a["target"], b["target"]) for a, b in pairs] == [("fast", "fast_supernet")]
    text = "\n".join(init_section(rows))
    assert "| `a1` | fast | 0.100 | fast_supernet | 0.130 | +0.030 |" in text
    assert "better on 1 of 1" in text
    assert "No architecture was retrained" in "\n".join(init_section(rows[2:]))


def test_rank_correlation_uses_scratch_networks_when_there_are_two():
    rows = [
        row("a", 0.1, 10.0, arch="x", supernet=0.01),
        row("b", 0.2, 10.0, arch="y", supernet=0.02),
        row("c", 0.0, 10.0, arch="x", init="supernet", supernet=0.03),  # would break the order
    ]
    assert rank_correlation(rows) == pytest.approx(1.0)
    assert rank_correlation(rows[:1]) is None


def test_markdown_has_one_row_per_target_with_its_init():
    rows = [row("fast", 0.1, 15.0), row("fast_supernet", 0.12, 15.0, init="supernet"), BASE]
    text = markdown(rows, {"hv_ratio": 1.2}, SIZES, 0.5, {"Front": "front.png"}, "Title")
    table = [ln for ln in text.splitlines() if ln.startswith("| ") and "`" in ln]
    assert len(table) == 3 + 1  # three targets, one init-comparison row
    assert "| fast_supernet | `a1` | 1 | supernet |" in text
    assert "![Front](front.png)" in text


def test_the_per_class_table_uses_the_datasets_class_names():
    rows = [row("fast", 0.1, 15.0), BASE]
    rows[0]["iou"] = {"background": 0.8, "person": 0.25, "cow": None}
    rows[1]["iou"] = {"background": 0.7, "person": 0.5, "cow": 0.0}
    lines = class_iou_section(rows)
    assert lines[0] == "| class | fast | baseline |"
    assert lines[2:] == [
        "| background | 0.800 | 0.700 |",
        "| person | 0.250 | 0.500 |",
        "| cow | – | 0.000 |",
    ]
    text = markdown(rows, {}, SIZES, None, {}, "t")
    assert "## Per-class IoU (val)" in text and "| person | 0.250 | 0.500 |" in text


def test_markdown_states_the_size_and_use_of_each_frame_list():
    data = {"bad_files": 0, "val_classes_present": 19}
    data |= {f"{k.removesuffix('.txt')}_frames": v for k, v in SIZES.items()}
    assert data_split_sizes(data) == SIZES
    text = markdown([row("fast", 0.1, 15.0), BASE], {}, SIZES, None, {}, "t")
    assert "- `search.txt`: 20 frames; held out of the training split" in text
    assert "- `supernet_train.txt`: 80 frames" in text
    assert "- `val.txt`: 30 frames; evaluate only" in text
    assert "- `train.txt`: 100 frames; retrain" in text


def test_the_ranking_section_states_the_correlations_and_one_row_per_architecture():
    metrics = {
        "architectures": 2, "repeats": 1, "architectures_by_branches": {"1": 1, "3": 1},
        "standalone_iterations": 40, "kendall_tau": 1.0, "kendall_tau_sparse": 1.0,
        "spearman_rho": 1.0, "seed_tau": None, "seed_abs_diff_mean": 0.01,
        "kendall_tau_seed_mean": None, "spearman_rho_seed_mean": None, "seed_noise_std": 0.004,
        "kendall_tau_seed_mean_se": None, "kendall_tau_seed_mean_low": None,
        "kendall_tau_seed_mean_high": None,
        "ceiling_tau_one_seed": 0.8, "ceiling_tau_seed_mean": None, "band_pairs": 1,
        "band_pairs_agree": 0, "band_seed_pairs": 0, "band_seed_pairs_agree": 0,
        "inherited_vs_latency_rho": -1.0, "standalone_vs_latency_rho": 1.0,
    }  # fmt: skip
    rows = [
        {"index": 0, "arch_id": "a", "branches": 1, "predicted_latency_ms": 9.0,
         "inherited_miou": 0.1, "seed": 0, "standalone_miou": 0.2},
        {"index": 1, "arch_id": "b", "branches": 3, "predicted_latency_ms": 30.0,
         "inherited_miou": 0.05, "seed": 0, "standalone_miou": 0.1},
        {"index": 0, "arch_id": "a", "branches": 1, "predicted_latency_ms": 9.0,
         "inherited_miou": 0.1, "seed": 1, "standalone_miou": 0.21},
    ]  # fmt: skip
    text = "\n".join(ranking_section({"metrics": metrics, "rows": rows}))
    assert "Over 2 architectures picked over the branch counts (1: 1, 3: 1)" in text
    assert "- Kendall tau 1.000 (sparse 1.000), Spearman rho 1.000" in text
    assert "over the first 1: – (mean difference 0.010 mIoU)" in text
    assert "- against the mean of the two seeds over those 1: Kendall tau –, Spearman rho –" in text
    assert "(seed noise 0.004 mIoU, normal model): 0.800 against one seed, – against" in text
    assert "inherited mIoU orders 0 of 1 as the stand-alone mean does; the two seeds" in text
    newer = {
        **metrics, "band": 0.1, "band_pairs_tied": 2, "band_seed_pairs_tied": 0,
        "kendall_tau_seed_mean": 0.5, "kendall_tau_seed_mean_se": 0.1,
        "kendall_tau_seed_mean_low": 0.3, "kendall_tau_seed_mean_high": 0.7,
        "zero_cost_tau_latency": 0.02, "zero_cost_tau_params": 0.31, "zero_cost_tau_macs": None,
        "kendall_tau_seed_mean_within_branches": -0.1, "seed_tau_within_branches": 0.45,
        "kendall_tau_within_branches": 0.05,
        "kendall_tau_seed_mean_by_branches": {"2": 0.2, "1": None},
        "kendall_tau_branch_order": 0.58,
    }  # fmt: skip
    text_newer = "\n".join(ranking_section({"metrics": newer, "rows": rows}))
    assert (
        "- pairs in one latency band (within a factor 1.1 of predicted latency): inherited mIoU "
        "orders 0 of 1 as the stand-alone mean does (2 tied, left out); the two seeds agree on "
        "0 of 0\n" in text_newer
    )
    assert (
        "Kendall tau 0.500 (bootstrap standard error 0.100, 90 % interval 0.300 to 0.700), "
        "Spearman rho –" in text_newer
    )
    assert (
        "- zero-cost proxies against the same mean (Kendall tau; a supernet earns its training "
        "where it ranks better): predicted latency 0.020, parameters 0.310, MACs –" in text_newer
    )
    assert (
        "- inside a branch count, where a pick competes with its latency band (Kendall tau, "
        "pair-weighted over the counts): supernet 0.050 against the first seed, -0.100 (1: –, "
        "2: 0.200) against the two seeds' mean; the two seeds 0.450; ordering the branch counts "
        "alone as that mean does would reach 0.580 overall\n" in text_newer
    )
    assert "inside a branch count" not in text  # metrics from before it
    one_seed = {**newer, "kendall_tau_seed_mean_within_branches": None}  # rank_check.repeats 0
    text_one_seed = "\n".join(ranking_section({"metrics": one_seed, "rows": rows}))
    assert "supernet 0.050 against the first seed\n" in text_one_seed
    assert "predicted latency –, parameters –, MACs –" in text  # metrics from before them
    assert "stand-alone mIoU (seed 0) | stand-alone mIoU (seed 1) |" in text
    assert "| `a` | 1 | 9.0 | 0.100 | 0.200 | 0.210 |" in text
    assert "| `b` | 3 | 30.0 | 0.050 | 0.100 | – |" in text
    assert ranking_section(None) == ["The rank_check stage was not run."]
    report = markdown(
        [row("fast", 0.1, 15.0)], {}, SIZES, None, {}, "t", {"metrics": metrics, "rows": rows}
    )
    assert "## Ranking: supernet vs stand-alone training" in report and text in report


def band_row(target, miou, latency, center="a1", init="scratch", arch="r"):
    """A random architecture retrained from the latency band of the searched `center`."""
    band = {"center_arch_id": center, "of": "front_quantile=0.1", "draw": 0}
    return dict(row(target, miou, latency, arch=arch + target, init=init), band=band)


def paired(rows):
    return [dict(r, paired_latency_ms=r["latency_ms"] - 1.0) for r in rows]


CHANCE_ROWS = paired(
    [
        row("fast", 0.20, 11.0, arch="a1"),
        row("fast_supernet", 0.22, 11.0, arch="a1", init="supernet"),
        row("accurate", 0.30, 21.0, arch="a2"),
        band_row("fast_r0", 0.10, 12.0),
        band_row("fast_r1", 0.15, 10.0),
        band_row("fast_sn_r0", 0.30, 11.0, init="supernet"),
        dict(BASE, width=0.5),
    ]
)


def test_each_searched_target_meets_its_bands_randoms_with_the_same_init():
    from hyctas.report import band_comparison

    got = {c["target"]: c for c in band_comparison(CHANCE_ROWS)}
    assert set(got) == {"fast", "fast_supernet", "accurate"}  # band rows are no searched targets
    fast = got["fast"]
    assert [b["target"] for b in fast["randoms"]] == ["fast_r0", "fast_r1"]
    assert fast["randoms"][0]["latency_ms"] == 11.0  # the paired latency
    assert fast["random_mean_miou"] == pytest.approx(0.125)
    assert fast["difference"] == pytest.approx(0.075) and fast["beats_mean"] is True
    assert got["fast_supernet"]["random_mean_miou"] == pytest.approx(0.30)
    assert got["fast_supernet"]["beats_mean"] is False
    assert got["accurate"]["randoms"] == [] and got["accurate"]["beats_mean"] is None


def test_a_band_random_is_never_the_searched_winner_of_the_verdict():
    rows = [BASE, row("fast", 0.08, 15.0), band_row("fast_r0", 0.2, 10.0)]
    assert "No searched architecture beats" in verdict(rows)


def test_hypervolume_of_the_searched_targets_over_the_baseline_family():
    from hyctas.report import hv_vs_baselines

    rows = [
        row("s1", 0.3, 10.0),
        row("s2", 0.5, 20.0),
        band_row("s1_r0", 0.9, 1.0),  # not a searched point, not in the normalisation
        dict(BASE, target="b1", miou=0.2, latency_ms=15.0),
        dict(BASE, target="b2", miou=0.4, latency_ms=30.0),
    ]
    hv = hv_vs_baselines(rows)
    # ideal (mIoU 0.5, 10 ms), nadir (0.2, 30 ms): s1 -> (2/3, 0), s2 -> (0, 1/2),
    # b1 -> (1, 1/4), b2 -> (1/3, 1); reference (1.1, 1.1)
    hv_s = (1.1 - 2 / 3) * 1.1 + 1.1 * (1.1 - 0.5) - (1.1 - 2 / 3) * (1.1 - 0.5)
    hv_b = 0.1 * (1.1 - 0.25) + (1.1 - 1 / 3) * 0.1 - 0.1 * 0.1
    assert hv["latency"] == "latency_ms" and hv["searched_points"] == 2
    assert hv["hv_searched"] == pytest.approx(hv_s) and hv["hv_baselines"] == pytest.approx(hv_b)
    assert hv["hv_ratio"] == pytest.approx(hv_s / hv_b)
    assert hv_vs_baselines(rows[:3])["hv_ratio"] is None  # no baseline family


def test_the_chance_section_and_its_metrics():
    from hyctas.report import band_comparison, chance_metrics, chance_section, hv_vs_baselines

    text = "\n".join(chance_section(CHANCE_ROWS))
    assert "| fast | scratch | 0.200 | 10.0 | fast_r0 0.100 @ 11.0; fast_r1 0.150 @ 9.0 |" in text
    assert "| 0.125 | +0.075 |" in text and "paired latency" in text
    assert "1 of 2 searched targets with band targets" in text
    assert "baseline family" in text and "ratio" in text
    assert "No band target" in "\n".join(chance_section([row("fast", 0.2, 10.0), BASE]))
    summary = {
        "search_vs_chance": band_comparison(CHANCE_ROWS),
        "search_vs_baselines": hv_vs_baselines(CHANCE_ROWS),
    }
    metrics = chance_metrics(summary)
    assert metrics["band_compared"] == 2 and metrics["band_wins"] == 1
    assert metrics["fast.band_random_mean_miou"] == pytest.approx(0.125)
    assert metrics["hv_ratio_vs_baselines"] == summary["search_vs_baselines"]["hv_ratio"]
    assert "## Search vs chance and vs hand design" in markdown(
        CHANCE_ROWS, {}, SIZES, None, {}, "t"
    )


def test_the_front_plot_draws_the_baseline_family_and_the_band_randoms(tmp_path):
    from hyctas.report import plot_front_with_targets

    archive = tmp_path / "archive.csv"
    archive.write_text("latency_ms,miou\n9.0,0.05\n12.0,0.07\n")
    family = [dict(BASE, target=f"b{w}", width=w, miou=0.1 * w, latency_ms=10 * w) for w in (1, 2)]
    plot_front_with_targets(tmp_path / "front.png", archive, [*CHANCE_ROWS[:4], *paired(family)])
    assert (tmp_path / "front.png").read_bytes().startswith(b"\x89PNG")


def test_with_several_seeds_the_band_difference_has_a_paired_standard_error():
    from hyctas.report import (
        band_comparison,
        chance_metrics,
        chance_section,
        difference_se,
        hv_vs_baselines,
        miou_cell,
    )

    def seeded(r, mious):
        values = np.array(mious)
        by_seed = {str(s): m for s, m in enumerate(mious)}
        return dict(r, miou=float(values.mean()), miou_std=float(values.std(ddof=1)),
                    seeds=len(mious), miou_seeds=by_seed)  # fmt: skip

    # Seed 2 lifts every architecture alike: a shift the pairing takes out.
    rows = [
        seeded(row("fast", 0.0, 11.0), [0.20, 0.21, 0.26]),
        seeded(band_row("fast_r0", 0.0, 12.0), [0.10, 0.12, 0.16]),
        seeded(band_row("fast_r1", 0.0, 10.0), [0.16, 0.15, 0.22]),
    ]
    fast = band_comparison(rows)[0]
    differences = [0.20 - 0.13, 0.21 - 0.135, 0.26 - 0.19]
    expected = np.std(differences, ddof=1) / np.sqrt(3)
    assert fast["difference"] == pytest.approx(np.mean(differences))
    assert fast["difference_se"] == pytest.approx(expected)
    unpaired = np.sqrt(rows[0]["miou_std"] ** 2 / 3 + np.var([0.13, 0.135, 0.19], ddof=1) / 3)
    assert expected < unpaired / 3  # the shared seed-2 shift is not noise of the difference
    text = "\n".join(chance_section(rows))
    assert f"| {np.mean(differences):+.3f} ± {expected:.3f} |" in text
    assert "paired by seed, 2 degrees of freedom" in text
    metrics = chance_metrics(
        {"search_vs_chance": [fast], "search_vs_baselines": hv_vs_baselines(rows)}
    )
    assert metrics["fast.miou_minus_band_mean_se"] == pytest.approx(expected)
    page = markdown(rows, {}, SIZES, None, {}, "t")
    assert (
        "mIoU: the mean over the `retrain.seeds` runs ± their standard deviation (3 seeds)." in page
    )
    assert "retrain.seeds" not in markdown(CHANCE_ROWS, {}, SIZES, None, {}, "t")
    assert miou_cell(rows[0]) == f"{rows[0]['miou']:.3f} ± {rows[0]['miou_std']:.3f} (3 seeds)"
    assert miou_cell(BASE) == "0.100" and "paired by seed" not in "\n".join(
        chance_section(CHANCE_ROWS)
    )
    other_seeds = dict(rows[1], miou_seeds={"0": 0.1, "1": 0.1, "5": 0.1})
    assert difference_se(rows[0], [other_seeds, rows[2]]) is None  # not the same seeds
    assert difference_se(dict(rows[0], miou_seeds={"0": 0.2}), rows[1:]) is None  # one seed
    assert difference_se(rows[0], []) is None


def test_rows_compare_by_the_seeds_mean(tmp_path):
    import json

    from hyctas.report import collect_rows

    spec = {"kind": "baseline", "baseline": {"name": "fast_scnn", "width": 0.5}}
    evaluated = {"params": 1e5, "macs": 2e8, "latency_ms": 5.0, "fps": 200.0, "miou": 0.2,
                 "miou_seed_mean": 0.25, "miou_seed_std": 0.05, "seeds": 2,
                 "inference": "whole"}  # fmt: skip
    for stage, data in (
        ("select", spec),
        ("retrain", {"init": "scratch", "seconds": 10.0, "seconds_all_seeds": 20.0}),
        ("evaluate", evaluated),
    ):
        (tmp_path / stage / "b").mkdir(parents=True)
        (
            tmp_path / stage / "b" / ("model.json" if stage == "select" else "metrics.json")
        ).write_text(json.dumps(data))
    (r,) = collect_rows(["b"], tmp_path / "select", tmp_path / "retrain", tmp_path / "evaluate")
    assert (r["miou"], r["miou_std"], r["seeds"]) == (0.25, 0.05, 2)
    assert r["train_seconds"] == 20.0  # every seed's training
    note = "Of each target's first seed (its exported model)"
    assert note in "\n".join(class_iou_section([dict(r, iou={"road": 0.5})]))
    assert note not in "\n".join(class_iou_section([dict(r, iou={"road": 0.5}, seeds=1)]))
    del evaluated["miou_seed_mean"], evaluated["miou_seed_std"], evaluated["seeds"]
    (tmp_path / "evaluate/b/metrics.json").write_text(json.dumps(evaluated))  # before seeds
    (r,) = collect_rows(["b"], tmp_path / "select", tmp_path / "retrain", tmp_path / "evaluate")
    assert (r["miou"], r["miou_std"], r["seeds"]) == (0.2, None, 1)
