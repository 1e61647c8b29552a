"""Faults and bad input, at the level of the stage commands the DAGs run (subprocesses).

Each fault must give one clear message naming the cause and the fix, a non-zero exit status
(2 for bad input, 143 for a stop signal) and no declared output (the README has the table):

fault                            stage                      exit  message names
invalid params value             any                        2     key path, allowed values
missing dataset folder           prepare_data               2     folder, what to download
corrupt image                    prepare_data               2     the file
unknown label name               prepare_data               2     the file and the label
malformed model spec / arch      retrain, hyctas arch info  2     file, branch/cell, field
NaN/inf loss (lr: 1e30)          pretrain_supernet          2     step, lower lr
missing latency-table entry      hyctas arch info, search   2     table, rerun profile_latency
no architecture within budget    select                     2     target key, fastest found
SIGTERM, SIGKILL                 test_stop_signals.py
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import write_frame
from tests.pipeline.tiny import (
    PREPARE_DATA_ARGS,
    env,
    pretrain_args,
    stage,
    tiny_repo,
    write_archive,
    write_params,
)

pytestmark = pytest.mark.pipeline


def assert_fails_cleanly(proc, status: int, *phrases: str, outputs: list[Path] = ()) -> None:
    """Exit `status`, each phrase in stderr, a one-line error (no traceback), no declared output."""
    assert proc.returncode == status, (proc.returncode, proc.stderr[-3000:])
    for phrase in phrases:
        assert phrase in proc.stderr, (phrase, proc.stderr[-3000:])
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    left = [str(p) for p in outputs if p.exists()]
    assert not left, f"partial outputs left behind: {left}"


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    dest = tiny_repo(tmp_path_factory.mktemp("faults"))
    proc = stage(dest, "prepare_data", *PREPARE_DATA_ARGS)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return dest


def prepare_outs(repo: Path, case: str) -> tuple[list[str], list[Path]]:
    out = repo / "out" / case
    args = [
        "--dataset-out",
        f"{out}/dataset",
        "--lists-out",
        f"{out}/lists",
        "--metrics-out",
        f"{out}/m.json",
    ]
    return args, [out / "dataset", out / "lists", out / "m.json"]


# --- bad input ------------------------------------------------------------------------------
def test_invalid_params_value_names_the_key(repo):
    args, outs = prepare_outs(repo, "params")
    bad = write_params(
        repo,
        "bad_params.yaml",
        {"search_space": {"max_branches": 4}, "resources": {"retrain": {"gpus": -1}}},
    )
    proc = stage(repo, "prepare_data", *args, params=bad)
    assert_fails_cleanly(
        proc,
        2,
        "search_space.max_branches = 4",
        "resources.retrain.gpus = -1",
        "Fix these keys in bad_params.yaml",
        outputs=outs,
    )


def test_snakemake_validates_params_before_any_job(repo):
    bad = write_params(repo, "bad_smk.yaml", {"search_space": {"max_branches": 4}})
    proc = subprocess.run(
        [str(Path(sys.executable).with_name("snakemake")), "-n", "--configfile", bad],
        cwd=repo,
        env=env(repo),
        capture_output=True,
        text=True,
        timeout=300,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0, out[-2000:]
    assert "max_branches" in out and "4 is greater than the maximum of 3" in out, out[-2000:]


def cityscapes_params(repo: Path, name: str, root: Path) -> str:
    return write_params(
        repo, name, {"prepare_data": {"source": "cityscapes", "cityscapes": {"root": str(root)}}}
    )


def test_missing_dataset_folder(repo, tmp_path):
    args, outs = prepare_outs(repo, "missing")
    proc = stage(
        repo,
        "prepare_data",
        *args,
        params=cityscapes_params(repo, "missing.yaml", tmp_path / "nope"),
    )
    assert_fails_cleanly(proc, 2, f"{tmp_path / 'nope'}: Cityscapes root not found", outputs=outs)


def test_corrupt_image(repo, tiny_tree):
    bad = next((tiny_tree / "leftImg8bit" / "val").rglob("*.png"))
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really a png")
    args, outs = prepare_outs(repo, "corrupt")
    proc = stage(
        repo, "prepare_data", *args, params=cityscapes_params(repo, "corrupt.yaml", tiny_tree)
    )
    assert_fails_cleanly(proc, 2, bad.name, "corrupt", outputs=outs)


def test_unknown_label_name(repo, tmp_path):
    root = tmp_path / "cs"
    for i in range(2):
        write_frame(root, "train", "aachen", i)
    objects = [{"label": "unicorn", "polygon": [[0, 0], [10, 0], [10, 10]]}]
    write_frame(root, "val", "lindau", 9, objects=objects)
    args, outs = prepare_outs(repo, "label")
    proc = stage(repo, "prepare_data", *args, params=cityscapes_params(repo, "label.yaml", root))
    assert_fails_cleanly(
        proc,
        2,
        "lindau_000009_000019_gtFine_polygons.json",
        "unknown label name(s) ['unicorn']",
        outputs=outs,
    )


def retrain_args(spec: str, tag: str) -> tuple[list[str], list[str]]:
    outs = [f"out/{tag}/model.pt", f"out/{tag}/log.csv", f"out/{tag}/m.json", f"out/{tag}/seeds"]
    return [
        "--spec",
        spec,
        "--lists",
        "data/prepare_data/lists",
        "--supernet",
        "none.pt",
        "--checkpoint",
        f"ck/{tag}.pt",
        "--out",
        outs[0],
        "--train-log",
        outs[1],
        "--metrics-out",
        outs[2],
        "--seeds-dir",
        outs[3],
    ], outs


@pytest.mark.parametrize(
    ("text", "phrases"),
    [
        ("{not json", ["spec.json: unreadable model spec", "re-run the select stage"]),
        (
            json.dumps(
                {
                    "target": "fast",
                    "kind": "segnet",
                    "arch_id": "x",
                    "arch": {
                        "format": "hyctas-arch/1",
                        "branches": [[{"op": "warp", "width": 1.0, "stride": 1}]],
                    },
                }
            ),
            ["op 'warp' unknown", "allowed: skip, conv"],
        ),
    ],
    ids=["not-json", "unknown-op"],
)
def test_malformed_model_spec(repo, text, phrases):
    (repo / "spec.json").write_text(text)
    args, outs = retrain_args("spec.json", "spec")
    proc = stage(repo, "retrain", *args)
    assert_fails_cleanly(proc, 2, *phrases, outputs=[repo / o for o in outs])


@pytest.mark.parametrize(
    ("manifest", "stale_width", "phrase"),
    [
        (None, None, "seeds.json: unreadable seed manifest"),
        ({"models": []}, None, "seeds.json: unreadable seed manifest"),
        ({"models": {"one": "seed1.pt"}}, None, "a seed that is not an integer"),
        ({"models": {"1": "seed1.pt"}}, None, "seeds.json lists models that are missing"),
        ({"models": {"1": "seed1.pt"}}, 0.5, "seed1.pt: not a run of the first model's network"),
    ],
    ids=["missing", "not-a-mapping", "bad-seed", "missing-model", "other-network"],
)
def test_a_bad_seed_manifest_stops_evaluate(repo, tmp_path, manifest, stale_width, phrase):
    from hyctas.models.factory import build_model, model_checkpoint
    from hyctas.train.checkpoint import save_checkpoint

    def save_model(path: Path, width: float) -> None:
        baseline = {"name": "fast_scnn", "width": width}
        net = build_model("baseline", num_classes=19, aux=False, baseline=baseline)
        state = model_checkpoint(net, kind="baseline", baseline=baseline, num_classes=19,
                                 aux=False, mean=(0.5,) * 3, std=(0.25,) * 3,
                                 target="t")  # fmt: skip
        save_checkpoint(path, state)

    case = tmp_path
    save_model(case / "model.pt", 0.25)
    (case / "seeds").mkdir(parents=True, exist_ok=True)
    if stale_width is not None:  # left from a retrain of another network
        save_model(case / "seeds" / "seed1.pt", stale_width)
    if manifest is not None:
        (case / "seeds" / "seeds.json").write_text(json.dumps(manifest))
    outs = [case / "ev" / name for name in ("model.onnx", "c.png", "o.png", "m.json")]
    proc = stage(repo, "evaluate", "--model", str(case / "model.pt"),
                 "--seeds-dir", str(case / "seeds"), "--lists", "data/prepare_data/lists",
                 "--onnx-out", str(outs[0]), "--confusion", str(outs[1]),
                 "--overlays", str(outs[2]), "--metrics-out", str(outs[3]))  # fmt: skip
    assert_fails_cleanly(proc, 2, phrase, "re-run the retrain stage", outputs=outs)


def test_malformed_arch_file_for_the_cli(repo):
    (repo / "arch.json").write_text(
        json.dumps({"ops": [1, 2], "paths": [0], "downs": [0], "widths": [], "lasts": [1]})
    )
    hyctas = [sys.executable, "-m", "hyctas.cli", "arch", "info", "arch.json"]
    proc = subprocess.run(
        hyctas, cwd=repo, env=env(repo), capture_output=True, text=True, timeout=120
    )
    assert_fails_cleanly(proc, 2, "arch.json: ops: expected one list per branch")


def test_nan_loss_stops_with_advice(repo):
    nan = write_params(
        repo, "nan.yaml", {"pretrain_supernet": {"recipe": {"lr": 1e30, "grad_clip": 0}}}
    )
    out = repo / "out" / "nan"
    proc = stage(
        repo,
        "pretrain_supernet",
        *pretrain_args(out, "ck/nan.pt"),
        params=nan,
    )
    assert_fails_cleanly(
        proc,
        2,
        "loss is",
        "lower the learning rate",
        outputs=[out / n for n in ("supernet.pt", "log.csv", "probes.csv", "metrics.json")],
    )


def test_no_architecture_within_the_budget(repo):
    write_archive(repo / "archive.csv", [12.0, 20.0])
    budget = write_params(
        repo,
        "budget.yaml",
        {},
        lambda p: p["select"]["targets"].update(fast={"max_latency_ms": 1.5}),
    )
    proc = stage(
        repo,
        "select",
        "--target",
        "fast",
        "--archive",
        "archive.csv",
        "--out",
        "out/sel/model.json",
        "--metrics-out",
        "out/sel/m.json",
        params=budget,
    )
    assert_fails_cleanly(
        proc,
        2,
        "select.targets.fast: no architecture has latency_ms <= 1.5",
        "fastest found has latency_ms = 12",
        "raise select.targets.fast.max_latency_ms",
        outputs=[repo / "out/sel/model.json", repo / "out/sel/m.json"],
    )


def test_missing_latency_table_entry(repo):
    out = "out/latency"
    made = stage(
        repo,
        "profile_latency",
        "--table",
        f"{out}/table.csv",
        "--model",
        f"{out}/model.json",
        "--validation",
        f"{out}/validation.csv",
        "--plot",
        f"{out}/validation.png",
        "--metrics-out",
        f"{out}/m.json",
    )
    assert made.returncode == 0, made.stderr[-3000:]
    lines = (repo / out / "table.csv").read_text().splitlines(keepends=True)
    (repo / "trimmed.csv").write_text("".join(ln for ln in lines if not ln.startswith("conv,")))
    from hyctas.space.arch import Arch, Cell

    arch = Arch(((Cell("conv", 1.0, 1), Cell("conv", 1.0, 1)),))
    (repo / "conv_arch.json").write_text(json.dumps(arch.to_dict()))
    cmd = [
        sys.executable,
        "-m",
        "hyctas.cli",
        "arch",
        "info",
        "conv_arch.json",
        "--params",
        "params.yaml",
        "--latency-table",
        "trimmed.csv",
    ]
    proc = subprocess.run(cmd, cwd=repo, env=env(repo), capture_output=True, text=True, timeout=120)
    assert_fails_cleanly(proc, 2, "trimmed.csv: no latency entry for", "re-run profile_latency")
