"""Multi-GPU without a wrapper command: a training stage re-runs itself under torch's launcher.

When `resources.<stage>.gpus` in params.yaml is above 1 and the process is not already one
of several (WORLD_SIZE unset), the stage re-launches itself as `gpus` processes through the
elastic launcher behind `torchrun` (same as
`torchrun --standalone --nproc_per_node N -m stages.<name> <same args>`) and exits with their
status. The SLURM profile asks for the same number of GPUs (`sbatch --gpus`), so one job step
trains with DDP. On CPU (`base.device: cpu`) the processes use gloo, which the tests rely on.

Example (in a stage's `main`):
    params = load_params(args.params)
    relaunch_if_multi_gpu(params, STAGE)   # returns only in the process that should train
"""

from __future__ import annotations

import os
import sys
import uuid

from hyctas.errors import ConfigError

# Exit status of a stage stopped by SIGTERM/SIGINT with its checkpoint saved (hyctas.train.signals).
EXIT_PREEMPTED = 143


def processes_for(params: dict, stage: str) -> int:
    """Training processes a stage asks for: `resources.<stage>.gpus` over `resources.default.gpus`.

    Raises:
        ConfigError: more GPUs than this node shows for a CUDA device.
    """
    resources = params.get("resources") or {}
    block = {**(resources.get("default") or {}), **(resources.get(stage) or {})}
    gpus = int(block.get("gpus") or 0)
    device = params["base"]["device"]
    if gpus > 1 and device != "cpu":
        import torch

        visible = torch.cuda.device_count()
        if device.startswith("cuda") and visible < gpus:
            raise ConfigError(
                f"resources.{stage}.gpus = {gpus} but only {visible} GPU(s) are visible; lower "
                f"resources.{stage}.gpus or ask the scheduler for {gpus} GPUs (sbatch --gpus)"
            )
    return max(gpus, 1)


def _exit_status(failures: dict[int, object]) -> int:
    """One status for a failed multi-process run: preemption wins, else the first failure's."""
    codes = {rank: f.exitcode for rank, f in failures.items()}
    if EXIT_PREEMPTED in codes.values():  # a rank saved its checkpoint on SIGTERM: resumable
        return EXIT_PREEMPTED
    first = min(failures, key=lambda rank: (failures[rank].timestamp, rank))
    code = codes[first]
    return 128 - code if code < 0 else (code or 1)  # -15 (killed by SIGTERM) -> 143


def launch(module: str, argv: list[str], nproc: int) -> int:
    """Run `python -m module argv` as `nproc` local DDP processes; return the job's exit status.

    Uses torch.distributed.run's own argument parsing and `elastic_launch`, with no restarts
    (a failed step is retried by the workflow engine, from the checkpoint).
    """
    from torch.distributed import run as torchrun
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.launcher.api import elastic_launch

    # what --standalone sets up: a private c10d store on a free local port
    rendezvous = ["--rdzv-backend=c10d", "--rdzv-endpoint=localhost:0", f"--rdzv-id={uuid.uuid4()}"]
    launcher = ["--nnodes=1", f"--nproc-per-node={nproc}", "--max-restarts=0", *rendezvous]
    args = torchrun.parse_args([*launcher, "-m", module, *argv])
    config, cmd, cmd_args = torchrun.config_from_args(args)
    try:
        elastic_launch(config, cmd)(*cmd_args)
    except ChildFailedError as exc:
        return _exit_status(exc.failures)
    except SignalException as exc:  # the launcher itself was signalled; workers were told too
        return EXIT_PREEMPTED if exc.sigval in (15, 2) else 128 + int(exc.sigval)
    return 0


def _main_module() -> str:
    spec = getattr(sys.modules["__main__"], "__spec__", None)
    if spec is None or not spec.name:
        raise ConfigError(
            "multi-GPU re-launch needs the stage run as a module: python -m stages.<name>"
        )
    return spec.name


def relaunch_if_multi_gpu(params: dict, stage: str, argv: list[str] | None = None) -> None:
    """Re-run the current stage under the launcher when it asks for several GPUs; then exit.

    Returns (doing nothing) when one process is asked for or when this process is already a
    worker (WORLD_SIZE set by torchrun). Otherwise it never returns: the process exits with the
    workers' status (143 when preempted, 2 for bad input, as a single process would).

    Args:
        params: the validated params dict.
        stage: the stage name (its `resources` block is read).
        argv: the stage's arguments; default: this process's own (`sys.argv[1:]`).
    """
    if "WORLD_SIZE" in os.environ:
        return
    nproc = processes_for(params, stage)
    if nproc <= 1:
        return
    module = _main_module()
    print(
        f"[{stage}] resources.{stage}.gpus = {nproc}: running {nproc} processes "
        f"(torchrun --standalone --nproc_per_node {nproc} -m {module})",
        file=sys.stderr,
        flush=True,
    )
    sys.exit(launch(module, list(sys.argv[1:] if argv is None else argv), nproc))
