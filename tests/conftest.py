from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.stack import Stack


@pytest.fixture
def stack(tmp_path) -> Iterator[Stack]:
    """A running API over a fresh SQLite file, with a token for every role."""
    s = Stack(tmp_path / "data")
    s.start_api()
    yield s
    s.stop()
