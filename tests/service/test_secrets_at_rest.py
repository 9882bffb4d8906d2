"""The key-encryption key through the real command and server: made owner-only on the first run, refused when
others may read it, missing or wrong; `keys rotate-kek` with a key file and with the environment; `audit verify`
against someone who rewrites the trail; typed usernames kept only as a keyed digest."""

from __future__ import annotations

import hashlib
import json
import sqlite3
import stat
from collections.abc import Callable
from pathlib import Path

from sessionward.core.audit import GENESIS_HASH, AuditEvent, chain
from sessionward.crypto.kek import Kek
from tests.service.conftest import Server
from tests.service.helpers import PASSWORD
from tests.service.test_audit_trail import records
from tests.service.test_cli import one_line, run


def kek_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if line and not line.startswith("#")]


def test_the_kek_file_is_made_owner_only_and_refused_once_others_may_read_it(tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert run(tmp_path, "users", "add", "alice", stdin=PASSWORD, data_dir=data).returncode == 0
    kek = data / "kek"
    assert stat.S_IMODE(kek.stat().st_mode) == 0o600
    assert len(kek_lines(kek)) == 1
    kek.chmod(0o644)
    for command in (("keys", "list"), ("audit", "verify"), ("serve",)):
        done = run(tmp_path, *command, data_dir=data)
        assert done.returncode == 2, done.stderr
        line = one_line(done.stderr)
        assert line.startswith("sessionward: configuration error: storage.kek_file:")
        assert "mode 0644" in line and "chmod 600" in line
        assert kek_lines(kek)[0] not in done.stdout + done.stderr


def test_a_missing_kek_stops_every_command_and_is_not_replaced(tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert run(tmp_path, "users", "add", "alice", stdin=PASSWORD, data_dir=data).returncode == 0
    (data / "kek").unlink()
    for command in (("keys", "list"), ("serve",)):
        done = run(tmp_path, *command, data_dir=data)
        assert done.returncode == 2, done.stderr
        assert "storage.kek_file:" in done.stderr and "no such file" in done.stderr
    assert not (data / "kek").exists()  # a lost key is never silently replaced by a new one


def test_a_wrong_kek_is_refused_naming_the_key_the_data_is_under(tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert run(tmp_path, "users", "add", "alice", stdin=PASSWORD, data_dir=data).returncode == 0
    in_use = Kek(_material(kek_lines(data / "kek")[0]))
    stranger = Kek.generate()
    done = run(tmp_path, "keys", "list", env={"SESSIONWARD_STORAGE__KEK": stranger.text}, data_dir=data)
    assert done.returncode == 2, done.stderr
    line = one_line(done.stderr)
    assert line.startswith("sessionward: configuration error: storage.kek:")
    assert in_use.kek_id in line and stranger.kek_id in line
    assert stranger.text not in line and in_use.text not in line


def _material(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=")


def test_rotate_kek_with_the_key_file(tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert run(tmp_path, "users", "add", "alice", stdin=PASSWORD, data_dir=data).returncode == 0
    assert run(tmp_path, "keys", "rotate", data_dir=data).returncode == 0  # two signing keys
    kek = data / "kek"
    old = kek.read_text()
    done = run(tmp_path, "keys", "rotate-kek", data_dir=data)
    assert done.returncode == 0, done.stderr
    assert "re-encrypted 2 signing keys and 0 TOTP factors" in one_line(done.stdout)
    new = kek.read_text()
    assert len(kek_lines(kek)) == 1 and kek_lines(kek) != [line for line in old.splitlines() if line[:1] != "#"]
    assert stat.S_IMODE(kek.stat().st_mode) == 0o600
    assert run(tmp_path, "keys", "list", data_dir=data).returncode == 0
    assert run(tmp_path, "audit", "verify", data_dir=data).returncode == 0
    kek.write_text(old)  # the old key alone no longer opens anything
    refused = run(tmp_path, "keys", "list", data_dir=data)
    assert refused.returncode == 2 and "is not configured" in refused.stderr
    kek.write_text(new)
    assert run(tmp_path, "keys", "list", data_dir=data).returncode == 0


def test_rotate_kek_with_the_environment(tmp_path: Path) -> None:
    """Several nodes: the new key goes first in SESSIONWARD_STORAGE__KEK beside the old, then rotate-kek."""
    data = tmp_path / "d"
    first = run(tmp_path, "keys", "new-kek").stdout.strip()
    second = run(tmp_path, "keys", "new-kek").stdout.strip()
    assert len(first) == 43 and first != second
    env = {"SESSIONWARD_STORAGE__KEK": first}
    assert run(tmp_path, "users", "add", "alice", stdin=PASSWORD, env=env, data_dir=data).returncode == 0
    assert not (data / "kek").exists()
    both = {"SESSIONWARD_STORAGE__KEK": f"{second} {first}"}
    done = run(tmp_path, "keys", "rotate-kek", env=both, data_dir=data)
    assert done.returncode == 0, done.stderr
    assert f"{Kek(_material(first)).kek_id} may now be removed from storage.kek" in one_line(done.stdout)
    assert run(tmp_path, "keys", "list", env={"SESSIONWARD_STORAGE__KEK": second}, data_dir=data).returncode == 0
    assert run(tmp_path, "keys", "list", env=env, data_dir=data).returncode == 2
    shown = run(tmp_path, "config", "show", env=both, data_dir=data)
    assert 'kek = "***"' in shown.stdout and first not in shown.stdout and second not in shown.stdout


def _rows(db: Path) -> list[tuple[int, float, str, str, str, str]]:
    con = sqlite3.connect(db)
    rows = con.execute("SELECT seq, at, event, data, prev_hash, hash FROM audit_log ORDER BY seq").fetchall()
    con.close()
    return rows


def _forge(db: Path, start: int, rows: list[tuple[int, float, str, str, str, str]], only_one: bool) -> None:
    """Rewrites record `start` (and, unless `only_one`, every later one) with recomputed SHA-256 hashes, and
    moves the head onto the last: everything someone with the database but without the key can do."""
    con = sqlite3.connect(db)
    prev_seq, prev_hash = (start - 1, rows[start - 2][5]) if start > 1 else (0, GENESIS_HASH)
    last = rows[-1] if only_one else None
    with con:
        for seq, at, _event, _data, _prev, _hash in rows[start - 1 : start if only_one else None]:
            (forged,) = chain(prev_seq, prev_hash, at, [AuditEvent("login.succeeded", {"user_id": "mallory"})])
            con.execute(
                "UPDATE audit_log SET event=?, data=?, prev_hash=?, hash=? WHERE seq=?",
                (forged.event, forged.data_json, forged.prev_hash, forged.hash, seq),
            )
            prev_seq, prev_hash = forged.seq, forged.hash
        if last is None:
            con.execute("UPDATE audit_head SET seq=?, hash=? WHERE id=1", (prev_seq, prev_hash))
    con.close()


def test_audit_verify_names_the_record_rewritten_by_someone_without_the_key(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    server = make_server()
    server.add_user("alice", PASSWORD)
    with server.client() as c:
        for _ in range(4):
            server.login(c, "alice", "wrong password here")
    server_db = server.data_dir / "sessionward.db"
    assert run(tmp_path, "audit", "verify", data_dir=server.data_dir).returncode == 0
    rows = _rows(server_db)
    assert len(rows) >= 6
    from tests.service.test_audit_trail import _copy

    for name, only_one in (("one", True), ("tail", False)):
        copy = tmp_path / name
        copy.mkdir()
        _copy(server_db, copy / "sessionward.db")
        (copy / "kek").write_bytes((server.data_dir / "kek").read_bytes())
        (copy / "kek").chmod(0o600)
        _forge(copy / "sessionward.db", 4, rows, only_one)
        done = run(tmp_path, "audit", "verify", data_dir=copy)
        assert done.returncode == 1, done.stderr
        assert "first bad record is 4: record 4 was altered" in one_line(done.stderr)


def test_typed_usernames_are_recorded_as_a_keyed_digest(make_server: Callable[..., Server]) -> None:
    server = make_server(env={"SESSIONWARD_LOGIN__MAX_FAILURES_PER_ACCOUNT_IP": "2"})
    typed = "Correct Horse Battery Staple"  # a password typed into the username field
    with server.client() as c:
        assert [server.login(c, name, "x").status_code for name in (typed, typed.upper(), typed)] == [401, 401, 429]
    trail = records(server)
    failed = [json.loads(r.data_json)["unknown_user"] for r in trail if r.event == "login.failed"]
    throttled = [json.loads(r.data_json)["account"] for r in trail if r.event == "login.throttled"]
    # One typed name (as the throttles fold it) gives one value within a server: failures still correlate.
    assert len(set(failed + throttled)) == 1 and len(failed) == 2 and len(throttled) == 1
    blob = json.dumps([r.data_json for r in trail])
    for variant in (typed, typed.casefold(), typed.upper()):
        digest = hashlib.sha256(variant.encode()).hexdigest()
        assert digest[:32] not in blob and digest not in blob  # no dictionary of SHA-256 can match it
        assert variant not in blob
    other = make_server(name="other")
    with other.client() as c:
        assert other.login(c, typed, "x").status_code == 401
    elsewhere = [json.loads(r.data_json)["unknown_user"] for r in records(other) if r.event == "login.failed"]
    assert elsewhere != failed[:1]  # keyed by each deployment's own server secret
