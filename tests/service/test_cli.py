"""The `sessionward` command through real subprocesses, on the same state a real server uses."""

from __future__ import annotations

import datetime
import os
import sqlite3
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import pyotp
import pytest

from sessionward.http.tls import ensure_self_signed
from tests.service.conftest import FAST_HASH, Server
from tests.service.helpers import PASSWORD, bearer

NEW_PASSWORD = "a long enough password"


def run(
    cwd: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None, data_dir: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m sessionward ARGS [--data-dir DIR]` in `cwd`, with no SESSIONWARD_* variable but `env`'s."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("SESSIONWARD_")}
    environ.pop("COLUMNS", None)  # the width of a pipe, as a script would see it
    environ.update({**FAST_HASH, **(env or {})})
    tail = ["--data-dir", str(data_dir)] if data_dir is not None else []
    done = subprocess.run(
        [sys.executable, "-m", "sessionward", *args, *tail],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
        env=environ,
    )
    assert "Traceback" not in done.stdout + done.stderr, done.stderr
    return done


def one_line(text: str) -> str:
    return " ".join(text.split())


# -- users add ------------------------------------------------------------------------------------------------------


def test_users_add_reads_the_password_from_stdin(tmp_path: Path) -> None:
    done = run(tmp_path, "users", "add", "alice", stdin=f"{PASSWORD}\n", data_dir=tmp_path / "d")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("created user alice (")
    assert "admin" not in done.stdout
    assert PASSWORD not in done.stdout + done.stderr


def test_users_add_admin(tmp_path: Path) -> None:
    done = run(tmp_path, "users", "add", "root", "--admin", stdin=PASSWORD, data_dir=tmp_path / "d")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("created user root (") and "as admin" in done.stdout


def test_users_add_duplicate_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert run(tmp_path, "users", "add", "alice", stdin=PASSWORD, data_dir=data).returncode == 0
    done = run(tmp_path, "users", "add", "alice", stdin="another password\n", data_dir=data)
    assert done.returncode == 1
    assert "sessionward: the user 'alice' exists already" in one_line(done.stderr)
    assert done.stdout == ""


@pytest.mark.parametrize("password", ["", "\n", "short\n", "7chars!\n", "x" * 1025 + "\n"])
def test_users_add_bad_password_is_refused(tmp_path: Path, password: str) -> None:
    done = run(tmp_path, "users", "add", "alice", stdin=password, data_dir=tmp_path / "d")
    assert done.returncode == 1
    assert "password" in done.stderr
    assert done.stdout == ""


@pytest.mark.parametrize("name", ["../x", "a/b", "a b", ".hidden", "x" * 65, "ünï"])
def test_users_add_bad_username_is_refused(tmp_path: Path, name: str) -> None:
    done = run(tmp_path, "users", "add", name, stdin=f"{PASSWORD}\n", data_dir=tmp_path / "d")
    assert done.returncode == 1
    assert "a username has 1 to 64 characters" in one_line(done.stderr)
    assert not (tmp_path / "x").exists()


def test_users_added_by_the_cli_can_log_in_and_admins_can_administer(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    server = make_server()
    for args in (("alice",), ("root", "--admin")):
        assert run(tmp_path, "users", "add", *args, stdin=PASSWORD, data_dir=server.data_dir).returncode == 0
    with server.client() as c:
        alice = server.login(c, "alice", PASSWORD).json()
        root = server.login(c, "root", PASSWORD).json()
        new = {"username": "bob", "password": PASSWORD}
        assert c.post("/v1/admin/users", json=new, headers=bearer(alice["access_token"])).status_code == 403
        assert c.post("/v1/admin/users", json=new, headers=bearer(root["access_token"])).status_code == 201


# -- config ---------------------------------------------------------------------------------------------------------


def test_config_show_redacts_secrets_and_is_toml(tmp_path: Path) -> None:
    config = tmp_path / "sessionward.toml"
    config.write_text('[storage]\ndatabase_url = "postgresql://u:pw123@h/db"\n')
    env = {"SESSIONWARD_CLIENTS__WEB__CLIENT_SECRET": "topsecret123"}
    done = run(tmp_path, "config", "show", "--config", str(config), env=env, data_dir=tmp_path / "d")
    assert done.returncode == 0, done.stderr
    for secret in ("topsecret123", "pw123"):
        assert secret not in done.stdout and secret not in done.stderr
    shown = tomllib.loads(done.stdout)
    assert shown["storage"]["database_url"] == "postgresql://u:***@h/db"
    assert shown["clients"]["web"]["client_secret"] == "***"
    assert shown["storage"]["data_dir"] == str(tmp_path / "d")
    assert shown["policies"]["default"]["idle_timeout"] == "30m"
    assert shown["server"]["port"] == 8443


def test_config_show_without_a_secret_shows_it_empty(tmp_path: Path) -> None:
    done = run(tmp_path, "config", "show", data_dir=tmp_path / "d")
    assert done.returncode == 0, done.stderr
    assert tomllib.loads(done.stdout)["clients"]["web"]["client_secret"] == ""


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[server]\nbogus = 1\n", "server.bogus"),
        ('[policies.default]\nidle_timeout = "forever"\n', "policies.default.idle_timeout"),
        ("[server]\nport = 70000\n", "server.port"),
        ('[tokens]\nalgorithm = "HS256"\n', "tokens.algorithm"),
        ('[clients.web]\npolicy = "nope"\n', "clients.web.policy"),
        ("[nosuch]\na = 1\n", "nosuch"),
        ("not toml [", "config"),
    ],
)
@pytest.mark.parametrize("command", [("config", "show"), ("keys", "list"), ("audit", "verify")])
def test_a_bad_config_file_stops_with_the_dotted_key(
    tmp_path: Path, toml: str, key: str, command: tuple[str, ...]
) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    done = run(tmp_path, *command, "--config", str(config), data_dir=tmp_path / "d")
    assert done.returncode == 2
    assert f"configuration error: {key}" in one_line(done.stderr)
    assert done.stdout == ""


def test_a_bad_environment_value_names_the_key_and_the_variable(tmp_path: Path) -> None:
    done = run(tmp_path, "config", "show", env={"SESSIONWARD_SERVER__PORT": "abc"}, data_dir=tmp_path / "d")
    assert done.returncode == 2
    assert "server.port" in done.stderr and "SESSIONWARD_SERVER__PORT" in one_line(done.stderr)


def test_a_missing_config_file_stops(tmp_path: Path) -> None:
    done = run(tmp_path, "config", "show", "--config", str(tmp_path / "missing.toml"), data_dir=tmp_path / "d")
    assert done.returncode == 2
    assert "configuration error: config:" in one_line(done.stderr)
    assert "no such file" in one_line(done.stderr) and done.stdout == ""


def test_an_error_message_is_one_line_with_the_key_whole(tmp_path: Path) -> None:
    key = f"policies.{'p' * 64}.max_sessions_per_user"
    config = tmp_path / "long.toml"
    config.write_text(f'[policies.{"p" * 64}]\nmax_sessions_per_user = "many"\n')
    done = run(tmp_path, "config", "show", "--config", str(config), data_dir=tmp_path / "d")
    assert done.returncode == 2
    assert key in done.stderr
    assert done.stderr.count("\n") == 1


# -- keys, audit, sessions --------------------------------------------------------------------------------------------


def test_keys_list_on_a_fresh_dir(tmp_path: Path) -> None:
    done = run(tmp_path, "keys", "list", data_dir=tmp_path / "fresh")
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["KID", "ALG", "STATE", "CREATED", "VERIFIES", "UNTIL"]


def test_keys_list_shows_the_servers_keys(make_server: Callable[..., Server], tmp_path: Path) -> None:
    server = make_server()
    with server.client() as c:
        kids = {k["kid"]: k["alg"] for k in c.get("/.well-known/jwks.json").json()["keys"]}
    done = run(tmp_path, "keys", "list", data_dir=server.data_dir)
    assert done.returncode == 0, done.stderr
    rows = [line.split() for line in done.stdout.splitlines()[1:]]
    assert {row[0]: row[1] for row in rows} == kids
    assert {row[2] for row in rows} == {"active"}


def test_audit_verify_on_a_fresh_dir(tmp_path: Path) -> None:
    done = run(tmp_path, "audit", "verify", data_dir=tmp_path / "fresh")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "audit trail intact: 0 records"


def test_audit_verify_after_activity(make_server: Callable[..., Server], tmp_path: Path) -> None:
    server = make_server()
    server.add_user("alice", PASSWORD)
    with server.client() as c:
        assert server.login(c, "alice", PASSWORD).status_code == 201
        assert server.login(c, "alice", "wrong").status_code == 401
    done = run(tmp_path, "audit", "verify", data_dir=server.data_dir)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("audit trail intact: ") and " 0 records" not in done.stdout


def test_sessions_list_shows_a_server_session_and_not_its_tokens(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    server = make_server()
    server.add_user("alice", PASSWORD)
    server.add_user("bob", PASSWORD)
    with server.client() as c:
        s = server.login(c, "alice", PASSWORD).json()
    done = run(tmp_path, "sessions", "list", data_dir=server.data_dir)
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split() == ["SID", "USER", "CLIENT", "CREATED", "LAST", "ACTIVE", "EXPIRES", "IP"]
    assert [row.split()[:3] for row in rows] == [[s["session_id"], "alice", "web"]]
    assert rows[0].split()[-1] == "127.0.0.1"
    for secret in (s["access_token"], s["refresh_token"], s["access_token"].split(".")[2]):
        assert secret not in done.stdout + done.stderr
    only_bob = run(tmp_path, "sessions", "list", "--user", "bob", data_dir=server.data_dir)
    assert only_bob.returncode == 0 and len(only_bob.stdout.splitlines()) == 1
    ghost = run(tmp_path, "sessions", "list", "--user", "ghost", data_dir=server.data_dir)
    assert ghost.returncode == 1 and "no user 'ghost'" in ghost.stderr


def test_users_list_shows_each_users_second_factors_and_no_secret(
    make_server: Callable[..., Server], tmp_path: Path
) -> None:
    server = make_server()
    server.add_user("alice", PASSWORD)
    server.add_user("root", PASSWORD, admin=True)
    with server.client() as c:
        token = server.login(c, "alice", PASSWORD).json()["access_token"]
        secret = c.post("/v1/mfa/totp", headers=bearer(token)).json()["secret"]
        code = pyotp.TOTP(secret).now()
        codes = c.post("/v1/mfa/totp/confirm", json={"code": code}, headers=bearer(token)).json()["recovery_codes"]
    done = run(tmp_path, "users", "list", data_dir=server.data_dir)
    assert done.returncode == 0, done.stderr
    header, *rows = done.stdout.splitlines()
    assert header.split() == ["USER", "ADMIN", "CREATED", "SECOND", "FACTORS"]
    assert [row.split()[:2] for row in rows] == [["alice", "no"], ["root", "yes"]]
    assert rows[0].endswith("totp, 10 recovery codes left") and rows[1].endswith("none")
    for leaked in (secret, code, *codes):
        assert leaked not in done.stdout + done.stderr


def test_sessions_revoke_ends_a_server_session(make_server: Callable[..., Server], tmp_path: Path) -> None:
    server = make_server()
    server.add_user("alice", PASSWORD)
    with server.client() as c:
        s = server.login(c, "alice", PASSWORD).json()
        done = run(tmp_path, "sessions", "revoke", "--sid", s["session_id"], data_dir=server.data_dir)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == "ended 1 session"
        deadline = time.monotonic() + 1.5
        while c.get("/v1/me", headers=bearer(s["access_token"])).status_code != 401:
            assert time.monotonic() < deadline, "the CLI's revocation did not reach the server"
            time.sleep(0.05)
    again = run(tmp_path, "sessions", "revoke", "--sid", s["session_id"], data_dir=server.data_dir)
    assert again.returncode == 1 and "no live session" in again.stderr
    for args in ((), ("--user", "alice", "--sid", "x")):
        both = run(tmp_path, "sessions", "revoke", *args, data_dir=server.data_dir)
        assert both.returncode == 2 and "exactly one of --user NAME or --sid SID" in both.stderr


def test_cli_state_is_the_servers_state(make_server: Callable[..., Server], tmp_path: Path) -> None:
    """A password set through the CLI works at the server at once, and the HTTP password change wins after it."""
    server = make_server()
    assert run(tmp_path, "users", "add", "carol", stdin=f"{PASSWORD}\r\n", data_dir=server.data_dir).returncode == 0
    with server.client() as c:
        r = server.login(c, "carol", PASSWORD)
        assert r.status_code == 201, r.text  # the CR of a CRLF line is not part of the password
        body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
        assert c.post("/v1/password", json=body, headers=bearer(r.json()["access_token"])).status_code == 200
        assert server.login(c, "carol", NEW_PASSWORD).status_code == 201


# -- failures: one line, the right exit status, never a traceback ---------------------------------------------------

UNREACHABLE_DATABASE = "postgresql://sw:hunter2@127.0.0.1:1/sw?connect_timeout=2"
UNREACHABLE_REDIS = "redis://:hunter2@127.0.0.1:1/0"


def tls_pair(where: Path) -> tuple[str, str]:
    cert, key = ensure_self_signed(where, datetime.datetime.now(datetime.UTC))
    return str(cert), str(key)


@pytest.mark.parametrize(
    ("files", "key", "says"),
    [
        (lambda d: ("/nope", "/nope"), "server.tls_cert", "cannot read /nope: No such file or directory"),
        (lambda d: (tls_pair(d / "a")[0], "/nope"), "server.tls_key", "cannot read /nope: No such file or directory"),
        (lambda d: (str(d), tls_pair(d / "a")[1]), "server.tls_cert", "cannot read"),
        (lambda d: (tls_pair(d / "a")[0], tls_pair(d / "b")[1]), "server.tls_key", "does not match the certificate"),
        (lambda d: (tls_pair(d / "a")[1], tls_pair(d / "a")[1]), "server.tls_cert", "holds no PEM certificate"),
        (lambda d: (tls_pair(d / "a")[0], tls_pair(d / "a")[0]), "server.tls_key", "holds no usable PEM private key"),
    ],
    ids=["missing", "missing-key", "directory", "mismatch", "not-a-certificate", "not-a-key"],
)
def test_serve_with_a_bad_tls_file_stops_naming_the_key(
    tmp_path: Path, files: Callable[[Path], tuple[str, str]], key: str, says: str
) -> None:
    cert, private = files(tmp_path)
    env = {"SESSIONWARD_SERVER__TLS_CERT": cert, "SESSIONWARD_SERVER__TLS_KEY": private}
    done = run(tmp_path, "serve", "--port", "1", env=env, data_dir=tmp_path / "d")
    assert done.returncode == 2, done.stderr
    assert done.stdout == ""  # "serving" only once the TLS context is built
    assert done.stderr.startswith(f"sessionward: configuration error: {key}: ")
    assert says in one_line(done.stderr) and done.stderr.count("\n") == 1


@pytest.mark.parametrize("command", [("keys", "list"), ("users", "list"), ("sessions", "list"), ("serve",)])
def test_an_unreachable_database_is_one_line_without_its_password(tmp_path: Path, command: tuple[str, ...]) -> None:
    env = {"SESSIONWARD_STORAGE__DATABASE_URL": UNREACHABLE_DATABASE}
    done = run(tmp_path, *command, env=env, data_dir=tmp_path / "d")
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("sessionward: cannot use the database at postgresql://sw:***@127.0.0.1:1/sw")
    assert "hunter2" not in done.stdout + done.stderr


def test_db_upgrade_reports_an_unreachable_database_on_one_line(tmp_path: Path) -> None:
    env = {"SESSIONWARD_STORAGE__DATABASE_URL": UNREACHABLE_DATABASE}
    done = run(tmp_path, "db", "upgrade", env=env, data_dir=tmp_path / "d")
    assert done.returncode == 1, done.stderr
    assert done.stderr.startswith("sessionward: database upgrade failed: OperationalError")
    assert done.stderr.count("\n") == 1 and "hunter2" not in done.stdout + done.stderr


@pytest.mark.parametrize("command", [("keys", "list"), ("users", "add", "alice"), ("serve",)])
def test_an_unreachable_redis_is_one_line_without_its_password(tmp_path: Path, command: tuple[str, ...]) -> None:
    env = {"SESSIONWARD_STORAGE__REDIS_URL": UNREACHABLE_REDIS}
    done = run(tmp_path, *command, stdin=f"{PASSWORD}\n", env=env, data_dir=tmp_path / "d")
    assert done.returncode == 1, done.stderr
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("sessionward: cannot use Redis at redis://:***@127.0.0.1:1/0")
    assert "hunter2" not in done.stdout + done.stderr


def test_audit_verify_tells_a_broken_chain_from_one_it_could_not_check(tmp_path: Path) -> None:
    data = tmp_path / "d"
    assert run(tmp_path, "users", "add", "alice", stdin=PASSWORD, data_dir=data).returncode == 0
    assert run(tmp_path, "audit", "verify", data_dir=data).returncode == 0
    con = sqlite3.connect(data / "sessionward.db")
    with con:
        con.execute("UPDATE audit_log SET data = ? WHERE seq = 1", ('{"user_id":"x"}',))
    con.close()
    broken = run(tmp_path, "audit", "verify", data_dir=data)
    assert broken.returncode == 1
    assert "audit trail broken: first bad record is 1" in one_line(broken.stderr)

    env = {"SESSIONWARD_STORAGE__DATABASE_URL": UNREACHABLE_DATABASE}
    unchecked = run(tmp_path, "audit", "verify", env=env, data_dir=data)
    assert unchecked.returncode == 3, unchecked.stderr
    assert unchecked.stdout == "" and unchecked.stderr.count("\n") == 1
    assert "cannot use the database at" in unchecked.stderr and "broken" not in unchecked.stderr
    assert "hunter2" not in unchecked.stderr


# -- help -----------------------------------------------------------------------------------------------------------


def test_serve_help(tmp_path: Path) -> None:
    done = run(tmp_path, "serve", "--help")
    assert done.returncode == 0, done.stderr
    for option in ("--config", "--data-dir", "--host", "--port"):
        assert option in done.stdout


def test_no_arguments_shows_help(tmp_path: Path) -> None:
    done = run(tmp_path)
    assert done.returncode in (0, 2)
    shown = done.stdout + done.stderr
    assert "Usage" in shown
    for command in ("serve", "users", "keys", "sessions", "audit", "config"):
        assert command in shown
    assert not (tmp_path / ".sessionward").exists()


def test_unknown_command_is_a_usage_error(tmp_path: Path) -> None:
    done = run(tmp_path, "frobnicate")
    assert done.returncode == 2
    assert "frobnicate" in done.stdout + done.stderr
