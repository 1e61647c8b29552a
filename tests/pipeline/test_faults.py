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
SIGTERM (preemption, limit)      training stages, search    143   checkpoint, run again
SIGKILL                          any                        -9    none; dvc repro reruns it
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.conftest import write_frame
from tests.pipeline.tiny import PREPARE_DATA_ARGS, env, pretrain_args, tiny_params, tiny_repo

pytestmark = pytest.mark.pipeline


def quiet_env(repo: Path) -> dict[str, str]:
    """The tiny repo's environment with one torch thread (2 threads crawl on a busy 2-core box)."""
    return {**env(repo), "OMP_NUM_THREADS": "1"}


def stage(repo: Path, name: str, *args: str, params: str = "params.yaml", timeout: int = 300):
    """Run `python -m stages.<name> --params <params> args` in `repo`; returns the process."""
    cmd = [sys.executable, "-m", f"stages.{name}", "--params", params, *args]
    return subprocess.run(
        cmd, cwd=repo, env=quiet_env(repo), capture_output=True, text=True, timeout=timeout
    )


def write_params(repo: Path, name: str, extra: dict, edit=None) -> str:
    """Tiny params plus `extra` (deep-merged), then `edit(params)`, written to `repo/name`."""
    params = tiny_params(extra)
    if edit:
        edit(params)
    (repo / name).write_text(yaml.safe_dump(params, sort_keys=False))
    return name


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
        env=quiet_env(repo),
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
    outs = [f"out/{tag}/model.pt", f"out/{tag}/log.csv", f"out/{tag}/m.json"]
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


def test_malformed_arch_file_for_the_cli(repo):
    (repo / "arch.json").write_text(
        json.dumps({"ops": [1, 2], "paths": [0], "downs": [0], "widths": [], "lasts": [1]})
    )
    hyctas = [sys.executable, "-m", "hyctas.cli", "arch", "info", "arch.json"]
    proc = subprocess.run(
        hyctas, cwd=repo, env=quiet_env(repo), capture_output=True, text=True, timeout=120
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


def write_archive(path: Path, latencies: list[float]) -> None:
    """A search archive (the real file format) of two-cell architectures with these latencies."""
    from hyctas.search.archive import Archive
    from hyctas.search.objectives import ACCURACY, LATENCY, Objective
    from hyctas.space.arch import Arch, Cell

    values = {}
    archive = Archive(
        [
            Objective(ACCURACY, lambda a: values[a.id][0], "max"),
            Objective(LATENCY, lambda a: values[a.id][1], "min"),
        ]
    )
    widths = (0.5, 0.666667, 1.0)
    for i, latency in enumerate(latencies):
        arch = Arch(((Cell("conv", widths[i], 1), Cell("conv", 1.0, 1)),))
        values[arch.id] = (0.1 * (i + 1), latency)
        archive.evaluate(arch, generation=1, method="nsga2")
    archive.save(path, runs={"nsga2": list(values)})


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
    proc = subprocess.run(
        cmd, cwd=repo, env=quiet_env(repo), capture_output=True, text=True, timeout=120
    )
    assert_fails_cleanly(proc, 2, "trimmed.csv: no latency entry for", "re-run profile_latency")


# --- stop signals -----------------------------------------------------------------------------
PRETRAIN_OUTS = [
    "results/pretrain_supernet/supernet.pt",
    "results/pretrain_supernet/train_log.csv",
    "results/pretrain_supernet/probes.csv",
    "results/pretrain_supernet/metrics.json",
]
CHECKPOINT = "checkpoints/pretrain_supernet/last.pt"


def stage_process(parent: int, module: str, timeout: float = 120):
    """The Python process running `python -m <module>` under `parent`.

    DVC runs the command through $SHELL; dash (`/bin/sh`, where CI leaves SHELL unset) stays
    as the parent `sh -c "python -m ..."`, whose command line also names the module: a signal
    sent to that shell never reaches the stage. The module as its own argument picks Python.
    """
    psutil = pytest.importorskip("psutil")
    deadline = time.time() + timeout
    while time.time() < deadline:
        for child in psutil.Process(parent).children(recursive=True):
            try:
                if module in child.cmdline() and module not in child.parent().cmdline():
                    return child  # not a forked DataLoader worker, whose parent matches too
            except psutil.NoSuchProcess:
                continue
        time.sleep(0.2)
    raise AssertionError(f"no {module} process under {parent}")


def repro_until_checkpoint(repo: Path, after_step: int = 0):
    """Start `dvc repro pretrain_supernet`; return (dvc process, stage process) once a checkpoint
    past `after_step` exists."""
    import torch  # before the stage starts: importing it takes seconds on a slow machine

    dvc = subprocess.Popen(
        [str(Path(sys.executable).with_name("dvc")), "repro", "pretrain_supernet"],
        cwd=repo,
        env=quiet_env(repo),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    child = stage_process(dvc.pid, "stages.pretrain_supernet")
    deadline = time.time() + 240
    while True:
        assert dvc.poll() is None, dvc.stdout.read()[-3000:]
        assert time.time() < deadline, "no checkpoint in time"
        path = repo / CHECKPOINT
        if path.is_file():
            try:
                if torch.load(path, weights_only=True)["step"] > after_step:
                    return dvc, child
            except Exception:  # noqa: BLE001 - replaced while we read it: try again
                pass
        time.sleep(0.3)


def test_sigterm_and_sigkill_lose_nothing_and_dvc_repro_resumes(tmp_path):
    # Enough steps that each signal lands inside the training loop even on a slow, busy CI
    # machine (a signal after the loop meets the default handler, not the path under test).
    repo = tiny_repo(
        tmp_path,
        {
            "pretrain_supernet": {
                "probe_every": 1000,
                "recipe": {"iterations": 120, "checkpoint_every": 2},
            }
        },
    )
    dvc = str(Path(sys.executable).with_name("dvc"))
    # 1. SIGTERM (preemption, time limit): checkpoint, exit 143 with a message, no output.
    proc, child = repro_until_checkpoint(repo)
    child.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode != 0
    assert "exited with 143" in out and "run the stage again to resume" in out, out[-3000:]
    assert "SIGTERM received at step" in out and "Traceback" not in out, out[-3000:]
    assert not [o for o in PRETRAIN_OUTS if (repo / o).exists()], out[-2000:]
    stopped_at = __import__("torch").load(repo / CHECKPOINT, weights_only=True)["step"]
    # 2. SIGKILL mid-run (no handler runs): still no output, and DVC does not consider it done.
    proc, child = repro_until_checkpoint(repo, after_step=stopped_at)
    child.kill()
    proc.communicate(timeout=120)
    assert not [o for o in PRETRAIN_OUTS if (repo / o).exists()]
    status = subprocess.run(
        [dvc, "status", "pretrain_supernet"],
        cwd=repo,
        env=quiet_env(repo),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "pretrain_supernet" in status.stdout and "up to date" not in status.stdout, status.stdout
    # 3. A plain re-run resumes from the checkpoint and finishes.
    proc = subprocess.run(
        [dvc, "repro", "pretrain_supernet"],
        cwd=repo,
        env=quiet_env(repo),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-3000:]
    metrics = json.loads((repo / PRETRAIN_OUTS[-1]).read_text())
    assert metrics["resumed_from_step"] > stopped_at, metrics
    assert not list(
        (repo / "results/pretrain_supernet").glob("*.tmp-*")
    )  # no temp file kept as output
    again = subprocess.run(
        [dvc, "status", "pretrain_supernet"],
        cwd=repo,
        env=quiet_env(repo),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "up to date" in again.stdout, again.stdout
    # 4. MLflow: the SIGTERM'd attempt ended KILLED, the SIGKILLed one could not end (RUNNING),
    # and the pipeline's parent run follows the latest attempt of each stage: FINISHED.
    from mlflow.tracking import MlflowClient

    client = MlflowClient(quiet_env(repo)["MLFLOW_TRACKING_URI"])
    experiment = client.get_experiment_by_name(tiny_params()["base"]["mlflow_experiment"])
    attempts = client.search_runs(
        [experiment.experiment_id],
        "tags.`hyctas.stage` = 'pretrain_supernet'",
        order_by=["attributes.start_time ASC"],
    )
    assert [r.info.status for r in attempts] == ["KILLED", "RUNNING", "FINISHED"]
    parents = client.search_runs([experiment.experiment_id], "tags.`hyctas.kind` = 'pipeline'")
    assert [r.info.status for r in parents] == ["FINISHED"]


# --- multi-GPU launcher (2 CPU processes with gloo stand in for 2 GPUs) --------------------------
def test_two_gpus_run_two_processes_stop_together_and_only_rank0_writes(repo):
    two = write_params(
        repo,
        "two.yaml",
        {
            "resources": {"pretrain_supernet": {"gpus": 2}},
            "pretrain_supernet": {
                "probe_every": 100,
                "recipe": {"iterations": 30, "checkpoint_every": 2},
            },
        },
    )
    out = repo / "out" / "ddp"
    cmd = [
        sys.executable,
        "-m",
        "stages.pretrain_supernet",
        "--params",
        two,
        *pretrain_args(out, "ck/ddp.pt"),
    ]
    # SLURM signals every process of the job: the launcher and both ranks get SIGTERM.
    first = subprocess.Popen(
        cmd,
        cwd=repo,
        env=quiet_env(repo),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    deadline = time.time() + 240
    while not (repo / "ck/ddp.pt").is_file():
        assert first.poll() is None and time.time() < deadline, first.communicate()[1][-3000:]
        time.sleep(0.2)
    os.killpg(first.pid, signal.SIGTERM)
    _, err = first.communicate(timeout=180)
    assert first.returncode == 143, err[-3000:]
    assert "running 2 processes" in err and "run the stage again to resume" in err
    assert not out.exists()
    proc = subprocess.run(
        cmd, cwd=repo, env=quiet_env(repo), capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("[pretrain_supernet] {") == 1  # one summary: rank 0 only
    assert sorted(p.name for p in out.iterdir()) == [
        "log.csv",
        "metrics.json",
        "probes.csv",
        "supernet.pt",
    ]
    assert json.loads((out / "metrics.json").read_text())["resumed_from_step"] > 0
    log = (out / "log.csv").read_text().splitlines()
    assert len(log) == 1 + len(set(log[1:]))  # one row per logged step, not one per rank
