"""A search stopped by SIGTERM resumes to exactly the run it would have been.

Each "process" below loads the cache from disk and builds a fresh `SearchCheckpoint`, as a
re-run of the stage does. The stop is a real SIGTERM that an objective sends to this process
at its n-th computed evaluation: inside a generation, at the end of one, in random search.
"""

from __future__ import annotations

import json
import os
import signal

import pytest

from hyctas.search import Archive, Constraint, Objective
from hyctas.search.result import SearchCheckpoint
from hyctas.search.run import hypervolume_rows, run_searchers
from hyctas.search.selection import select_targets
from hyctas.train.signals import Preempted

from .conftest import HV_REFERENCE, FakeClock, proxy_accuracy, proxy_latency, proxy_params

BLOCK = {
    "population": 8,
    "generations": 5,
    "crossover_prob": 0.9,
    "mutation_rate": 0.15,
    "random_baseline": True,
    "efficiency_seeds": 1,
    "random_budget_factor": 1,
    "hv_reference": HV_REFERENCE,
}
# Two further seeds, random search to 2.5x NSGA-II's budget: every run joins the checkpoint.
EFFICIENCY = {**BLOCK, "efficiency_seeds": 3, "random_budget_factor": 2.5}
TARGETS = {"fast": {"front_quantile": 0.0}, "mid": {"front_quantile": 0.5}}


class Process:
    """One run of the search over the cache in `folder`, sending SIGTERM at `stop_at`."""

    def __init__(
        self,
        space,
        folder,
        stop_at: int | None = None,
        constrained: bool = False,
        block: dict = BLOCK,
    ):
        self.calls = 0
        self.block = block
        self.stop_at = stop_at
        self.objectives = [
            Objective("acc", self._counted(proxy_accuracy), "max"),
            Objective("lat_ms", proxy_latency, "min"),
        ]
        # a bound that binds: infeasible individuals take part in NSGA-II's selection
        self.constraints = [Constraint("params", proxy_params, upper=6.0)] if constrained else []
        self.cache = folder / "archive.csv"
        self.archive = Archive.load(
            self.cache, self.objectives, self.constraints, missing_ok=True, clock=FakeClock()
        )
        self.checkpoint = SearchCheckpoint(self.cache, "fp")
        self.space = space

    def _counted(self, fn):
        def wrapped(arch):
            self.calls += 1
            if self.calls == self.stop_at:
                os.kill(os.getpid(), signal.SIGTERM)  # what SLURM sends before preemption
            return fn(arch)

        return wrapped

    def run_all(self):
        """Every seed's searches, then what the stage does once its outputs are written."""
        pairs = run_searchers(
            self.space,
            self.objectives,
            self.constraints,
            self.block,
            0,
            self.archive,
            self.checkpoint,
            progress=False,
        )
        self.checkpoint.finish()
        return pairs

    def run(self):
        """The search's own pair (NSGA-II, random search)."""
        pair = self.run_all()[0]
        return pair.nsga, pair.random


def outcome(process, nsga, rand) -> dict:
    """Everything the stage writes that a resume must not change."""
    chosen = select_targets(
        process.archive, TARGETS, accuracy="acc", latency="lat_ms", among=nsga.evaluated_ids
    )
    return {
        "cache": process.cache.read_bytes(),
        "rows": process.archive.to_frame(runs={"nsga2": nsga.evaluated_ids}),
        "nsga": nsga,
        "random": rand,
        "hypervolume": hypervolume_rows(nsga, rand),
        "targets": {name: s.arch_id for name, s in chosen.items()},
    }


def straight_run(space, folder, constrained: bool = False):
    """The uninterrupted run's outcome, and how many evaluations NSGA-II computed in it."""
    folder.mkdir()
    process = Process(space, folder, constrained=constrained)
    nsga, rand = process.run()
    return outcome(process, nsga, rand), nsga.n_computed


@pytest.fixture
def straight(space, tmp_path):
    return straight_run(space, tmp_path / "straight")


@pytest.mark.parametrize(
    ("stops", "constrained"),
    [
        pytest.param(lambda n: [12], False, id="inside-generation-2"),
        pytest.param(lambda n: [8], False, id="end-of-generation-1"),
        pytest.param(lambda n: [n + 3], False, id="random-search"),
        pytest.param(lambda n: [5, 7, 6], False, id="three-stops"),
        pytest.param(lambda n: [3, 10, n - 2, 4], True, id="constrained-four-stops"),
    ],
)
def test_stopped_and_resumed_search_equals_the_uninterrupted_one(
    space, tmp_path, stops, constrained
):
    expected, nsga_computed = straight_run(space, tmp_path / "straight", constrained)
    folder = tmp_path / "stopped"
    folder.mkdir()
    for stop_at in stops(nsga_computed):
        process = Process(space, folder, stop_at=stop_at, constrained=constrained)
        with pytest.raises(Preempted, match="SIGTERM received .*run the stage again to resume"):
            process.run()
        state = json.loads(process.checkpoint.path.read_text())
        assert state["fingerprint"] == "fp" and "nsga2" in state["methods"]
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # handlers given back
    process = Process(space, folder, constrained=constrained)
    nsga, rand = process.run()
    got = outcome(process, nsga, rand)
    assert not process.checkpoint.path.exists()  # done: only the cache is left
    assert got["rows"].equals(expected["rows"])  # ids, values, generations, methods, order
    assert got["cache"] == expected["cache"]
    assert got["nsga"] == expected["nsga"]  # front, hv/evals history and every counter
    assert got["random"] == expected["random"]
    assert got["hypervolume"] == expected["hypervolume"]
    assert got["targets"] == expected["targets"]


def test_a_stop_inside_a_generation_keeps_its_evaluations(space, tmp_path):
    process = Process(space, tmp_path, stop_at=12)
    with pytest.raises(Preempted, match="in nsga2 generation 2/5"):
        process.run()
    assert len(Archive.load(process.cache, process.objectives)) == 12  # 8 + 4 of generation 2
    state = json.loads(process.checkpoint.path.read_text())["methods"]["nsga2"]
    assert state["algorithm"]["generation"] == 1 and len(state["run"]["asked"]) == 8
    resumed = Process(space, tmp_path)
    resumed.run()
    assert resumed.calls == resumed.archive.computed  # replayed rows come from the cache
    assert resumed.archive.hits >= 4


def test_progress_is_ignored_under_another_fingerprint_or_other_settings(space, tmp_path, straight):
    _, nsga_computed = straight
    process = Process(space, tmp_path, stop_at=nsga_computed + 3)  # inside random search
    with pytest.raises(Preempted, match="in random search chunk 1/5"):
        process.run()
    assert SearchCheckpoint(process.cache, "another fingerprint").progress("nsga2", {}) is None
    same = SearchCheckpoint(process.cache, "fp")
    state = json.loads(same.path.read_text())
    assert state["order"] == ["nsga2", "random"]
    nsga, rand = (state["methods"][m]["settings"] for m in state["order"])
    assert same.progress("nsga2", {**nsga, "generations": 6}) is None
    assert same.progress("nsga2", nsga) is not None and same.progress("random", rand) is not None
    same.restart("nsga2")  # NSGA-II starting afresh: random search must start afresh too
    assert same.progress("nsga2", nsga) is None and same.progress("random", rand) is None
    process.checkpoint.path.write_text("{not json")
    assert SearchCheckpoint(process.cache, "fp").progress("nsga2", nsga) is None


def test_a_search_stopped_after_it_ended_resumes_with_nothing_left_to_do(space, tmp_path):
    process = Process(space, tmp_path)
    first = run_searchers(
        space, process.objectives, [], BLOCK, 0, process.archive, process.checkpoint, progress=False
    )  # ... and the stage was stopped before its outputs were written (no finish())
    assert process.checkpoint.path.is_file()
    again = Process(space, tmp_path)
    assert again.run_all() == first and again.calls == 0
    assert not again.checkpoint.path.exists()


def efficiency_outcome(process, pairs) -> dict:
    """What the stage writes from every seed's runs: membership columns and efficiency."""
    from hyctas.search.efficiency import measure
    from hyctas.search.run import visited

    runs = visited(pairs)
    eff = measure(process.archive, pairs, EFFICIENCY["random_budget_factor"])
    return {
        "cache": process.cache.read_bytes(),
        "rows": process.archive.to_frame(runs=runs),
        "pairs": pairs,
        "summary": eff.summary,
        "csv": eff.rows,
    }


def test_efficiency_seeds_resume_like_the_search(space, tmp_path):
    """Stops inside the further seeds' NSGA-II and random runs: the rerun ends like a run never
    stopped, and the state file names every run in the order they ran."""
    straight = Process(space, tmp_path / "straight", block=EFFICIENCY)
    (tmp_path / "straight").mkdir()
    pairs = straight.run_all()
    expected = efficiency_outcome(straight, pairs)
    assert [p.index for p in pairs] == [0, 1, 2]
    assert [(p.nsga_seed, p.random_seed) for p in pairs] == [(0, 1), (2, 3), (4, 5)]
    for p in pairs:  # random search went on to 2.5x NSGA-II's evaluations
        assert p.random.n_evaluations == round(2.5 * p.nsga.n_evaluations)
        assert p.random.evals_history[: len(p.nsga.evals_history)] == p.nsga.evals_history
    assert set(visited_columns(expected["rows"])) == {
        "in_nsga2", "in_random", "in_nsga2_s1", "in_random_s1", "in_nsga2_s2", "in_random_s2",
    }  # fmt: skip
    computed = straight.calls
    folder = tmp_path / "stopped"
    folder.mkdir()
    # at the n-th computed evaluation overall: seed 0's NSGA-II, seed 1, seed 2's random search
    for nth in (5, computed // 2, computed - 3):
        process = Process(space, folder, block=EFFICIENCY)
        process.stop_at = nth - len(process.archive)  # its cache holds what ran before
        with pytest.raises(Preempted, match="run the stage again to resume"):
            process.run_all()
    state = json.loads(process.checkpoint.path.read_text())
    assert state["order"] == ["nsga2", "random", "nsga2_s1", "random_s1", "nsga2_s2", "random_s2"]
    process = Process(space, folder, block=EFFICIENCY)
    got = efficiency_outcome(process, process.run_all())
    assert got["rows"].equals(expected["rows"]) and got["cache"] == expected["cache"]
    assert got["pairs"] == expected["pairs"]
    assert got["summary"] == expected["summary"] and got["csv"] == expected["csv"]


def visited_columns(frame) -> list[str]:
    return [c for c in frame.columns if c.startswith("in_")]
