"""The audit trail records authentication events, holds no secrets, and `audit verify` catches tampering."""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import anyio
import httpx2

from sessionward.core.audit import AuditRecord
from sessionward.services.container import open_services
from tests.service.conftest import Server

PASSWORD = "correct horse battery staple"


def records(server: Server) -> list[AuditRecord]:
    async def work() -> list[AuditRecord]:
        svc = await open_services(server.settings)
        try:
            return [r async for r in svc.store.audit_records()]
        finally:
            await svc.close()

    return anyio.run(work)


def audit_verify(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sessionward", "audit", "verify", "--data-dir", str(data_dir)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_events_are_recorded_without_secrets(server: Server, client: httpx2.Client) -> None:
    server.add_user("alice", PASSWORD)
    server.login(client, "alice", "wrong password here")
    server.login(client, "ghost", "wrong password here")
    body = server.login(client, "alice", PASSWORD).json()
    client.get("/v1/me", headers={"Authorization": "Bearer not.a.token"})
    trail = records(server)
    events = [r.event for r in trail]
    for expected in (
        "key.created",
        "user.created",
        "login.failed",
        "login.succeeded",
        "session.created",
        "token.rejected",
    ):
        assert expected in events
    blob = json.dumps([(r.event, r.data_json) for r in trail])
    for secret in (PASSWORD, "wrong password here", body["access_token"], body["refresh_token"], body["session_id"]):
        assert secret not in blob
    rejected = [json.loads(r.data_json) for r in trail if r.event == "token.rejected"]
    assert rejected[0]["reason"]


def test_audit_verify_passes_then_names_the_altered_removed_or_reordered_record(
    server: Server, client: httpx2.Client
) -> None:
    server.add_user("alice", PASSWORD)
    for _ in range(3):
        server.login(client, "alice", "wrong password here")
    server.login(client, "alice", PASSWORD)
    ok = audit_verify(server.data_dir)
    assert ok.returncode == 0, ok.stderr
    assert "intact" in ok.stdout

    db = server.data_dir / "sessionward.db"

    def tampered(name: str, *statements: tuple[str, tuple[object, ...]]) -> subprocess.CompletedProcess[str]:
        """A copy of the live database with the statements applied, checked by `audit verify`."""
        copy_dir = server.data_dir.parent / name
        copy_dir.mkdir()
        _copy(db, copy_dir / "sessionward.db")
        shutil.copy2(server.data_dir / "kek", copy_dir / "kek")  # the key-encryption key goes with the data
        con = sqlite3.connect(copy_dir / "sessionward.db")
        with con:
            for sql, params in statements:
                con.execute(sql, params)
        con.close()
        return audit_verify(copy_dir)

    altered = tampered("altered", ("UPDATE audit_log SET data = ? WHERE seq = 4", ('{"user_id":"x"}',)))
    assert altered.returncode == 1
    assert "record is 4" in altered.stderr

    removed = tampered("removed", ("DELETE FROM audit_log WHERE seq = 3", ()))
    assert removed.returncode == 1
    assert "record is 3" in removed.stderr

    con = sqlite3.connect(db)
    five, six = (
        con.execute("SELECT at, event, data, prev_hash, hash FROM audit_log WHERE seq = ?", (seq,)).fetchone()
        for seq in (5, 6)
    )
    con.close()
    swap = "UPDATE audit_log SET at=?, event=?, data=?, prev_hash=?, hash=? WHERE seq=?"
    reordered = tampered("reordered", (swap, (*six, 5)), (swap, (*five, 6)))
    assert reordered.returncode == 1
    assert "record is 5" in reordered.stderr

    last = tampered("last", ("DELETE FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)", ()))
    assert last.returncode == 1
    assert "first bad record" in last.stderr

    untouched = tampered("untouched")
    assert untouched.returncode == 0


def _copy(source: Path, target: Path) -> None:
    """SQLite's own backup: it sees what is still in the write-ahead log."""
    src, dst = sqlite3.connect(source), sqlite3.connect(target)
    with dst:
        src.backup(dst)
    src.close()
    dst.close()
