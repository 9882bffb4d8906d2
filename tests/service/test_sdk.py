"""sessionward.sdk: a relying app (uvicorn on a loopback port) behind SessionwardAuth, against a real sessionward."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

import tests.forgery as f
from sessionward.crypto.jwks import load_jwks
from sessionward.crypto.jwt import TokenRejected, TokenVerifier, VerifyRules
from sessionward.crypto.keys import SigningKey, generate_key, public_jwk
from sessionward.http.server import uvicorn_config
from sessionward.sdk import (
    InsufficientUserAuthentication,
    SessionwardAuth,
    get_principal,
    on_insufficient_user_authentication,
    require,
)
from sessionward.services.container import open_services
from tests.service.conftest import LOG_LEVEL, Server, free_port, start_server
from tests.service.helpers import PASSWORD, bearer, cli, login, refresh

SECRET = "rp-secret-for-the-sdk"
# The app checks each new session once by introspection, so its client is a resource server.
ENV = {"SESSIONWARD_CLIENTS__RP__CLIENT_SECRET": SECRET, "SESSIONWARD_CLIENTS__RP__INTROSPECT_ANY": "true"}
ROOT = Path(__file__).resolve().parents[2]


# -- a relying app -----------------------------------------------------------------------------------------------


async def whoami(request: Request) -> JSONResponse:
    p = get_principal(request)
    return JSONResponse(
        {
            "sub": p.sub,
            "sid": p.sid,
            "client_id": p.client_id,
            "acr": p.acr,
            "amr": list(p.amr),
            "auth_time": p.auth_time,
        }
    )


async def health(_request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok"})


async def strong(request: Request) -> JSONResponse:
    return JSONResponse({"sub": require(acr="urn:example:mfa")(request).sub})


async def recent(request: Request) -> JSONResponse:
    late = request.query_params.get("late") == "1"
    clock = (lambda: time.time() + 3600) if late else time.time
    return JSONResponse({"sub": require(max_age=600, clock=clock)(request).sub})


def relying_app() -> Starlette:
    return Starlette(
        routes=[Route("/whoami", whoami), Route("/health", health), Route("/strong", strong), Route("/recent", recent)],
        exception_handlers={InsufficientUserAuthentication: on_insufficient_user_authentication},
    )


@dataclass
class RelyingApp:
    base_url: str
    auth: SessionwardAuth

    def client(self) -> httpx2.Client:
        return httpx2.Client(base_url=self.base_url, timeout=5.0)


def serve(app: Any, auth: SessionwardAuth, lifespan: str = "on") -> tuple[str, Callable[[], None]]:
    """uvicorn in a thread; `auth.aclose()` after the server stops, as an app without lifespan must do."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level=LOG_LEVEL, lifespan=lifespan))

    async def main() -> None:
        try:
            await server.serve()
        finally:
            await auth.aclose()

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the relying app did not start")
        time.sleep(0.02)

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)
        assert not thread.is_alive(), "the relying app did not stop"

    return f"http://127.0.0.1:{port}", stop


@pytest.fixture
def make_rp() -> Iterator[Callable[..., RelyingApp]]:
    stops: list[Callable[[], None]] = []

    def make(idp: Server, lifespan: str = "on", **options: Any) -> RelyingApp:
        settings: dict[str, Any] = {"feed_bound": 1.0, "exempt_paths": ("/health",), **options}
        auth = SessionwardAuth(
            relying_app(), issuer=idp.base_url, client_id="rp", client_secret=SECRET, ca_file=idp.ca_file, **settings
        )
        url, stop = serve(auth, auth, lifespan)
        stops.append(stop)
        return RelyingApp(url, auth)

    yield make
    for stop in reversed(stops):
        stop()


@pytest.fixture
def idp(make_server: Callable[..., Server]) -> Server:
    server = make_server(env=ENV)
    server.add_user("alice", PASSWORD)
    return server


@pytest.fixture
def http(idp: Server) -> Iterator[httpx2.Client]:
    with idp.client() as c:
        yield c


def wait_status(app: httpx2.Client, path: str, token: str | None, status: int, within: float) -> float:
    start = time.monotonic()
    headers = bearer(token) if token else {}
    while True:
        if app.get(path, headers=headers).status_code == status:
            return time.monotonic() - start
        if time.monotonic() - start > within:
            raise AssertionError(f"{path} did not answer {status} within {within} s")
        time.sleep(0.005)


def signing_keys(server: Server) -> tuple[SigningKey, SigningKey]:
    async def work() -> tuple[SigningKey, SigningKey]:
        svc = await open_services(server.settings)
        try:
            ring = await svc.keyring.reload()
            return ring.active("ES256"), ring.active("RS256")
        finally:
            await svc.close()

    return anyio.run(work)


# -- tests -------------------------------------------------------------------------------------------------------


def test_a_valid_token_reaches_the_route_with_its_principal(
    idp: Server, http: httpx2.Client, make_rp: Callable[..., RelyingApp]
) -> None:
    rp = make_rp(idp)
    assert rp.auth.ready
    s = login(idp, http)
    me = http.get("/v1/me", headers=bearer(s["access_token"])).json()
    with rp.client() as app:
        r = app.get("/whoami", headers=bearer(s["access_token"]))
        assert r.status_code == 200, r.text
        body = r.json()
        for name in ("sub", "client_id", "acr", "amr"):
            assert body[name] == me[name], name
        assert body["sid"] == s["session_id"]
        assert abs(body["auth_time"] - time.time()) < 60
        assert app.get("/health").status_code == 200  # exempt
        for headers in ({}, {"Authorization": "Basic cnA6eA=="}, {"Authorization": "Bearer"}, bearer("a.b.c")):
            r = app.get("/whoami", headers=headers)
            assert r.status_code == 401
            assert r.json()["error"] == "invalid_token"
            assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"'
            assert r.headers["cache-control"] == "no-store"


def test_forged_expired_and_foreign_tokens_are_refused(
    idp: Server, http: httpx2.Client, make_rp: Callable[..., RelyingApp]
) -> None:
    rp = make_rp(idp, jwks_refetch_interval=60.0)
    ec, rsa = signing_keys(idp)
    now = time.time()

    real = login(idp, http)["access_token"]
    # Every forged token names the real session, so each fails for its own reason (a made-up one is refused).
    session = {name: f.payload_of(real)[name] for name in ("sub", "sid", "client_id")}

    def claims(**overrides: object) -> dict[str, object]:
        return f.legit_claims(idp.base_url, "sessionward", now, **{**session, **overrides})

    attacks = {
        "wrong-audience": f.legit(ec, claims(aud="another-api")),
        "wrong-issuer": f.legit(rsa, claims(iss="https://evil.example")),
        "expired": f.legit(ec, claims(exp=int(now) - 600, iat=int(now) - 900, nbf=int(now) - 900)),
        "not-yet-valid": f.legit(ec, claims(nbf=int(now) + 600)),
        "typ-jwt": f.legit(ec, claims(), typ="JWT"),
        "missing-sid": f.legit(ec, claims(sid=f.MISSING)),
        "dpop-bound": f.legit(ec, claims(cnf={"jkt": "x" * 43})),
        "alg-none": f.alg_none(claims(), kid=ec.kid),
        "hs256-public-key": f.hs256_with_public_key(rsa, claims()),
        "other-key-same-kid": f.other_key_same_kid(ec, claims()),
        "embedded-jwk": f.embedded_jwk(claims(), kid=ec.kid),
        "tampered": f.tamper_payload(real, sub="someone-else"),
        "alg-swapped": f.swap_alg(f.legit(rsa, claims()), "ES256"),
        "der-signature": f.es256_der_signature(ec, claims()),
    }
    with rp.client() as app:
        control = app.get("/whoami", headers=bearer(f.legit(ec, claims())))
        assert control.status_code == 200, "the harness itself must work"
        for name, token in attacks.items():
            r = app.get("/whoami", headers=bearer(token))
            assert r.status_code == 401, name
            assert r.headers["www-authenticate"] == 'Bearer error="invalid_token"', name


def test_a_token_naming_a_session_that_never_existed_is_refused_after_one_introspection(
    idp: Server, http: httpx2.Client, make_rp: Callable[..., RelyingApp]
) -> None:
    """SPEC 4 in the app: the feed knows ended sessions only, so the first token of a session is introspected
    once; repeated requests make no further call."""
    rp = make_rp(idp)
    ec, _rsa = signing_keys(idp)
    now = time.time()
    idp.add_user("bob", PASSWORD)
    alice = {k: f.payload_of(login(idp, http)["access_token"])[k] for k in ("sub", "sid", "client_id")}
    bob = {k: f.payload_of(login(idp, http, "bob")["access_token"])[k] for k in ("sub", "sid", "client_id")}

    def minted(**claims: object) -> str:
        return f.legit(ec, f.legit_claims(idp.base_url, "sessionward", now, **claims))

    with rp.client() as app:
        before = rp.auth.session_checks
        good = minted(**alice)
        for _ in range(5):
            assert app.get("/whoami", headers=bearer(good)).status_code == 200
        assert rp.auth.session_checks == before + 1
        for forged in (
            minted(),
            minted(sub=alice["sub"], client_id="web"),
            minted(**{**bob, "sub": alice["sub"]}),
        ):
            r = app.get("/whoami", headers=bearer(forged))
            assert (r.status_code, r.json()["error"]) == (401, "invalid_token")
        # Known alive in the app, then ended: refused by way of the feed.
        s = login(idp, http)
        assert app.get("/whoami", headers=bearer(s["access_token"])).status_code == 200
        assert http.delete("/v1/sessions/current", headers=bearer(s["access_token"])).status_code == 204
        wait_status(app, "/whoami", s["access_token"], 401, within=1.0)


def test_a_session_that_cannot_be_checked_is_answered_503_never_let_through(
    idp: Server, http: httpx2.Client, make_rp: Callable[..., RelyingApp]
) -> None:
    rp = make_rp(idp)
    seen, unseen = login(idp, http), login(idp, http)
    with rp.client() as app:
        assert app.get("/whoami", headers=bearer(seen["access_token"])).status_code == 200
        db = sqlite3.connect(idp.data_dir / "sessionward.db", timeout=10)
        try:  # sessionward cannot read its sessions (its introspection answers 503); the feed still runs
            db.execute("ALTER TABLE sessions RENAME TO sessions_away")
            db.commit()
            r = app.get("/whoami", headers=bearer(unseen["access_token"]))
            assert (r.status_code, r.json()["error"]) == (503, "temporarily_unavailable")
            assert r.headers["retry-after"] == "1"
            assert app.get("/whoami", headers=bearer(seen["access_token"])).status_code == 200
        finally:
            db.execute("ALTER TABLE sessions_away RENAME TO sessions")
            db.commit()
            db.close()
        assert app.get("/whoami", headers=bearer(unseen["access_token"])).status_code == 200


def test_without_session_proofs_the_app_trusts_any_signed_unrevoked_token(
    idp: Server, make_rp: Callable[..., RelyingApp]
) -> None:
    """The documented limit of `prove_sessions=False`: no introspection, so a made-up session passes."""
    rp = make_rp(idp, prove_sessions=False)
    ec, _rsa = signing_keys(idp)
    with rp.client() as app:
        made_up = f.legit(ec, f.legit_claims(idp.base_url, "sessionward", time.time()))
        assert app.get("/whoami", headers=bearer(made_up)).status_code == 200
    assert rp.auth.session_checks == 0


def test_unknown_kids_cost_at_most_one_jwks_fetch_per_interval(idp: Server, make_rp: Callable[..., RelyingApp]) -> None:
    rp = make_rp(idp, jwks_refetch_interval=60.0)
    now = time.time()
    before = rp.auth.jwks_fetches
    with rp.client() as app:
        for i in range(40):
            token = f.attacker_with_header(
                f.legit_claims(idp.base_url, "sessionward", now), {}, alg="ES256", kid=f"unknown{i}"
            )
            assert app.get("/whoami", headers=bearer(token)).status_code == 401
    assert rp.auth.jwks_fetches - before <= 1


def test_a_logout_is_rejected_by_the_app_within_a_second(
    idp: Server, http: httpx2.Client, make_rp: Callable[..., RelyingApp]
) -> None:
    rp = make_rp(idp)
    latencies = []
    with rp.client() as app:
        for _ in range(50):
            s = login(idp, http)
            assert app.get("/whoami", headers=bearer(s["access_token"])).status_code == 200
            assert http.delete("/v1/sessions/current", headers=bearer(s["access_token"])).status_code == 204
            latencies.append(wait_status(app, "/whoami", s["access_token"], 401, within=1.0))
    p50, worst = statistics.median(latencies), max(latencies)
    print(f"\nlogout -> app rejection over {len(latencies)}: p50 {p50 * 1000:.0f} ms, max {worst * 1000:.0f} ms")
    assert worst < 1.0


def test_a_password_change_kills_the_users_earlier_tokens(
    idp: Server, http: httpx2.Client, make_rp: Callable[..., RelyingApp]
) -> None:
    rp = make_rp(idp)
    old1, old2 = login(idp, http), login(idp, http)
    changed = http.post(
        "/v1/password",
        json={"current_password": PASSWORD, "new_password": "a brand new passphrase"},
        headers=bearer(old1["access_token"]),
    )
    assert changed.status_code == 200
    with rp.client() as app:
        for s in (old1, old2):
            wait_status(app, "/whoami", s["access_token"], 401, within=1.0)
        assert app.get("/whoami", headers=bearer(changed.json()["access_token"])).status_code == 200


def test_tokens_of_a_rotated_key_are_accepted_after_one_refetch(
    make_server: Callable[..., Server], make_rp: Callable[..., RelyingApp]
) -> None:
    idp = make_server(env=ENV)
    # Through the CLI, not server.add_user: opening the store in this process while the server (a thread of
    # it) has it open can cost the server its SQLite locks, and the CLI's `keys rotate` below then removes the
    # WAL under it (see _prepare_sqlite_file).
    assert cli(idp.data_dir, "users", "add", "alice", stdin=PASSWORD + "\n").returncode == 0
    rp = make_rp(idp, jwks_refetch_interval=1.0)
    with idp.client() as http:
        _rotate_and_check(idp, http, rp)


def _rotate_and_check(idp: Server, http: httpx2.Client, rp: RelyingApp) -> None:
    session = login(idp, http)
    old = session["access_token"]
    old_kid = f.header_of(old)["kid"]
    assert cli(idp.data_dir, "keys", "rotate").returncode == 0
    deadline = time.monotonic() + 8  # the server re-reads its keys every 5 s
    new = old
    while f.header_of(new)["kid"] == old_kid:
        assert time.monotonic() < deadline, "the server never signed with the new key"
        time.sleep(0.25)
        session = refresh(http, session["refresh_token"]).json()
        new = session["access_token"]
    fetches = rp.auth.jwks_fetches
    with rp.client() as app:
        assert app.get("/whoami", headers=bearer(new)).status_code == 200
        assert app.get("/whoami", headers=bearer(new)).status_code == 200
        assert app.get("/whoami", headers=bearer(old)).status_code == 200  # the retired key still verifies
    assert rp.auth.jwks_fetches == fetches + 1


def test_the_app_fails_closed_while_the_feed_is_down_and_recovers_with_what_it_missed(
    tmp_path: Path, make_rp: Callable[..., RelyingApp]
) -> None:
    idp, stop = start_server(tmp_path / "idp", ENV)
    stop_again: Callable[[], None] = lambda: None  # noqa: E731
    try:
        idp.add_user("alice", PASSWORD)
        with idp.client() as http:
            kept, doomed = login(idp, http), login(idp, http)
        rp = make_rp(idp, feed_bound=0.5)
        with rp.client() as app:
            assert app.get("/whoami", headers=bearer(kept["access_token"])).status_code == 200
            began = time.monotonic()
            stop()
            wait_status(app, "/whoami", kept["access_token"], 503, within=2.0)
            took = time.monotonic() - began
            assert took < 0.5 + 0.5, f"503 only {took:.2f} s after sessionward began to stop"
            r = app.get("/whoami", headers=bearer(kept["access_token"]))
            assert r.json()["error"] == "temporarily_unavailable" and r.headers["retry-after"] == "1"
            assert app.get("/health").status_code == 200
            # Revoked while the app cannot hear about it; then sessionward comes back on the same address.
            assert cli(idp.data_dir, "sessions", "revoke", "--sid", doomed["session_id"]).returncode == 0
            stop_again = serve_idp_again(idp)
            wait_status(app, "/whoami", kept["access_token"], 200, within=5.0)
            assert app.get("/whoami", headers=bearer(doomed["access_token"])).status_code == 401
        assert rp.auth.feed_connections >= 2
    finally:
        stop()
        stop_again()


def serve_idp_again(server: Server) -> Callable[[], None]:
    uv = uvicorn.Server(uvicorn_config(server.settings, None, log_level=LOG_LEVEL))
    thread = threading.Thread(target=uv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not uv.started:
        assert thread.is_alive() and time.monotonic() < deadline, "sessionward did not start again"
        time.sleep(0.02)

    def stop() -> None:
        uv.should_exit = True
        thread.join(timeout=10)

    return stop


def test_step_up_requirements_answer_the_rfc_9470_challenge(
    idp: Server, http: httpx2.Client, make_rp: Callable[..., RelyingApp]
) -> None:
    rp = make_rp(idp)
    token = login(idp, http)["access_token"]
    with rp.client() as app:
        r = app.get("/strong", headers=bearer(token))
        assert r.status_code == 401
        assert r.json()["error"] == "insufficient_user_authentication"
        challenge = r.headers["www-authenticate"]
        assert challenge.startswith('Bearer error="insufficient_user_authentication"')
        assert 'acr_values="urn:example:mfa"' in challenge
        assert app.get("/recent", headers=bearer(token)).status_code == 200
        r = app.get("/recent?late=1", headers=bearer(token))
        assert r.status_code == 401 and 'max_age="600"' in r.headers["www-authenticate"]


def test_without_lifespan_the_first_request_starts_the_sdk(
    idp: Server, http: httpx2.Client, make_rp: Callable[..., RelyingApp]
) -> None:
    rp = make_rp(idp, lifespan="off")
    assert rp.auth.jwks_fetches == 0  # nothing started yet
    token = login(idp, http)["access_token"]
    with rp.client() as app:
        assert app.get("/whoami", headers=bearer(token)).status_code == 200
    assert rp.auth.ready


def test_the_ten_line_example_runs_under_uvicorn(idp: Server, http: httpx2.Client) -> None:
    port = free_port()
    env = {
        **os.environ,
        "RP_ISSUER": idp.base_url,
        "RP_CLIENT_ID": "rp",
        "RP_CLIENT_SECRET": SECRET,
        "RP_CA_FILE": idp.ca_file,
    }
    command = [sys.executable, "-m", "uvicorn", "examples.sdk_app:app", "--port", str(port), "--log-level", "warning"]
    with subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE) as proc:
        try:
            token = login(idp, http)["access_token"]
            sub = http.get("/v1/me", headers=bearer(token)).json()["sub"]
            with httpx2.Client(base_url=f"http://127.0.0.1:{port}", timeout=5.0) as app:
                deadline = time.monotonic() + 20
                while True:
                    try:
                        r = app.get("/hello", headers=bearer(token))
                        if r.status_code == 200:
                            break
                    except httpx2.TransportError:
                        pass
                    assert proc.poll() is None and time.monotonic() < deadline, proc.stderr
                    time.sleep(0.05)
                assert r.json() == {"hello": sub}
                assert app.get("/hello").status_code == 401
        finally:
            proc.terminate()
            proc.wait(timeout=10)


def test_a_jwks_key_ring_verifies_exactly_what_the_signing_ring_does() -> None:
    now = 1_800_000_000.0
    keys = [generate_key("ES256", now), generate_key("RS256", now)]
    ring, problems = load_jwks({"keys": [public_jwk(k) for k in keys]})
    assert problems == [] and [k.kid for k in ring.keys] == [k.kid for k in keys]
    verifier = TokenVerifier(lambda: ring, VerifyRules(issuer="https://i", audience="a", leeway=5))
    for key in keys:
        claims = f.legit_claims("https://i", "a", now)
        assert verifier.verify(f.legit(key, claims), now).sub == claims["sub"]
        with pytest.raises(TokenRejected):
            verifier.verify(f.other_key_same_kid(key, claims), now)
    ec_jwk, rsa_jwk = (public_jwk(k) for k in keys)
    bad = [
        {**ec_jwk, "kid": "private", "d": "AAAA"},
        {**ec_jwk, "kid": "curve", "crv": "P-384"},
        {**ec_jwk, "kid": "short", "x": ec_jwk["x"][:-2]},
        {**ec_jwk, "kid": "off-curve", "y": ec_jwk["x"]},
        {**ec_jwk, "kid": "kty", "kty": "RSA"},
        {**rsa_jwk, "kid": "alg", "alg": "RS512"},
        {**rsa_jwk, "kid": "use", "use": "enc"},
        {**rsa_jwk, "kid": "exponent", "e": "Aw"},
        {**rsa_jwk, "kid": "hmac", "kty": "oct", "k": "c2VjcmV0"},
        {**ec_jwk, "kid": "twice"},
        {**rsa_jwk, "kid": "twice"},
        "not an object",
    ]
    ring, problems = load_jwks({"keys": bad})
    assert ring.keys == () and len(problems) == len(bad) - 1  # one line for the duplicated kid
    for document in ([], {"keys": {}}, {"keys": [ec_jwk] * 65}):
        with pytest.raises(ValueError, match="JWKS"):
            load_jwks(document)


@pytest.mark.parametrize("setting", ["feed_bound", "jwks_refetch_interval", "jwks_refresh_interval", "startup_timeout"])
@pytest.mark.parametrize("value", [0.0, -1.0, float("nan"), float("inf")])
def test_the_sdk_refuses_intervals_that_would_spin_or_never_end(setting: str, value: float) -> None:
    with pytest.raises(ValueError, match=setting):
        SessionwardAuth(
            Starlette(), issuer="https://idp.example", client_id="app", client_secret="s", **{setting: value}
        )
