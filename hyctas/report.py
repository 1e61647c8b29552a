"""The `report` stage's logic: one table and a few plots that say how the search went.

Reads each target's model spec (select), training metrics (retrain) and evaluation metrics
(evaluate), the search archive and the frame counts of prepare_data's lists; writes
`summary.md`, `summary.json` and PNG plots.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from hyctas.atomic import write_figure, write_json, write_text
from hyctas.data import SEARCH_LIST, SUPERNET_TRAIN_LIST, TRAIN_LIST, VAL_LIST


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def inference_label(evaluated: dict[str, Any]) -> str | None:
    """How `evaluate` predicted the val frames of its mIoU, e.g. "whole, scales 0.75/1/1.25, flip".

    None for metrics written before `evaluate` recorded it.
    """
    if "inference" not in evaluated:
        return None
    parts = [evaluated["inference"]]
    scales = evaluated.get("inference_scales", [1.0])
    if scales != [1.0]:
        parts.append("scales " + "/".join(f"{s:g}" for s in scales))
    if evaluated.get("inference_flip"):
        parts.append("flip")
    return ", ".join(parts)


def collect_rows(
    targets: list[str], select_dir: Path, retrain_dir: Path, evaluate_dir: Path
) -> list[dict]:
    """One row per target joining its spec, training and evaluation metrics."""
    rows = []
    for name in targets:
        spec = _read(select_dir / name / "model.json")
        evaluated = _read(evaluate_dir / name / "metrics.json")
        trained = _read(retrain_dir / name / "metrics.json")
        predicted = spec.get("predicted", {})
        rows.append(
            {
                "target": name,
                "kind": spec["kind"],
                "arch_id": spec.get("arch_id", spec.get("baseline", {}).get("name", "")),
                "compact": spec.get("compact", ""),
                "branches": len(spec["arch"]["branches"]) if spec["kind"] == "segnet" else None,
                "params_m": evaluated["params"] / 1e6,
                "macs_g": evaluated["macs"] / 1e9,
                "predicted_latency_ms": predicted.get("latency_ms"),
                "latency_ms": evaluated["latency_ms"],
                "fps": evaluated["fps"],
                "supernet_miou": predicted.get("miou"),
                # The mean over retrain's seeds (one seed: its mIoU), and their spread.
                "miou": evaluated.get("miou_seed_mean", evaluated["miou"]),
                "miou_std": evaluated.get("miou_seed_std"),
                "seeds": evaluated.get("seeds", 1),
                "miou_seeds": evaluated.get("miou_seeds"),  # seed -> mIoU; None before seeds
                "inference": inference_label(evaluated),  # of the mIoU
                "init": trained.get("init"),
                "train_seconds": trained.get("seconds_all_seeds", trained.get("seconds")),
                "band": spec.get("band"),  # a random architecture in a searched one's band
                "width": spec.get("baseline", {}).get("width"),
                "iou": evaluated.get("iou", {}),  # per class, under the dataset's class names
            }
        )
    return rows


def class_iou_section(rows: list[dict]) -> list[str]:
    """Markdown table of each class's val IoU (rows) per target (columns).

    Class names are the dataset's own (prepare_data's class table, through evaluate's
    metrics, whose JSON lists them alphabetically); "–" marks a class neither in the val
    ground truth nor predicted.
    """
    names = list(rows[0]["iou"]) if rows and rows[0].get("iou") else []
    if not names:
        return ["- no per-class IoU recorded"]
    head = "| class | " + " | ".join(r["target"] for r in rows) + " |"
    lines = [head, "|" + "---|" * (len(rows) + 1)]
    for name in names:
        cells = " | ".join(_fmt(r["iou"].get(name)) for r in rows)
        lines.append(f"| {name} | {cells} |")
    if any(r.get("seeds", 1) > 1 for r in rows):
        lines += [
            "",
            "Of each target's first seed (its exported model); the mIoU above is the seeds' mean.",
        ]
    return lines


def searched_rows(rows: list[dict]) -> list[dict]:
    """The searched targets: architectures of the search, not baselines or band randoms."""
    return [r for r in rows if r["kind"] == "segnet" and not r.get("band")]


def verdict_latency_key(rows: list[dict]) -> str:
    """The latency the verdict compares: the paired timing when every row has one."""
    paired = rows and all(r.get("paired_latency_ms") is not None for r in rows)
    return "paired_latency_ms" if paired else "latency_ms"


def verdict(rows: list[dict]) -> str:
    """Whether a searched model beats the baseline in mIoU at lower measured latency.

    Latency is the paired timing (every model timed in the same rounds) when the rows have
    it, else each evaluate job's own measurement.
    """
    baselines = [r for r in rows if r["kind"] == "baseline"]
    searched = searched_rows(rows)
    if not baselines or not searched:
        return "No baseline (or no searched target) was retrained, so there is no comparison."
    lat = verdict_latency_key(rows)
    how = "paired latency" if lat == "paired_latency_ms" else "measured latency"
    lines = []
    for base in baselines:
        winners = [r for r in searched if r["miou"] > base["miou"] and r[lat] < base[lat]]
        if winners:
            names = ", ".join(
                f"`{r['target']}` ({r['miou']:.3f} mIoU, {r[lat]:.1f} ms)" for r in winners
            )
            lines.append(
                f"Beats the baseline `{base['target']}` ({base['miou']:.3f} mIoU, "
                f"{base[lat]:.1f} ms) in mIoU at lower {how}: {names}."
            )
        else:
            lines.append(
                f"**No searched architecture beats the baseline `{base['target']}` "
                f"({base['miou']:.3f} mIoU, {base[lat]:.1f} ms) in mIoU at lower "
                f"{how} on this run.**"
            )
    if lat == "paired_latency_ms":
        lines.append(
            "\nPaired latency: every model timed in the same interleaved rounds by this stage "
            "(`report.paired_latency`), so a slow stretch of the machine slows all alike."
        )
    return "\n".join(lines)


def init_pairs(rows: list[dict]) -> list[tuple[dict, dict]]:
    """(scratch, supernet) rows that retrained the same searched architecture both ways."""
    pairs = []
    for scratch in rows:
        if scratch["kind"] != "segnet" or scratch["init"] != "scratch":
            continue
        for inherited in rows:
            if inherited["arch_id"] == scratch["arch_id"] and inherited["init"] == "supernet":
                pairs.append((scratch, inherited))
                break
    return pairs


def init_section(rows: list[dict]) -> list[str]:
    """Markdown lines comparing the two initialisations on the same architectures."""
    pairs = init_pairs(rows)
    if not pairs:
        return [
            "No architecture was retrained with both initialisations (give two targets the "
            "same rule and `init: scratch` / `init: supernet` in select.targets)."
        ]
    lines = [
        "| arch id | scratch target | mIoU (scratch) | supernet target | mIoU (supernet) | "
        "difference |",
        "|" + "---|" * 6,
    ]
    lines += [
        f"| `{a['arch_id']}` | {a['target']} | {a['miou']:.3f} | {b['target']} | "
        f"{b['miou']:.3f} | {b['miou'] - a['miou']:+.3f} |"
        for a, b in pairs
    ]
    better = sum(b["miou"] > a["miou"] for a, b in pairs)
    mean = float(np.mean([b["miou"] - a["miou"] for a, b in pairs]))
    lines += [
        "",
        f"Starting from the supernet's weights is better on {better} of {len(pairs)} "
        f"architectures (mean difference {mean:+.3f} mIoU) with the same recipe.",
    ]
    return lines


def band_comparison(rows: list[dict]) -> list[dict]:
    """Each searched target against the random architectures of its latency band.

    A band target belongs to a searched target when it was drawn around the same
    architecture (`band.center_arch_id`) and retrained with the same init. mIoU is val;
    latency the verdict's (paired when every row has it).
    """
    lat = verdict_latency_key(rows)
    out = []
    for r in searched_rows(rows):
        randoms = [
            b
            for b in rows
            if b.get("band")
            and b["band"]["center_arch_id"] == r["arch_id"]
            and b["init"] == r["init"]
        ]
        mean = float(np.mean([b["miou"] for b in randoms])) if randoms else None
        out.append(
            {
                "target": r["target"],
                "init": r["init"],
                "miou": r["miou"],
                "miou_std": r.get("miou_std"),
                "seeds": r.get("seeds", 1),
                "latency_ms": r[lat],
                "randoms": [
                    {"target": b["target"], "miou": b["miou"], "latency_ms": b[lat]}
                    for b in randoms
                ],
                "random_mean_miou": mean,
                "difference": r["miou"] - mean if mean is not None else None,
                "difference_se": difference_se(r, randoms),
                "beats_mean": r["miou"] > mean if mean is not None else None,
            }
        )
    return out


def difference_se(target: dict, randoms: list[dict]) -> float | None:
    """Standard error of a target's seed-mean mIoU minus its band randoms' mean, paired by
    seed; None unless all of them were retrained with the same two or more seeds.

    Runs of one seed share their batches and augmentation across architectures, so they are
    compared seed by seed: d_s = target_s - mean of the randoms_s, SE = std(d, ddof=1) /
    sqrt(S), with S - 1 degrees of freedom. It is the noise of retraining these
    architectures, not the spread of which architectures the band drew.
    """
    seeds = set(target.get("miou_seeds") or {})
    if (
        not randoms
        or len(seeds) < 2
        or any(set(b.get("miou_seeds") or {}) != seeds for b in randoms)
    ):
        return None
    differences = [
        target["miou_seeds"][s] - np.mean([b["miou_seeds"][s] for b in randoms]) for s in seeds
    ]
    return float(np.std(differences, ddof=1) / np.sqrt(len(seeds)))


def miou_cell(row: dict) -> str:
    """A row's val mIoU for a table: with its seeds' spread when retrained with several."""
    if row.get("miou_std") is None:
        return f"{row['miou']:.3f}"
    return f"{row['miou']:.3f} ± {row['miou_std']:.3f} ({row['seeds']} seeds)"


def hv_vs_baselines(rows: list[dict]) -> dict[str, Any]:
    """Hypervolume of the retrained searched targets over that of the baseline family.

    Both in (val mIoU, the verdict's latency), normalised by the ideal and nadir of the two
    sets together, reference point 1.1 (`hyctas.hypervolume`). Every searched target counts
    (either init); band randoms do not.
    """
    from hyctas.hypervolume import bounds, normalised_hypervolume

    lat = verdict_latency_key(rows)
    searched = searched_rows(rows)
    baselines = [r for r in rows if r["kind"] == "baseline"]
    out: dict[str, Any] = {
        "latency": lat,
        "searched_points": len(searched),
        "baseline_points": len(baselines),
        "hv_searched": None,
        "hv_baselines": None,
        "hv_ratio": None,
    }
    if not searched or not baselines:
        return out
    S = np.array([[-r["miou"], r[lat]] for r in searched], dtype=float)
    B = np.array([[-r["miou"], r[lat]] for r in baselines], dtype=float)
    ideal, nadir = bounds(np.vstack([S, B]))
    out["hv_searched"] = normalised_hypervolume(S, ideal, nadir)
    out["hv_baselines"] = normalised_hypervolume(B, ideal, nadir)
    if out["hv_baselines"] > 0:
        out["hv_ratio"] = out["hv_searched"] / out["hv_baselines"]
    return out


def chance_section(rows: list[dict]) -> list[str]:
    """Markdown lines: searched targets vs their band randoms, and vs the baseline family."""
    compared = band_comparison(rows)
    lat = verdict_latency_key(rows)
    how = "paired latency" if lat == "paired_latency_ms" else "measured latency"
    seeds = [c["seeds"] for c in compared if c["difference_se"] is not None]
    seeds_note = (
        " (the mean over `retrain.seeds` ± their std; a difference ± its standard error over "
        f"the seeds, paired by seed, {min(seeds) - 1} degrees of freedom: the noise of "
        "retraining these architectures, not of which ones the band drew)"
        if seeds
        else ""
    )
    lines = [
        "Each searched target against the random-search architectures drawn from its "
        f"predicted-latency band (`band_of` targets, same init), mIoU on val{seeds_note} and "
        f"{how}:",
        "",
        "| searched target | init | mIoU | latency (ms) | random in band: mIoU @ ms | "
        "mean random mIoU | difference |",
        "|" + "---|" * 7,
    ]
    for c in compared:
        randoms = "; ".join(
            f"{b['target']} {b['miou']:.3f} @ {b['latency_ms']:.1f}" for b in c["randoms"]
        )
        diff = f"{c['difference']:+.3f}" if c["difference"] is not None else "–"
        if c["difference_se"] is not None:
            diff += f" ± {c['difference_se']:.3f}"
        lines.append(
            f"| {c['target']} | {_fmt(c['init'])} | {miou_cell(c)} | {c['latency_ms']:.1f} | "
            f"{randoms or 'none'} | {_fmt(c['random_mean_miou'])} | {diff} |"
        )
    with_band = [c for c in compared if c["randoms"]]
    wins = sum(bool(c["beats_mean"]) for c in with_band)
    lines += [
        "",
        f"Beats the mean mIoU of its band's random architectures: {wins} of {len(with_band)} "
        "searched targets with band targets."
        if with_band
        else "No band target (`band_of`) was retrained, so there is no comparison with chance.",
        "",
    ]
    hv = hv_vs_baselines(rows)
    if hv["hv_ratio"] is None and hv["hv_searched"] is None:
        lines.append("No baseline family (or no searched target): no hypervolume comparison.")
    else:
        lines.append(
            f"Hypervolume (val mIoU and {how}, normalised by the ideal and nadir of both sets, "
            f"reference point 1.1): searched targets {hv['hv_searched']:.4f} "
            f"({hv['searched_points']} models), baseline family {hv['hv_baselines']:.4f} "
            f"({hv['baseline_points']} widths): ratio {_fmt(hv['hv_ratio'])}."
        )
    return lines


def chance_metrics(summary: dict) -> dict[str, Any]:
    """The metrics.json entries of the comparisons with chance and with the baseline family."""
    hv = summary["search_vs_baselines"]
    compared = [c for c in summary["search_vs_chance"] if c["randoms"]]
    out: dict[str, Any] = {
        "hv_searched": hv["hv_searched"],
        "hv_baselines": hv["hv_baselines"],
        "hv_ratio_vs_baselines": hv["hv_ratio"],
        "band_compared": len(compared),
        "band_wins": sum(bool(c["beats_mean"]) for c in compared),
    }
    for c in compared:
        out[f"{c['target']}.band_random_mean_miou"] = c["random_mean_miou"]
        out[f"{c['target']}.miou_minus_band_mean"] = c["difference"]
        if c["difference_se"] is not None:
            out[f"{c['target']}.miou_minus_band_mean_se"] = c["difference_se"]
    return out


# The lists of prepare_data and what reads each.
DATA_LISTS = {
    TRAIN_LIST: "retrain trains every target on it",
    SUPERNET_TRAIN_LIST: "the supernet trains on it: the training split minus the search split",
    SEARCH_LIST: "held out of the training split: supernet probes and the search's candidate mIoU",
    VAL_LIST: "evaluate only: every mIoU in the table above",
}


def data_split_sizes(data_metrics: dict) -> dict[str, int]:
    """Frames in each list file, from prepare_data's metrics (`<list>_frames`)."""
    return {name: int(data_metrics[f"{name.removesuffix('.txt')}_frames"]) for name in DATA_LISTS}


def data_section(sizes: dict[str, int]) -> list[str]:
    """Markdown lines stating the size and use of each frame list."""
    return [f"- `{name}`: {sizes[name]} frames; {DATA_LISTS[name]}" for name in DATA_LISTS]


def rank_correlation(rows: list[dict]) -> float | None:
    """Kendall tau between supernet-inherited and retrained mIoU of the searched targets.

    Only networks trained from scratch count when there are at least two: a supernet start
    would correlate with the supernet's ranking by construction.
    """
    from scipy.stats import kendalltau

    searched = [r for r in rows if r["supernet_miou"] is not None]
    scratch = [r for r in searched if r["init"] == "scratch"]
    pairs = [(r["supernet_miou"], r["miou"]) for r in (scratch if len(scratch) > 1 else searched)]
    if len(pairs) < 2:
        return None
    tau = kendalltau(*zip(*pairs, strict=True)).statistic
    return None if np.isnan(tau) else float(tau)


def _spread(m: dict) -> str:
    """ " (standard error s, 90 % interval a to b)" of the tau against the seeds' mean."""
    if m["kendall_tau_seed_mean_se"] is None:  # fewer than 3 pairs, or a constant side
        return ""
    return (
        f" (bootstrap standard error {_fmt(m['kendall_tau_seed_mean_se'])}, 90 % interval "
        f"{_fmt(m['kendall_tau_seed_mean_low'])} to {_fmt(m['kendall_tau_seed_mean_high'])})"
    )


def ranking_section(ranking: dict | None) -> list[str]:
    """Markdown lines of the rank_check stage: its correlations and one row per architecture.

    `ranking` holds `metrics` (results/rank_check/metrics.json) and `rows` (ranking.csv).
    """
    if ranking is None:
        return ["The rank_check stage was not run."]
    m, rows = ranking["metrics"], ranking["rows"]
    seeds = list(dict.fromkeys(r["seed"] for r in rows))  # the first runs' seed first
    counts = ", ".join(f"{k}: {n}" for k, n in sorted(m["architectures_by_branches"].items()))
    lines = [
        f"Over {m['architectures']} architectures picked over the branch counts ({counts}) and "
        "the predicted-latency range: inherited mIoU (supernet weights, search split, as the "
        "search scores) against stand-alone mIoU (trained from scratch with the retrain recipe "
        f"for {m['standalone_iterations']} steps, val).",
        "",
        f"- Kendall tau {_fmt(m['kendall_tau'])} (sparse {_fmt(m['kendall_tau_sparse'])}), "
        f"Spearman rho {_fmt(m['spearman_rho'])}",
        f"- seed-to-seed Kendall tau of stand-alone training over the first {m['repeats']}: "
        f"{_fmt(m['seed_tau'])} (mean difference {_fmt(m['seed_abs_diff_mean'])} mIoU), the "
        "agreement of two runs of the reference itself",
        f"- against the mean of the two seeds over those {m['repeats']}: Kendall tau "
        f"{_fmt(m['kendall_tau_seed_mean'])}{_spread(m)}, Spearman rho "
        f"{_fmt(m['spearman_rho_seed_mean'])}",
        f"- the tau a perfect proxy would reach (seed noise {_fmt(m['seed_noise_std'])} mIoU, "
        f"normal model): {_fmt(m['ceiling_tau_one_seed'])} against one seed, "
        f"{_fmt(m['ceiling_tau_seed_mean'])} against the mean of two",
        f"- pairs in one latency band{_band_width(m)}: inherited mIoU orders "
        f"{m['band_pairs_agree']} of {m['band_pairs']} as the stand-alone mean does"
        f"{_tied(m.get('band_pairs_tied'))}; the two seeds agree on "
        f"{m['band_seed_pairs_agree']} of {m['band_seed_pairs']}"
        f"{_tied(m.get('band_seed_pairs_tied'))}",
        f"- Spearman rho against predicted latency: inherited {_fmt(m['inherited_vs_latency_rho'])}"
        f", stand-alone {_fmt(m['standalone_vs_latency_rho'])}",
        f"- zero-cost proxies against the same mean (Kendall tau; a supernet earns its training "
        f"where it ranks better): {_zero_cost(m)}",
        *_within_branches(m),
        "",
        "| arch id | branches | predicted latency (ms) | inherited mIoU | "
        + " | ".join(f"stand-alone mIoU (seed {s})" for s in seeds)
        + " |",
        "|" + "---|" * (4 + len(seeds)),
    ]
    by_index: dict[int, dict[int, float]] = {}
    for r in rows:
        by_index.setdefault(r["index"], {})[r["seed"]] = r["standalone_miou"]
    for index, runs in sorted(by_index.items()):
        r = next(row for row in rows if row["index"] == index)
        lines.append(
            f"| `{r['arch_id']}` | {r['branches']} | {r['predicted_latency_ms']:.1f} | "
            f"{r['inherited_miou']:.3f} | " + " | ".join(_fmt(runs.get(s)) for s in seeds) + " |"
        )
    return lines


def _within_branches(metrics: dict) -> list[str]:
    """The line on the ranking inside the branch counts; none in metrics from before it. The
    two-seed part only where there are pairs (`rank_check.repeats` > 0)."""
    if "kendall_tau_seed_mean_within_branches" not in metrics:
        return []
    line = (
        "- inside a branch count, where a pick competes with its latency band (Kendall tau, "
        "pair-weighted over the counts): supernet "
        f"{_fmt(metrics['kendall_tau_within_branches'])} against the first seed"
    )
    if metrics["kendall_tau_seed_mean_within_branches"] is None:
        return [line]
    by = ", ".join(
        f"{k}: {_fmt(v)}" for k, v in sorted(metrics["kendall_tau_seed_mean_by_branches"].items())
    )
    return [
        f"{line}, {_fmt(metrics['kendall_tau_seed_mean_within_branches'])} ({by}) against the "
        f"two seeds' mean; the two seeds {_fmt(metrics['seed_tau_within_branches'])}; ordering "
        f"the branch counts alone as that mean does would reach "
        f"{_fmt(metrics['kendall_tau_branch_order'])} overall"
    ]


def _zero_cost(metrics: dict) -> str:
    """'predicted latency 0.02, parameters 0.31, MACs 0.25' ('n/a' where not computed)."""
    names = {"latency": "predicted latency", "params": "parameters", "macs": "MACs"}
    return ", ".join(
        f"{label} {_fmt(metrics.get(f'zero_cost_tau_{key}'))}" for key, label in names.items()
    )


def _band_width(metrics: dict) -> str:
    """' (within a factor 1.1 of predicted latency)' for rank_check's `band` 0.1; empty in
    older metrics."""
    band = metrics.get("band")
    return f" (within a factor {1 + band:g} of predicted latency)" if band is not None else ""


def _tied(count: int | None) -> str:
    """' (2 tied, left out)' of a band-pair count's ties; empty when there are none."""
    return f" ({count} tied, left out)" if count else ""


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown(
    rows: list[dict],
    search: dict,
    sizes: dict[str, int],
    tau: float | None,
    plots: dict[str, str],
    title: str,
    ranking: dict | None = None,
) -> str:
    """The summary report as Markdown (`ranking`: see `ranking_section`)."""
    columns = [
        "target", "arch id", "branches", "init", "params (M)", "MACs (G)",
        "predicted latency (ms)", "measured latency (ms)", "paired latency (ms)", "FPS",
        "supernet mIoU", "mIoU", "mIoU inference",
    ]  # fmt: skip
    head = f"| {' | '.join(columns)} |\n|" + "---|" * len(columns)
    body = [
        f"| {r['target']} | `{r['arch_id']}` | {_fmt(r['branches'])} | {_fmt(r['init'])} | "
        f"{r['params_m']:.3f} | {r['macs_g']:.2f} | "
        f"{_fmt(r['predicted_latency_ms'], 1)} | {r['latency_ms']:.1f} | "
        f"{_fmt(r.get('paired_latency_ms'), 1)} | {r['fps']:.1f} | "
        f"{_fmt(r['supernet_miou'])} | {miou_cell(r)} | {_fmt(r.get('inference'))} |"
        for r in rows
    ]
    seeds = max((r.get("seeds", 1) for r in rows), default=1)
    seeds_note = (
        [
            "mIoU: the mean over the `retrain.seeds` runs ± their standard deviation "
            f"({seeds} seeds).",
            "",
        ]
        if seeds > 1
        else []
    )
    lines = [
        f"# {title}",
        "",
        head,
        *body,
        "",
        *seeds_note,
        "## Verdict",
        "",
        verdict(rows),
        "",
        "## Search vs chance and vs hand design",
        "",
        *chance_section(rows),
        "",
        "## Initialisation: scratch vs supernet weights",
        "",
        *init_section(rows),
        "",
        "## Per-class IoU (val)",
        "",
        *class_iou_section(rows),
        "",
        "## Data",
        "",
        *data_section(sizes),
        "",
        "## Search",
        "",
    ]
    lines += [f"- {k}: {_fmt(v) if isinstance(v, float) else v}" for k, v in search.items()]
    lines += [
        "",
        "- Kendall tau, supernet mIoU vs retrained mIoU over the searched targets (trained "
        f"from scratch): {_fmt(tau)}",
        "",
        "## Ranking: supernet vs stand-alone training",
        "",
        *ranking_section(ranking),
        "",
        "## Architectures",
        "",
    ]
    lines += [f"- `{r['target']}`: `{r['compact']}`" for r in rows if r["compact"]]
    lines += ["", "## Plots", ""] + [f"![{title}]({name})" for title, name in plots.items()]
    return "\n".join(lines) + "\n"


def plot_front_with_targets(path: Path, archive_csv: Path, rows: list[dict]) -> None:
    """Searched architectures (supernet mIoU, predicted ms) and where the retrained ones landed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    archive = pd.read_csv(archive_csv)
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.scatter(
        archive["latency_ms"],
        archive["miou"],
        s=10,
        c="0.7",
        label="searched (supernet mIoU, predicted ms)",
    )
    lat = verdict_latency_key(rows)  # the latency the verdict and the hypervolumes compare
    how = "paired" if lat == "paired_latency_ms" else "measured"
    for r in searched_rows(rows):
        ax.scatter(r[lat], r["miou"], marker="o", s=60, label=f"{r['target']} retrained ({how})")
        if r["supernet_miou"] is not None:
            ax.annotate(
                "",
                xy=(r[lat], r["miou"]),
                xytext=(r["predicted_latency_ms"], r["supernet_miou"]),
                arrowprops={"arrowstyle": "->", "color": "0.4"},
            )
    band = [r for r in rows if r.get("band")]
    if band:
        ax.scatter(
            [r[lat] for r in band],
            [r["miou"] for r in band],
            marker="x",
            s=50,
            color="tab:orange",
            label=f"random in a target's latency band, retrained ({how})",
        )
    family = sorted((r for r in rows if r["kind"] == "baseline"), key=lambda r: r[lat])
    if family:
        ax.plot(
            [r[lat] for r in family],
            [r["miou"] for r in family],
            "s-",
            color="black",
            markersize=7,
            linewidth=1,
            label=f"baseline family, retrained ({how})",
        )
        for r in family:
            ax.annotate(
                f"w={_fmt(r.get('width'), 2)}",
                (r[lat], r["miou"]),
                textcoords="offset points",
                xytext=(5, -10),
                fontsize=7,
            )
    ax.set_xlabel("latency (ms)")
    ax.set_ylabel("mIoU (searched: search split; retrained: val)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    write_figure(path, fig, dpi=110)


def plot_rank(path: Path, rows: list[dict], tau: float | None) -> None:
    """Supernet mIoU vs retrained mIoU of the searched targets."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 4))
    for r in rows:
        if r["supernet_miou"] is not None:
            ax.scatter(r["supernet_miou"], r["miou"])
            ax.annotate(r["target"], (r["supernet_miou"], r["miou"]), fontsize=8)
    ax.set_xlabel("supernet mIoU (inherited weights)")
    ax.set_ylabel("retrained mIoU")
    ax.set_title(f"Kendall tau = {_fmt(tau)}")
    fig.tight_layout()
    write_figure(path, fig, dpi=110)


def write_report(
    out_dir: Path,
    rows: list[dict],
    search_metrics: dict,
    data_metrics: dict,
    archive_csv: Path,
    title: str,
    ranking: dict | None = None,
) -> dict:
    """Write summary.md, summary.json, front.png and rank.png into `out_dir`; return the metrics.

    `ranking` holds the rank_check stage's `metrics` and `rows` (None: not run).
    """
    tau = rank_correlation(rows)
    plot_front_with_targets(out_dir / "front.png", archive_csv, rows)
    plot_rank(out_dir / "rank.png", rows, tau)
    search = {
        k: search_metrics[k]
        for k in ("evaluations", "hv_nsga2", "hv_random", "hv_ratio", "mean_eval_seconds")
        if k in search_metrics
    }
    efficiency = search_metrics.get("efficiency") or {}  # NSGA-II vs random search, per seed
    search.update(
        {
            f"efficiency_{k}": efficiency[k]
            for k in (
                "seeds",
                "random_budget_factor",
                "hv_norm_nsga2_mean",
                "hv_norm_random_mean",
                "seeds_matched",
                "match_ratio_mean",
                "match_ratio_lower_bound",
                "mean_curve_match_ratio",
            )
            if k in efficiency
        }
    )
    sizes = data_split_sizes(data_metrics)
    text = markdown(
        rows,
        search,
        sizes,
        tau,
        {"Front and retrained targets": "front.png", "Supernet vs retrained mIoU": "rank.png"},
        title,
        ranking,
    )
    write_text(out_dir / "summary.md", text)
    inits = [
        {"arch_id": a["arch_id"], "scratch": a["miou"], "supernet": b["miou"]}
        for a, b in init_pairs(rows)
    ]
    summary = {
        "rows": rows,
        "kendall_tau": tau,
        "verdict": verdict(rows),
        "init_comparison": inits,
        "search_vs_chance": band_comparison(rows),
        "search_vs_baselines": hv_vs_baselines(rows),
        "frames": sizes,
        "ranking": ranking["metrics"] if ranking else None,
        **search,
    }
    write_json(out_dir / "summary.json", summary)
    return summary
