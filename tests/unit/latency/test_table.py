"""The table file: round trip, metadata, digest, clear errors on bad files."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyctas.errors import DataError
from hyctas.latency.keys import OpKey
from hyctas.latency.table import LatencyKeyError, LatencyTable
from hyctas.latency.timing import Timing

from .conftest import space_block

ENTRIES = {
    OpKey("conv", 4, 8, 8, 16, 2): Timing(0.25, 0.2, 0.3, 0.19, 5),
    OpKey("stem", 3, 8, 64, 128, 8): Timing(1.0 / 3.0, 0.3, 0.4, 0.29, 5),
    OpKey("fusion", 30, 16, 8, 16, 1, "0:8|2:4,8,32"): Timing(2.5, 2.0, 3.0, 1.9, 5),
}
META = {"statistic": "median", "height": 64, "width": 128, "num_classes": 3,
        "search_space": space_block(), "device": "cpu: test", "threads": 1}  # fmt: skip


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "table.csv"
    table = LatencyTable(ENTRIES, META)
    table.save(path)
    loaded = LatencyTable.load(path)
    assert dict(loaded.entries) == ENTRIES  # floats exactly, variant with commas intact
    assert loaded.meta == META and loaded.digest() == table.digest()
    assert loaded.input_size == (64, 128) and loaded.num_classes == 3
    assert loaded.space_config().fch == 1
    assert loaded.lookup(OpKey("conv", 4, 8, 8, 16, 2)) == 0.25
    assert [p.name for p in path.parent.iterdir()] == ["table.csv"]  # no temp files left
    header = path.read_text().splitlines()[1]
    assert header.startswith("op,c_in,c_out,h,w,stride,variant,median_ms")


def test_statistic_selects_the_column() -> None:
    table = LatencyTable(ENTRIES, META | {"statistic": "min"})
    assert table.lookup(OpKey("conv", 4, 8, 8, 16, 2)) == 0.19


def test_digest_changes_with_content() -> None:
    other = dict(ENTRIES) | {OpKey("conv", 4, 8, 8, 16, 2): Timing(0.26, 0.2, 0.3, 0.19, 5)}
    assert LatencyTable(other, META).digest() != LatencyTable(ENTRIES, META).digest()


def test_missing_key_names_it_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "table.csv"
    LatencyTable(ENTRIES, META).save(path)
    with pytest.raises(LatencyKeyError) as err:
        LatencyTable.load(path).lookup(OpKey("sa", 4, 8, 8, 16, 1))
    message = str(err.value)
    assert str(path) in message and "sa(c_in=4, c_out=8, 8x16, s1)" in message
    assert "re-run profile_latency" in message and "search_space" in message


def test_bad_files(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="cannot read the latency table"):
        LatencyTable.load(tmp_path / "missing.csv")
    plain = tmp_path / "plain.csv"
    plain.write_text("op,c_in\nconv,3\n")
    with pytest.raises(DataError, match="not a latency table"):
        LatencyTable.load(plain)
    broken = tmp_path / "broken.csv"
    LatencyTable(ENTRIES, META).save(broken)
    broken.write_text(broken.read_text().replace("0.25", "fast"))
    with pytest.raises(DataError, match="corrupt latency table"):
        LatencyTable.load(broken)
