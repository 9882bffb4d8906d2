"""SPEC 4 across nodes: a node proves a token's session alive before accepting it. A session made on node a is
proven on node b by reading the shared store (accepted at first sight); a validly signed token naming a session
that never existed, or another user's, is refused by every node."""

from __future__ import annotations

import time

import anyio
import httpx2

import tests.forgery as f
from sessionward.config import load_settings
from sessionward.crypto.keys import SigningKey
from sessionward.services.container import open_services
from tests.multinode.conftest import Cluster
from tests.multinode.harness import PASSWORD, Node


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def signing_key(node: Node) -> SigningKey:
    """The cluster's active key, read from the shared store as any node reads it."""

    async def work() -> SigningKey:
        settings = load_settings(None, node.env, data_dir=str(node.data_dir))
        svc = await open_services(settings)
        try:
            return (await svc.keyring.reload()).active(settings.tokens.algorithm)
        finally:
            await svc.close()

    return anyio.run(work)


def login(client: httpx2.Client, user: str) -> dict[str, str]:
    r = client.post("/v1/sessions", json={"username": user, "password": PASSWORD})
    assert r.status_code == 201, r.text
    body: dict[str, str] = r.json()
    return body


def test_a_session_made_on_one_node_is_proven_on_another_and_a_made_up_one_nowhere(cluster: Cluster) -> None:
    cluster.add_user("alice")
    cluster.add_user("bob")
    a, b, c = cluster.nodes
    key = signing_key(a)
    issuer = a.base_url  # the cluster's one issuer

    def minted(**claims: object) -> str:
        return f.legit(key, f.legit_claims(issuer, "sessionward", time.time(), **claims))

    with a.client() as on_a, b.client() as on_b, c.client() as on_c:
        body = login(on_a, "alice")
        # First sight of this token (and of its session) on b and c: read from the store, accepted.
        assert on_b.get("/v1/me", headers=bearer(body["access_token"])).status_code == 200
        assert on_c.get("/v1/me", headers=bearer(body["access_token"])).status_code == 200
        alice = {k: f.payload_of(body["access_token"])[k] for k in ("sub", "sid", "client_id")}
        bob_body = login(on_b, "bob")
        bob = {k: f.payload_of(bob_body["access_token"])[k] for k in ("sub", "sid", "client_id")}
        # A token minted for alice's real session is accepted everywhere (the control)...
        assert on_c.get("/v1/me", headers=bearer(minted(**alice))).status_code == 200
        for forged in (
            minted(),  # a session, user and client that never existed
            minted(sub=alice["sub"], client_id="web"),  # alice, in a session that never existed
            minted(**{**bob, "sub": alice["sub"]}),  # bob's live session, claimed for alice
        ):
            for node in (on_a, on_b, on_c):
                r = node.get("/v1/me", headers=bearer(forged))
                assert r.status_code == 401, r.text
                assert r.json()["error"] == "invalid_token"
        # A session known alive on b and ended on a is refused by b (the revocation feed covers it).
        assert on_a.delete("/v1/sessions/current", headers=bearer(body["access_token"])).status_code == 204
        deadline = time.monotonic() + 1.0
        while on_b.get("/v1/me", headers=bearer(body["access_token"])).status_code != 401:
            assert time.monotonic() < deadline, "node b still accepts a session ended on node a"
            time.sleep(0.02)
