"""Unit tests run torch on one thread: their tensors are tiny, and thread start-up on a 2-core
machine costs more than it saves (and a busy second core would slow every test)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread() -> Iterator[None]:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
