"""hyctas.report: verdict, scratch-vs-supernet pairing, rank correlation and the Markdown."""

from __future__ import annotations

import pytest

from hyctas.report import (
    data_split_sizes,
    init_pairs,
    init_section,
    markdown,
    rank_correlation,
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


def test_markdown_states_the_size_and_use_of_each_frame_list():
    data = {"bad_files": 0, "val_classes_present": 19}
    data |= {f"{k.removesuffix('.txt')}_frames": v for k, v in SIZES.items()}
    assert data_split_sizes(data) == SIZES
    text = markdown([row("fast", 0.1, 15.0), BASE], {}, SIZES, None, {}, "t")
    assert "- `search.txt`: 20 frames; held out of the training split" in text
    assert "- `supernet_train.txt`: 80 frames" in text
    assert "- `val.txt`: 30 frames; evaluate only" in text
    assert "- `train.txt`: 100 frames; retrain" in text
