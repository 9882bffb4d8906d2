"""The replay registry: every way a captured credential could be used again, each fired at the real server.

A case is a function decorated with `@replay("what is replayed")` that takes a `ReplayKit` and returns True when
the server blocked the replay (it should also assert that the legitimate first use worked, so a case cannot
"block" by being broken). tests/service/test_replays.py runs every registered case and prints
"replays blocked: N of N". To add cases from another module, decorate them there and import that module in
test_replays.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import httpx2

from sessionward.clock import FakeClock
from tests import forgery as f
from tests.dpop_client import DpopKey
from tests.service.conftest import Server
from tests.service.dpop_helpers import dpop_headers, dpop_login, dpop_me, dpop_refresh
from tests.service.helpers import PASSWORD, SHORT_POLICY, bearer, login, me_status, refresh


@dataclass
class ReplayKit:
    make_server: Callable[..., Server]
    clock: FakeClock
    made: int = 0

    def server(self, env: dict[str, str] | None = None, **kw: Any) -> Server:
        """A server with second-scale policies (10 s grace) on the fake clock, and user alice."""
        self.made += 1  # each case its own data dir (servers of one name share theirs)
        kw.setdefault("name", f"replay-{self.made}")
        server = self.make_server(env={**SHORT_POLICY, **(env or {})}, clock=kw.pop("clock", self.clock), **kw)
        server.add_user("alice", PASSWORD)
        return server


Case = Callable[[ReplayKit], bool]
REPLAYS: dict[str, Case] = {}


def replay(name: str) -> Callable[[Case], Case]:
    def register(case: Case) -> Case:
        assert name not in REPLAYS, f"two replay cases named {name!r}"
        REPLAYS[name] = case
        return case

    return register


def rejected(r: httpx2.Response) -> bool:
    return r.status_code == 401


# -- refresh tokens --------------------------------------------------------------------------------------------


@replay("a rotated-out refresh token after the grace window")
def _rotated_out_refresh(kit: ReplayKit) -> bool:
    server = kit.server()
    with server.client() as c:
        first = login(server, c)
        second = refresh(c, first["refresh_token"])
        assert second.status_code == 200
        kit.clock.advance(11)  # refresh_grace is 10 s
        blocked = rejected(refresh(c, first["refresh_token"]))
        # Reuse ends the session: its newest tokens die too.
        return blocked and me_status(c, second.json()["access_token"]) == 401


@replay("a DPoP-bound refresh token with a proof by another key")
def _bound_refresh_other_key(kit: ReplayKit) -> bool:
    server = kit.server()
    key = DpopKey()
    with server.client() as c:
        token = dpop_login(server, c, key).json()["refresh_token"]
        blocked = rejected(dpop_refresh(server, c, DpopKey(), token)) and rejected(dpop_refresh(server, c, None, token))
        return blocked and dpop_refresh(server, c, key, token).status_code == 200


# -- DPoP proofs and bound access tokens --------------------------------------------------------------------------


@replay("a DPoP proof sent twice")
def _proof_twice(kit: ReplayKit) -> bool:
    server = kit.server()
    key = DpopKey()
    with server.client() as c:
        token = dpop_login(server, c, key).json()["access_token"]
        headers = dpop_headers(server, key, token)
        assert c.get("/v1/me", headers=headers).status_code == 200
        return rejected(c.get("/v1/me", headers=headers))


@replay("a DPoP proof sent twice at sign-in")
def _sign_in_proof_twice(kit: ReplayKit) -> bool:
    server = kit.server()
    key = DpopKey()
    with server.client() as c:
        proof = {"DPoP": dpop_headers(server, key, "unused", "POST", "/v1/sessions")["DPoP"]}
        body = {"username": "alice", "password": PASSWORD}
        assert c.post("/v1/sessions", json=body, headers=proof).status_code == 201
        return c.post("/v1/sessions", json=body, headers=proof).status_code == 400


@replay("a DPoP-bound access token with a proof by another key")
def _bound_token_other_key(kit: ReplayKit) -> bool:
    server = kit.server()
    key = DpopKey()
    with server.client() as c:
        token = dpop_login(server, c, key).json()["access_token"]
        assert dpop_me(server, c, key, token).status_code == 200
        return rejected(dpop_me(server, c, DpopKey(), token))


@replay("a DPoP-bound access token as a plain Bearer token")
def _bound_token_as_bearer(kit: ReplayKit) -> bool:
    server = kit.server()
    key = DpopKey()
    with server.client() as c:
        token = dpop_login(server, c, key).json()["access_token"]
        assert dpop_me(server, c, key, token).status_code == 200
        return rejected(c.get("/v1/me", headers=bearer(token)))


@replay("a DPoP proof for another method")
def _proof_other_method(kit: ReplayKit) -> bool:
    server = kit.server()
    key = DpopKey()
    with server.client() as c:
        token = dpop_login(server, c, key).json()["access_token"]
        get_proof = dpop_headers(server, key, token, "GET", "/v1/sessions")
        return rejected(c.delete("/v1/sessions/current", headers=get_proof)) and rejected(
            c.request("DELETE", "/v1/sessions", params={"scope": "all"}, headers=get_proof)
        )


@replay("a DPoP proof for another URL")
def _proof_other_url(kit: ReplayKit) -> bool:
    server = kit.server()
    key = DpopKey()
    with server.client() as c:
        token = dpop_login(server, c, key).json()["access_token"]
        blocked = rejected(c.get("/v1/sessions", headers=dpop_headers(server, key, token, "GET", "/v1/me")))
        elsewhere = dpop_headers(server, key, token)
        elsewhere["DPoP"] = key.proof("GET", "https://elsewhere.example/v1/me", token=token, iat=int(kit.clock.now()))
        return blocked and rejected(c.get("/v1/me", headers=elsewhere))


# -- access tokens of ended sessions ------------------------------------------------------------------------------


@contextmanager
def _logged_out_token(kit: ReplayKit) -> Iterator[tuple[httpx2.Client, str]]:
    server = kit.server()
    with server.client() as c:
        token = login(server, c)["access_token"]
        assert me_status(c, token) == 200
        assert c.delete("/v1/sessions/current", headers=bearer(token)).status_code == 204
        yield c, token


@replay("an access token after logout")
def _after_logout(kit: ReplayKit) -> bool:
    with _logged_out_token(kit) as (c, token):
        return me_status(c, token) == 401


@replay("an access token after logout, its ES256 signature re-encoded (s -> n - s)")
def _after_logout_high_s(kit: ReplayKit) -> bool:
    with _logged_out_token(kit) as (c, token):
        r, s = f.es256_signature_pair(token)
        head, payload, _sig = token.split(".")
        twin = f"{head}.{payload}.{f.b64url(r.to_bytes(32, 'big') + (f.P256_ORDER - s).to_bytes(32, 'big'))}"
        assert twin != token
        return me_status(c, twin) == 401


@replay("an access token after logout, in non-canonical base64url")
def _after_logout_noncanonical(kit: ReplayKit) -> bool:
    with _logged_out_token(kit) as (c, token):
        twins = [f.noncanonical_b64(token, seg) for seg in (0, 1, 2) if len(token.split(".")[seg]) % 4 in (2, 3)]
        assert twins, "no segment with unused bits"
        return all(me_status(c, twin) == 401 for twin in twins)


@replay("an access token of a session revoked on another node")
def _revoked_on_another_node(kit: ReplayKit) -> bool:
    # Two nodes on one data dir (same name) must share the issuer; the issuer then is not either node's
    # address, so the clients are pointed at each node's own port. Real clocks: the nodes poll the feed.
    env = {**SHORT_POLICY, "SESSIONWARD_SERVER__ISSUER": "https://sessionward.test"}
    a = kit.make_server(env=env, name="shared-issuer")
    a.add_user("alice", PASSWORD)
    b = kit.make_server(env=env, name="shared-issuer")

    def client(node: Server) -> httpx2.Client:
        return httpx2.Client(
            base_url=f"https://127.0.0.1:{node.settings.server.port}", verify=node.ssl_context(), timeout=10.0
        )

    with client(a) as ca, client(b) as cb:
        r = ca.post("/v1/sessions", json={"username": "alice", "password": PASSWORD})
        assert r.status_code == 201, r.text
        token = r.json()["access_token"]
        assert me_status(ca, token) == 200 and me_status(cb, token) == 200
        assert cb.delete("/v1/sessions/current", headers=bearer(token)).status_code == 204
        deadline = time.monotonic() + 1.0  # SPEC 4: every node rejects within one second
        while time.monotonic() < deadline:
            if me_status(ca, token) == 401:
                return True
            time.sleep(0.02)
        return False
