"""What every stage script shares: its arguments (`--params`, paths, `--metrics-out`) and one
clear error on bad input.

Example (a stage's whole `parse_args`):
    def parse_args() -> argparse.Namespace:
        return parse_stage_args(__doc__, {"lists": LISTS, "out": "final checkpoint"})
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from hyctas.errors import HyctasError

EXIT_BAD_INPUT = 2
# Help texts of the path arguments several stages share.
LISTS = "prepare_data file lists folder"
CHECKPOINT = "resumable in-progress checkpoint"
TRAIN_LOG = "loss/lr curve CSV (DVC plot)"


def stage_parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser with `--params`, described by the stage module's docstring."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--params", default="params.yaml", help="params file (default: %(default)s)"
    )
    return parser


def parse_stage_args(
    doc: str | None,
    paths: Mapping[str, str],
    *,
    target: bool = False,
    stop_after: bool = False,
    argv: Sequence[str] | None = None,
) -> argparse.Namespace:
    """Parse a stage's command line: `--params`, one required path per entry of `paths`.

    Args:
        doc: the stage module's docstring (the `--help` text).
        paths: option name (without `--`) -> help text, in the order `--help` shows them;
            `--metrics-out` (the stage's metrics JSON) is added after them.
        target: add `--target`, a name under `select.targets` (the fanned-out stages).
        stop_after: add the hidden `--stop-after N` of the training stages (tests stop
            them after step N as if signalled).
        argv: arguments to parse instead of `sys.argv[1:]` (tests).
    """
    parser = stage_parser(doc)
    if target:
        parser.add_argument("--target", required=True, help="a name under select.targets")
    for name, what in {**paths, "metrics-out": "metrics JSON"}.items():
        parser.add_argument(f"--{name}", type=Path, required=True, help=what)
    if stop_after:
        parser.add_argument("--stop-after", type=int, default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def run_stage(
    name: str, main: Callable[[argparse.Namespace], None], args: argparse.Namespace
) -> None:
    """Run a stage's `main`; a HyctasError becomes one line on stderr and exit status 2.

    A preempted training stage (SIGTERM/SIGINT, checkpoint saved) exits with 143 instead, and
    any other stage stopped by a signal while its MLflow run is open (`hyctas.tracking`) with
    128 + the signal number: 143 for SIGTERM, 130 for SIGINT.
    """
    from hyctas.tracking import StopSignal
    from hyctas.train.signals import EXIT_PREEMPTED

    try:
        main(args)
    except StopSignal as exc:
        print(f"[{name}] stopped: {exc}; its MLflow run is marked KILLED", file=sys.stderr)
        sys.exit(exc.code)
    except HyctasError as exc:
        if type(exc).__name__ == "Preempted":
            print(f"[{name}] stopped: {exc}", file=sys.stderr)
            sys.exit(EXIT_PREEMPTED)
        print(f"[{name}] error: {exc}", file=sys.stderr)
        sys.exit(EXIT_BAD_INPUT)
