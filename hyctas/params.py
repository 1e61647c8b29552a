"""Load and validate `params.yaml` against `workflow/schemas/params.schema.yaml`.

Every stage calls `load_params` first, so `dvc repro` runs are checked exactly as
Snakemake's `validate` checks them. Errors name the key path and what is allowed:

    params.yaml: search_space.max_branches = 4: 4 is greater than the maximum of 3

jsonschema is imported only when validating: `read_params` (no schema) runs without it, as
on the bare GPU image `benchmarks/gpu_suite.py` runs on.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from hyctas.errors import ConfigError

if TYPE_CHECKING:
    import jsonschema

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "workflow" / "schemas" / "params.schema.yaml"


def load_schema(path: Path = SCHEMA_PATH) -> dict:
    """Return the params JSON schema (a dict) read from `path`."""
    with open(path, encoding="utf-8") as f:
        return yaml.safe_load(f)


def _key_path(error: jsonschema.ValidationError) -> str:
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in error.absolute_path]
    return ".".join(parts).replace(".[", "[") or "<top level>"


def validate_params(params: Any, source: str = "params.yaml", schema: dict | None = None) -> None:
    """Raise ConfigError listing every schema violation of `params` with its key path."""
    import jsonschema

    validator = jsonschema.Draft202012Validator(schema or load_schema())
    errors = sorted(validator.iter_errors(params), key=lambda e: list(e.absolute_path))
    if not errors:
        return
    lines = []
    for err in errors:
        value = json.dumps(err.instance) if not isinstance(err.instance, dict) else "{...}"
        lines.append(f"  {_key_path(err)} = {value}: {err.message}")
    raise ConfigError(
        f"{source}: {len(errors)} invalid value(s):\n" + "\n".join(lines) + "\n"
        f"Fix these keys in {source} (allowed values: workflow/schemas/params.schema.yaml)."
    )


def load_params(path: str | Path = "params.yaml") -> dict:
    """Read `path`, validate it against the schema and return it as a dict.

    Raises:
        ConfigError: the file is missing, is not YAML, or has an invalid value.
    """
    params = read_params(path)
    validate_params(params, source=str(path))
    return params


def read_params(path: str | Path = "params.yaml") -> dict:
    """Read `path` as YAML without the schema check (each block's own checks still apply).

    Raises:
        ConfigError: the file is missing or is not YAML.
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"{path}: params file not found; pass --params with the path of params.yaml."
        )
    try:
        with open(path, encoding="utf-8") as f:
            params = yaml.safe_load(f)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from None
    return params


def params_hash(block: Any) -> str:
    """Short, stable hash of a params block (for MLflow tags and cache keys)."""
    canonical = json.dumps(block, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def flatten(block: dict, prefix: str = "") -> dict[str, Any]:
    """Flatten nested dicts to dotted keys (`{"a": {"b": 1}}` -> `{"a.b": 1}`) for MLflow."""
    flat: dict[str, Any] = {}
    for key, value in block.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flatten(value, dotted + "."))
        else:
            flat[dotted] = value
    return flat
