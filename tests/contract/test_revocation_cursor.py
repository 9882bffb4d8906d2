"""Issue 11 item 4, on every backend: a reader of the revocation feed moves past the entries that expired
instead of rescanning them every poll, and still never misses one that matters."""

from __future__ import annotations

from pathlib import Path

import pytest

from sessionward.clock import FakeClock
from sessionward.config import load_settings
from sessionward.services.container import open_services
from sessionward.stores import _sql_sessions
from sessionward.stores.sql import SqlStore
from tests.contract.conftest import REVOCATION_TTL
from tests.contract.test_refresh_grace import services_env
from tests.contract.test_store_contract import T0, a_session, a_user

pytestmark = pytest.mark.anyio
LATE = T0 + REVOCATION_TTL + 1000  # every entry ended at T0 + 1 has passed its keep time


async def end_sessions(store: SqlStore, n: int, at: float, name: str = "alice") -> list[str]:
    user = await a_user(store, name)
    sids = []
    for i in range(n):
        session, refresh = a_session(user, i)
        await store.create_session(session, refresh, [], at)
        await store.end_sessions([session.sid], "logout", "user", [], at)
        sids.append(session.sid)
    return sids


async def test_a_late_reader_moves_past_expired_entries(store: SqlStore) -> None:
    await end_sessions(store, 3, T0 + 1)
    head = max(e.seq for e in await store.revocations_since(0, T0 + 1))
    late = await store.revocations_since(0, LATE)
    assert late == []
    assert late.scanned_to == head  # before: the cursor stayed at 0 and every poll rescanned these rows
    assert not late.full
    again = await store.revocations_since(late.scanned_to, LATE)
    assert again == [] and again.scanned_to == head
    # An entry that matters, written after the expired ones, is still handed over.
    [live] = await end_sessions(store, 1, LATE, name="bob")
    after = await store.revocations_since(late.scanned_to, LATE)
    assert [(e.kind, e.subject) for e in after] == [("sid", live)]
    assert after.scanned_to == after[0].seq > head


async def test_a_node_started_late_advances_its_cursor_page_by_page(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = load_settings(None, services_env(database_url), data_dir=str(tmp_path))
    first = await open_services(settings, FakeClock(T0))
    try:
        await end_sessions(first.store, 5, T0 + 1)  # type: ignore[arg-type]
        head = max(e.seq for e in await first.store.revocations_since(0, T0 + 1))
    finally:
        await first.close()
    monkeypatch.setattr(_sql_sessions, "REVOCATION_PAGE", 2)  # three pages of expired entries
    node = await open_services(settings, FakeClock(LATE))
    try:
        await node.sync_revocations()
        assert node.revocations.cursor == head  # before: 0, and every 50 ms poll rescanned all of them
        assert node.revocations.known() == 0  # skipped, not loaded
        assert node.revocations.in_sync()
        [live] = await end_sessions(node.store, 1, LATE, name="bob")  # type: ignore[arg-type]
        await node.sync_revocations()
        assert node.revocations.is_revoked(live, "bob", 0.0)
        assert node.revocations.cursor > head
    finally:
        await node.close()
