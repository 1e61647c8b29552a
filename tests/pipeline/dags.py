"""Read both DAGs into one comparable form: {job name: (command, inputs, outputs, params keys)},
and read what a finished tiny run left (declared outputs, stage runs, what an edit makes stale)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from tests.pipeline.tiny import run

REPO = Path(__file__).resolve().parents[2]
LOG_REDIRECT = re.compile(r"\s+2>\s*\S+\s*$")


@dataclass(frozen=True)
class Job:
    command: str
    inputs: frozenset[str]
    outputs: frozenset[str]


def _norm(command: str) -> str:
    return " ".join(LOG_REDIRECT.sub("", command).split())


def dvc_jobs(repo: Path = REPO) -> dict[str, Job]:
    """Stages of dvc.yaml as DVC itself expands them (`foreach` included)."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    jobs = {}
    with Repo(str(repo)) as dvc:
        for stage in dvc.index.stages:
            if not stage.cmd:
                continue
            deps = {d.def_path for d in stage.deps if not isinstance(d, ParamsDependency)}
            jobs[stage.name.replace("@", "/")] = Job(
                _norm(stage.cmd), frozenset(deps), frozenset(o.def_path for o in stage.outs)
            )
    return jobs


def dvc_params(repo: Path = REPO) -> dict[str, frozenset[str]]:
    """The params keys each DVC stage depends on."""
    from dvc.dependency.param import ParamsDependency
    from dvc.repo import Repo

    keys = {}
    with Repo(str(repo)) as dvc:
        for stage in dvc.index.stages:
            found = set()
            for dep in stage.deps:
                if isinstance(dep, ParamsDependency):
                    found |= set(dep.params or [])
            keys[stage.name.replace("@", "/")] = frozenset(found)
    return keys


def _dry_run(repo: Path, configfile: Path | None) -> list[tuple[str, dict[str, str], str]]:
    """(job name, printed fields, shell command) of each job of a forced Snakemake dry run;
    fanned-out rules are named `rule/<wildcard values>`."""
    bin_dir = Path(sys.executable).parent
    cmd = [str(bin_dir / "snakemake"), "-n", "-p", "-F", "--cores", "1"]
    if configfile:
        cmd += ["--configfile", str(configfile)]
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    text = subprocess.run(cmd, cwd=repo, capture_output=True, text=True, check=True, env=env).stdout
    jobs = []
    for block in re.split(r"\n(?=(?:local)?rule \w+:)", text):
        head = re.match(r"(?:local)?rule (\w+):", block)
        if not head or head.group(1) == "all":
            continue
        fields = dict(re.findall(r"^\s{4}(\w+): (.*)$", block, flags=re.M))
        shell = re.search(r"^Shell command: (.*)$", block, flags=re.M)
        name = head.group(1)
        if "wildcards" in fields:
            name += "/" + ",".join(v.split("=", 1)[1] for v in fields["wildcards"].split(", "))
        jobs.append((name, fields, shell.group(1)))
    return jobs


def snakemake_jobs(repo: Path = REPO, configfile: Path | None = None) -> dict[str, Job]:
    """Jobs of a forced Snakemake dry run (`rule/<wildcard values>` for fanned-out rules)."""

    def split(s: str) -> frozenset[str]:
        return frozenset(x.strip() for x in s.split(",") if x.strip())

    return {
        name: Job(_norm(shell), split(fields.get("input", "")), split(fields.get("output", "")))
        for name, fields, shell in _dry_run(repo, configfile)
    }


def snakemake_resources(repo: Path = REPO, configfile: Path | None = None) -> dict[str, dict]:
    """The resources of each job as a dry run prints them (what a cluster executor submits)."""
    return {
        name: dict(item.split("=", 1) for item in fields.get("resources", "").split(", ") if item)
        for name, fields, _ in _dry_run(repo, configfile)
    }


# Pictures and tables are drawn by `dvc plots show` and shown by `snakemake --report`, all
# but these: files for programs, not people (the latency table opens with a `#` header line).
LOOKED_AT = (".png", ".csv")
NOT_PLOTS = frozenset({"results/profile_latency/latency_table.csv"})


def dvc_plot_ids(repo: Path = REPO) -> dict[str, frozenset[str]]:
    """Each plot `dvc plots show` draws (its id: a file path, or a top-level plot's title) and
    the files it reads: stage outputs under `plots:` (`foreach` expanded), then dvc.yaml's
    top-level `plots:` (a file path, or a title whose `y` maps files to columns)."""
    import yaml
    from dvc.repo import Repo

    ids: dict[str, frozenset[str]] = {}
    with Repo(str(repo)) as dvc:
        for stage in dvc.index.stages:
            ids |= {o.def_path: frozenset({o.def_path}) for o in stage.outs if o.plot}
    for entry in yaml.safe_load((repo / "dvc.yaml").read_text()).get("plots", []):
        plot_id, props = (entry, None) if isinstance(entry, str) else next(iter(entry.items()))
        y = (props or {}).get("y")
        ids[plot_id] = frozenset(y) if isinstance(y, dict) else frozenset({plot_id})
    return ids


def snakemake_report_outputs(repo: Path = REPO) -> dict[str, bool]:
    """Each output path of workflow/rules/*.smk (wildcards kept) and whether `report(...)`
    wraps it, so that `snakemake --report` shows it."""
    found = {}
    for smk in sorted((repo / "workflow" / "rules").glob("*.smk")):
        text = smk.read_text()
        for block in re.findall(r"^    output:\n((?:        .*\n|\n)*)", text, flags=re.M):
            # name="path", or name=flag("path", ...) with flag report, directory, temp...
            for flag, path in re.findall(r"^        \w+=(?:(\w+)\()?\s*\"([^\"]+)\"", block, re.M):
                found[path] = flag == "report"
    return found


def snakemake_params(repo: Path = REPO) -> dict[str, frozenset[str]]:
    """The params keys each rule declares through `params_of(...)` in workflow/rules/*.smk."""
    keys = {}
    for smk in sorted((repo / "workflow" / "rules").glob("*.smk")):
        for rule, body in re.findall(
            r"^rule (\w+):\n((?:[ \t].*\n|\n)*)", smk.read_text(), flags=re.M
        ):
            call = re.search(r"params_of\(([^)]*)\)", body)
            if call:
                keys[rule] = frozenset(re.findall(r"f?\"([^\"]+)\"", call.group(1)))
    return keys


def declared_outputs(repo) -> set[str]:
    return {out for job in dvc_jobs(repo).values() for out in job.outputs}


def stale_after_editing(repo, library_file: str, *command: str) -> str:
    """What `command` prints (a status or dry run) with `library_file` edited, then restored."""
    path = repo / library_file
    original = path.read_text()
    try:
        path.write_text(original + "\n# an edit\n")
        return run(repo, *command).stdout
    finally:
        path.write_text(original)


def stage_runs(repo) -> list:
    """The MLflow runs of stage executions in the tiny repo's store."""
    from mlflow.tracking import MlflowClient

    params = yaml.safe_load((repo / "params.yaml").read_text())
    client = MlflowClient(f"sqlite:///{repo / 'mlflow.db'}")
    exp = client.get_experiment_by_name(params["base"]["mlflow_experiment"])
    return client.search_runs([exp.experiment_id], "tags.`hyctas.kind` = 'stage'")
