"""What every stage script shares: the `--params` argument and one clear error on bad input."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from hyctas.errors import HyctasError

EXIT_BAD_INPUT = 2


def stage_parser(doc: str | None) -> argparse.ArgumentParser:
    """An argument parser with `--params`, described by the stage module's docstring."""
    parser = argparse.ArgumentParser(
        description=doc, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--params", default="params.yaml", help="params file (default: %(default)s)"
    )
    return parser


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
