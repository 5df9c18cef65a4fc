from __future__ import annotations

from collections.abc import Iterator

import pytest

from kazsat.stack import Stack
from tests.databases import STORES, stack_env


@pytest.fixture(params=STORES)
def store_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """Each test that asks for it runs on SQLite and on PostgreSQL (a database of its own)."""
    with stack_env(request.param) as env:
        yield env


@pytest.fixture(scope="module", params=STORES)
def module_store_env(request: pytest.FixtureRequest) -> Iterator[dict[str, str]]:
    """As store_env, for a module's shared stack: the module runs once per store."""
    with stack_env(request.param) as env:
        yield env


@pytest.fixture
def stack(tmp_path, store_env: dict[str, str]) -> Iterator[Stack]:
    """A running API over a fresh database (SQLite, then PostgreSQL), a token for every role."""
    s = Stack(tmp_path / "data", extra_env=store_env)
    s.start_api()
    yield s
    s.stop()
