"""What a stage's result depends on: its code (from its imports) and a fingerprint of its inputs.

Two questions share one answer here:

* **Which files is a stage's code?** `stage_code_files("search")` follows the imports of
  `stages/search.py` through the project (`stages/`, `hyctas/`) and returns every module it
  may run, plus the data folders those modules name (`hyctas/search/published_archs`). Both
  DAGs take their code dependencies from it: `workflow/rules/common.smk` calls it, and
  `tests/pipeline/test_dag_parity.py` checks that every `dvc.yaml` stage lists exactly these
  files. Editing one library file then reruns only the stages that import it.
* **May a checkpoint or cache be reused?** `Fingerprint.of(...)` hashes the params a run
  reads, the content of each input file (lists, supernet weights, latency files) and the
  stage's code. A checkpoint or cache entry is reused only when the whole fingerprint
  matches; otherwise the stage starts afresh, and `Fingerprint.changes` says what differs.

Print the table (what a stage's DVC `deps` must list):

    python -m hyctas.provenance            # every stage
    python -m hyctas.provenance search     # one stage
"""

from __future__ import annotations

import ast
import hashlib
import json
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("hyctas", "stages")  # the project's own code; anything else is a dependency


def _module_file(module: str, root: Path) -> Path | None:
    """The file of a project module (`a/b.py` or `a/b/__init__.py`), or None."""
    if module.split(".")[0] not in PACKAGES:
        return None
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(path: Path, module: str) -> set[str]:
    """Every module `path` imports, at any depth of its code (function-level imports too)."""
    is_package = path.name == "__init__.py"
    package = module if is_package else module.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import: resolve against this module's package
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                origin = ".".join(parts + ([node.module] if node.module else []))
            else:
                origin = node.module or ""
            found.add(origin)
            # `from pkg import mod` imports a module too, when `mod` is one.
            found.update(f"{origin}.{alias.name}" for alias in node.names)
    return found


def _parents(module: str) -> list[str]:
    """`a.b.c` -> [`a`, `a.b`]: importing a module runs its packages' `__init__` first."""
    parts = module.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _data_folders(path: Path) -> list[Path]:
    """Data folders beside module `path` that its source names (e.g. `published_archs`).

    A data folder is one that is no Python package (no `__init__.py`): a string that happens
    to equal a subpackage's name (`"train"`) is not a reference to data.
    """
    source = path.read_text(encoding="utf-8")
    return sorted(
        child
        for child in path.parent.iterdir()
        if child.is_dir()
        and child.name != "__pycache__"
        and not (child / "__init__.py").exists()
        and f'"{child.name}"' in source
    )


@cache
def _closure(module: str, root: Path) -> tuple[str, ...]:
    seen: dict[str, Path] = {}
    todo = [module]
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        path = _module_file(name, root)
        if path is None:
            continue
        seen[name] = path
        todo.extend(_parents(name))
        todo.extend(_imported_modules(path, name))
    files = {p for p in seen.values()}
    files.update(folder for p in seen.values() for folder in _data_folders(p))
    return tuple(sorted(p.relative_to(root).as_posix() for p in files))


def stage_code_files(stage: str, root: Path = PROJECT_ROOT) -> list[str]:
    """Project files (relative, POSIX) that `python -m stages.<stage>` may run or read.

    Raises:
        ValueError: there is no `stages/<stage>.py`.
    """
    if _module_file(f"stages.{stage}", root) is None:
        raise ValueError(f"no stage script stages/{stage}.py under {root}")
    return list(_closure(f"stages.{stage}", root))


def stage_names(root: Path = PROJECT_ROOT) -> list[str]:
    """Every stage script in `stages/`."""
    return sorted(p.stem for p in (root / "stages").glob("*.py") if p.stem != "__init__")


def files_digest(paths: Iterable[Path], root: Path) -> str:
    """SHA-256 (first 16 hex digits) of the files' paths relative to `root` and contents."""
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest())
    return digest.hexdigest()[:16]


def module_code_files(module: str, root: Path = PROJECT_ROOT) -> list[str]:
    """Project files (relative, POSIX) that importing library `module` may run or read.

    Raises:
        ValueError: `module` is no project module under `root`.
    """
    if _module_file(module, root) is None:
        raise ValueError(f"no project module {module} under {root}")
    return list(_closure(module, root))


def _files_content_digest(rels: Iterable[str], root: Path) -> str:
    files: list[Path] = []
    for rel in rels:
        path = root / rel
        files.extend(sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path])
    return files_digest(files, root)


def code_digest(stage: str, root: Path = PROJECT_ROOT) -> str:
    """Digest of the content of every file in `stage_code_files(stage)`."""
    return _files_content_digest(stage_code_files(stage, root), root)


def module_code_digest(module: str, root: Path = PROJECT_ROOT) -> str:
    """Digest of the content of every file in `module_code_files(module)`."""
    return _files_content_digest(module_code_files(module, root), root)


def file_digest(path: str | Path, length: int | None = 16) -> str:
    """SHA-256 of a file's bytes (its first `length` hex digits; all 64 with None, as a
    model registry tag records it), or the 16 of a folder's files and names."""
    path = Path(path)
    if path.is_dir():
        return files_digest((p for p in path.rglob("*") if p.is_file()), path)
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()[:length]


def _digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Fingerprint:
    """Digests of everything a run's result depends on, part by part.

    `parts` maps `params`, `code` and `file:<name>` to digests; `digest` hashes them all.
    Checkpoints and caches store `to_dict()`, so a mismatch can say which part changed.
    """

    parts: dict[str, str] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        stage: str,
        params: Any,
        files: Mapping[str, str | Path],
        *,
        code_module: str | None = None,
    ) -> Fingerprint:
        """The fingerprint of a `stage` run reading `params` and the named input `files`.

        Its code is the stage's, or with `code_module` only that library module's and its
        imports': for a run that should outlive edits to the rest of the stage (rank_check's
        stand-alone trainings against its correlations and plots).
        """
        code = module_code_digest(code_module) if code_module else code_digest(stage)
        parts = {"params": _digest(params), "code": code}
        parts.update({f"file:{name}": file_digest(path) for name, path in sorted(files.items())})
        return cls(parts)

    @property
    def digest(self) -> str:
        """One digest of every part."""
        return _digest(self.parts)

    def to_dict(self) -> dict[str, Any]:
        """What a checkpoint or cache stores: the digest and its parts."""
        return {"digest": self.digest, "parts": dict(self.parts)}

    def matches(self, stored: Any) -> bool:
        """Whether `stored` (a `to_dict()` read back, or anything older) is this fingerprint."""
        return isinstance(stored, dict) and stored.get("digest") == self.digest

    def changes(self, stored: Any) -> str:
        """Which parts differ from `stored`, for the "starting afresh" message."""
        old = stored.get("parts", {}) if isinstance(stored, dict) else {}
        if not old:
            return "it was made by an older version that recorded no fingerprint parts"
        names = sorted(k for k in self.parts.keys() | old.keys() if self.parts.get(k) != old.get(k))
        readable = [
            n.removeprefix("file:") + " (file)" if n.startswith("file:") else n for n in names
        ]
        return "changed: " + ", ".join(readable)


def is_code_path(dep: str) -> bool:
    """Whether a DAG dependency is project code (rather than data or another stage's output)."""
    return dep.split("/", 1)[0] in PACKAGES


def sync_dvc_yaml(text: str, root: Path = PROJECT_ROOT) -> str:
    """`dvc.yaml` text with each stage's code `deps` replaced by `stage_code_files(stage)`.

    DVC cannot read a list of dependencies from another file, so the lists are written into
    `dvc.yaml` itself; comments and every other line are kept. A stage's code entries go
    where its first one was (data dependencies after them keep their order).
    """
    out: list[str] = []
    stage: str | None = None
    deps_indent: int | None = None
    written: set[str] = set()  # stages whose code list is out already
    for line in text.splitlines():
        indent = len(line) - len(line.lstrip())
        stripped = line.strip()
        if indent == 2 and stripped.endswith(":") and not stripped.startswith("-"):
            stage = stripped[:-1]
        if deps_indent is not None:
            item = stripped[2:] if stripped.startswith("- ") else None
            if item is not None and indent > deps_indent:
                if is_code_path(item):
                    if stage not in written:
                        out.extend(
                            " " * indent + f"- {rel}" for rel in stage_code_files(stage, root)
                        )
                        written.add(stage)
                    continue
            elif stripped and indent <= deps_indent:
                deps_indent = None
        if stripped == "deps:":
            deps_indent = indent
        out.append(line)
    return "\n".join(out) + "\n"


def main(argv: list[str]) -> None:
    """Print the code files of stages as YAML lists, or `--sync-dvc` rewrite dvc.yaml's."""
    if argv[:1] == ["--sync-dvc"]:
        path = Path(argv[1] if len(argv) > 1 else "dvc.yaml")
        path.write_text(sync_dvc_yaml(path.read_text(encoding="utf-8")), encoding="utf-8")
        print(f"{path}: code deps of every stage written from the stages' imports")
        return
    for stage in argv or stage_names():
        print(f"{stage}:")
        for rel in stage_code_files(stage):
            print(f"  - {rel}")


if __name__ == "__main__":
    main(sys.argv[1:])
