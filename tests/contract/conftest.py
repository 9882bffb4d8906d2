"""One contract suite for every durable-store backend: `store_factory` yields a fresh, initialized store."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from sessionward.stores.sql import SqlStore, sqlite_url

REVOCATION_TTL = 305.0
BACKENDS = ["sqlite"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(params=BACKENDS)
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SqlStore]:
    factories: dict[str, Callable[[], SqlStore]] = {
        "sqlite": lambda: SqlStore(sqlite_url(tmp_path), revocation_ttl=REVOCATION_TTL),
    }
    s = factories[request.param]()
    await s.initialize()
    yield s
    await s.close()
