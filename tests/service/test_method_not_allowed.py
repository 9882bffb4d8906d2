"""Every route's 405 names exactly the methods of its path (issue 10 item 12): `/v1/sessions/mfa` and
`/v1/sessions/step-up` said `Allow: DELETE` (the `/v1/sessions/{session_id}` route's), and a page served by
two routes named one of them."""

from __future__ import annotations

import re
from pathlib import Path

import httpx2
import pytest
from starlette.routing import Route

from sessionward.config import load_settings
from sessionward.http.app import create_app
from tests.service.conftest import Server

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def served_paths(tmp_path: Path) -> dict[str, set[str]]:
    """Each route path of the app, parameters filled in, with the methods the app's routes serve there."""
    app = create_app(load_settings(None, {}, data_dir=str(tmp_path / "app")))
    paths: dict[str, set[str]] = {}
    for route in app.routes:
        assert isinstance(route, Route) and route.methods, route
        path = re.sub(r"\{[^}]+\}", "x", route.path)
        paths.setdefault(path, set()).update(route.methods)
    return paths


def allowed(r: httpx2.Response) -> set[str]:
    return {m.strip() for m in r.headers["allow"].split(",")}


def test_every_wrong_method_on_every_route_is_405_with_the_exact_allow(
    server: Server, client: httpx2.Client, tmp_path: Path
) -> None:
    wrong = []
    for path, methods in served_paths(tmp_path).items():
        for method in METHODS:
            if method in methods:
                continue
            r = client.request(method, path)
            if r.status_code != 405 or allowed(r) != methods or r.headers["allow"] != ", ".join(sorted(methods)):
                wrong.append((method, path, r.status_code, r.headers.get("allow")))
            elif method != "HEAD":
                assert r.json()["error"] == "method_not_allowed"
    assert wrong == []


@pytest.mark.parametrize("path", ["/v1/sessions/mfa", "/v1/sessions/step-up"])
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
def test_the_second_factor_paths_allow_post_only(client: httpx2.Client, path: str, method: str) -> None:
    r = client.request(method, path)  # DELETE was taken as ending a session named "mfa" or "step-up"
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"


def test_a_page_served_by_two_routes_names_both(client: httpx2.Client) -> None:
    r = client.put("/account/signin")
    assert r.status_code == 405 and r.headers["allow"] == "GET, HEAD, POST"


def test_a_session_id_path_still_reaches_its_route(client: httpx2.Client) -> None:
    r = client.delete("/v1/sessions/some-sid")
    assert r.status_code == 401  # the route's own answer without a token, not a 405
    r = client.get("/v1/sessions/some-sid")
    assert r.status_code == 405 and r.headers["allow"] == "DELETE"
