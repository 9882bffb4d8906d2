"""The cookie transport and its CSRF rules over real HTTPS, without a browser: exact Set-Cookie attributes, the
CSRF token bound to its session, Origin / Sec-Fetch-Site, refresh and logout in cookie transport, the pages'
headers, transparent refresh on the pages, and the reasons the sign-in page gives."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import pytest

from sessionward.clock import FakeClock
from tests.service.conftest import Server
from tests.service.helpers import PASSWORD, audit, bearer, login

ACCESS, REFRESH = "__Host-sw-access", "__Host-sw-refresh"
POLICY = {
    "SESSIONWARD_POLICIES__DEFAULT__ACCESS_TOKEN_TTL": "60s",
    "SESSIONWARD_POLICIES__DEFAULT__IDLE_TIMEOUT": "300s",
    "SESSIONWARD_POLICIES__DEFAULT__ABSOLUTE_TIMEOUT": "3600s",
    "SESSIONWARD_POLICIES__DEFAULT__REFRESH_GRACE": "10s",
}
COOKIE_ATTRIBUTES = re.compile(
    r"^(?P<name>__Host-sw-(?:access|refresh))=(?P<value>[A-Za-z0-9_.-]+); Max-Age=(?P<age>\d+); Path=/; Secure; "
    r"HttpOnly; SameSite=Strict$"
)


class Browserish:
    """Cookie-transport calls with explicit cookies and headers (no http-side cookie jar in the way)."""

    def __init__(self, server: Server, http: httpx2.Client, cookies: dict[str, str], csrf: str) -> None:
        self.server, self.client, self.cookies, self.csrf = server, http, cookies, csrf

    def headers(self, *, csrf: bool = True, origin: str | None = "same", **more: str) -> dict[str, str]:
        headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in self.cookies.items()), **more}
        if csrf:
            headers["X-CSRF-Token"] = self.csrf
        if origin == "same":
            headers["Origin"] = self.server.base_url
        elif origin is not None:
            headers["Origin"] = origin
        return headers

    def request(self, method: str, path: str, **kwargs: Any) -> httpx2.Response:
        options = {k: kwargs.pop(k) for k in ("csrf", "origin") if k in kwargs}
        extra = kwargs.pop("headers", {})
        self.client.cookies.clear()
        r = self.client.request(method, path, headers=self.headers(**options, **extra), **kwargs)
        self.client.cookies.clear()
        return r


def set_cookies(r: httpx2.Response) -> dict[str, re.Match[str]]:
    found = {}
    for line in r.headers.get_list("set-cookie"):
        m = COOKIE_ATTRIBUTES.match(line)
        assert m is not None, f"unexpected Set-Cookie: {line}"
        found[m["name"]] = m
    return found


def cookie_login(server: Server, http: httpx2.Client, user: str = "alice", **extra: Any) -> Browserish:
    http.cookies.clear()
    r = server.login(http, user, PASSWORD, transport="cookie", **extra)
    http.cookies.clear()
    assert r.status_code == 201, r.text
    cookies = {name: m["value"] for name, m in set_cookies(r).items()}
    return Browserish(server, http, cookies, r.json()["csrf_token"])


@pytest.fixture
def srv(make_server: Callable[..., Server], clock: FakeClock) -> Server:
    server = make_server(env=POLICY, clock=clock)
    server.add_user("alice", PASSWORD)
    return server


@pytest.fixture
def http(srv: Server) -> Iterator[httpx2.Client]:
    with srv.client() as c:
        yield c


# -- login and cookies ---------------------------------------------------------------------------------------------


def test_cookie_login_sets_host_only_http_only_cookies_and_no_token_in_the_body(
    srv: Server, http: httpx2.Client
) -> None:
    r = srv.login(http, "alice", PASSWORD, transport="cookie")
    assert r.status_code == 201
    body = r.json()
    assert set(body) == {"session_id", "csrf_token", "expires_in", "acr", "amr"}
    assert body["expires_in"] == 60 and body["amr"] == ["pwd"] and len(body["csrf_token"]) >= 43
    assert r.headers["cache-control"] == "no-store"
    cookies = set_cookies(r)
    assert set(cookies) == {ACCESS, REFRESH}
    assert int(cookies[ACCESS]["age"]) == 60
    assert int(cookies[REFRESH]["age"]) == 3600  # never longer than the absolute timeout
    assert "Domain" not in " ".join(r.headers.get_list("set-cookie"))
    assert all(m["value"] not in r.text for m in cookies.values())


def test_the_cookie_authenticates_reads_and_the_authorization_header_wins(srv: Server, http: httpx2.Client) -> None:
    b = cookie_login(srv, http)
    me = b.request("GET", "/v1/me", csrf=False, origin=None)
    assert me.status_code == 200 and me.json()["username"] == "alice"
    assert b.request("GET", "/v1/sessions", csrf=False, origin=None).status_code == 200
    # An Authorization header is used alone, even when a good cookie is there too.
    r = b.request("GET", "/v1/me", csrf=False, origin=None, headers=bearer("not.a.token"))
    assert r.status_code == 401
    # Any other cookie name is not a credential.
    http.cookies.clear()
    r = http.get("/v1/me", headers={"Cookie": f"sw-access={b.cookies[ACCESS]}"})
    assert r.status_code == 401


# -- CSRF on the JSON API -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"csrf": False}, "missing_token"),
        ({"origin": None}, "no_origin"),
        ({"origin": "https://evil.example"}, "cross_origin"),
        ({"origin": "https://127.0.0.1:1"}, "cross_origin"),  # same host, another port: another origin
        ({"origin": "null"}, "opaque_origin"),
        ({"headers": {"Sec-Fetch-Site": "same-site"}}, "cross_origin_fetch"),
        ({"origin": None, "headers": {"Sec-Fetch-Site": "cross-site"}}, "cross_origin_fetch"),
        ({"csrf": False, "headers": {"X-CSRF-Token": "A" * 43}}, "wrong_token"),
    ],
)
def test_a_state_changing_cookie_request_without_both_proofs_is_403_and_audited(
    srv: Server, http: httpx2.Client, options: dict[str, Any], reason: str
) -> None:
    b = cookie_login(srv, http)
    other = login(srv, http)
    r = b.request("DELETE", f"/v1/sessions/{other['session_id']}", **options)
    assert r.status_code == 403, r.text
    assert r.json()["error"] == "forbidden"
    # Nothing changed: the other session is alive, and so is this one.
    assert http.get("/v1/me", headers=bearer(other["access_token"])).status_code == 200
    assert b.request("GET", "/v1/me", csrf=False, origin=None).status_code == 200
    refusals = audit(srv, "csrf.rejected")
    assert [r["reason"] for r in refusals] == [reason]
    assert refusals[0]["ip"] == "127.0.0.1" and "sid" in refusals[0]


def test_same_origin_with_the_sessions_token_passes(srv: Server, http: httpx2.Client) -> None:
    b = cookie_login(srv, http)
    other = login(srv, http)
    assert b.request("DELETE", f"/v1/sessions/{other['session_id']}").status_code == 204
    # Sec-Fetch-Site alone stands for the origin when a browser sends Origin: null (Referrer-Policy: no-referrer).
    third = login(srv, http)
    r = b.request(
        "DELETE", f"/v1/sessions/{third['session_id']}", origin="null", headers={"Sec-Fetch-Site": "same-origin"}
    )
    assert r.status_code == 204
    assert audit(srv, "csrf.rejected") == []


def test_the_csrf_token_is_bound_to_its_session(srv: Server, http: httpx2.Client) -> None:
    a = cookie_login(srv, http)
    b = cookie_login(srv, http)
    assert a.csrf != b.csrf
    a.csrf = b.csrf  # the same user's other session's token does not pass
    assert a.request("DELETE", "/v1/sessions?scope=others").status_code == 403
    assert b.request("GET", "/v1/me", csrf=False, origin=None).status_code == 200


# -- refresh, logout and password change in cookie transport --------------------------------------------------------


def test_cookie_refresh_rotates_under_the_grace_rule(srv: Server, http: httpx2.Client, clock: FakeClock) -> None:
    b = cookie_login(srv, http)
    first_refresh = b.cookies[REFRESH]
    assert b.request("POST", "/v1/sessions/refresh", csrf=False).status_code == 403
    clock.advance(5)
    r = b.request("POST", "/v1/sessions/refresh")
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"session_id", "csrf_token", "expires_in", "acr", "amr"}
    assert r.json()["csrf_token"] == b.csrf  # the session's token survives refreshes
    rotated = {name: m["value"] for name, m in set_cookies(r).items()}
    assert rotated[REFRESH] != first_refresh
    # Within the grace, the token just rotated out gets the very same successor (two tabs, a lost response).
    clock.advance(5)
    again = b.request("POST", "/v1/sessions/refresh")
    assert again.status_code == 200
    assert {name: m["value"] for name, m in set_cookies(again).items()} == rotated
    # Later, it is reuse: the session ends.
    clock.advance(6)
    assert b.request("POST", "/v1/sessions/refresh").status_code == 401
    b.cookies = rotated
    assert b.request("GET", "/v1/me", csrf=False, origin=None).status_code == 401


def test_a_body_token_still_refreshes_in_token_transport(srv: Server, http: httpx2.Client) -> None:
    s = login(srv, http)
    http.cookies.clear()
    r = http.post("/v1/sessions/refresh", json={"refresh_token": s["refresh_token"]})
    assert r.status_code == 200 and "refresh_token" in r.json()
    b = cookie_login(srv, http)
    r = b.request("POST", "/v1/sessions/refresh", content=b"x")
    assert r.status_code == 400  # no body in cookie transport


def test_logout_clears_site_data_and_expires_the_cookies(srv: Server, http: httpx2.Client) -> None:
    b = cookie_login(srv, http)
    assert b.request("DELETE", "/v1/sessions/current", csrf=False).status_code == 403
    r = b.request("DELETE", "/v1/sessions/current")
    assert r.status_code == 204
    assert r.headers["clear-site-data"] == '"cache", "cookies", "storage"'
    expired = r.headers.get_list("set-cookie")
    assert sorted(line.split("=", 1)[0] for line in expired) == [ACCESS, REFRESH]
    assert all("Max-Age=0" in line and "Secure; HttpOnly; SameSite=Strict" in line for line in expired)
    assert b.request("GET", "/v1/me", csrf=False, origin=None).status_code == 401


def test_password_change_by_cookie_answers_in_cookie_transport(srv: Server, http: httpx2.Client) -> None:
    b = cookie_login(srv, http)
    other = login(srv, http)
    body = {"current_password": PASSWORD, "new_password": "a brand new passphrase"}
    assert b.request("POST", "/v1/password", json=body, csrf=False).status_code == 403
    r = b.request("POST", "/v1/password", json=body)
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"session_id", "csrf_token", "expires_in", "acr", "amr"}
    assert r.json()["csrf_token"] != b.csrf
    assert set(set_cookies(r)) == {ACCESS, REFRESH}
    assert http.get("/v1/me", headers=bearer(other["access_token"])).status_code == 401


# -- the pages -----------------------------------------------------------------------------------------------------


def test_pages_carry_a_strict_policy_and_no_inline_script_or_style(srv: Server, http: httpx2.Client) -> None:
    b = cookie_login(srv, http)
    for path, cookies in (("/account/signin", False), ("/account/sessions", True), ("/account/password", True)):
        http.cookies.clear()
        r = http.get(path, headers=b.headers(csrf=False, origin=None) if cookies else {})
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp and "script-src" not in csp
        assert r.headers["referrer-policy"] == "no-referrer"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["cache-control"] == "no-store"
        assert "<script" not in r.text and "<style" not in r.text and " style=" not in r.text
        assert b.cookies[ACCESS] not in r.text and b.cookies[REFRESH] not in r.text
        assert all(re.search(rf'<label for="{i}"', r.text) for i in re.findall(r'<input [^>]*id="([^"]+)"', r.text))
    css = http.get("/static/app.css")
    assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
    assert http.get("/static/../pyproject.toml").status_code == 404


def test_root_leads_to_sign_in_or_to_the_sessions(srv: Server, http: httpx2.Client) -> None:
    http.cookies.clear()
    r = http.get("/", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/account/signin"
    b = cookie_login(srv, http)
    r = b.request("GET", "/", csrf=False, origin=None, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/account/sessions"


def page(b: Browserish, path: str = "/account/sessions") -> httpx2.Response:
    return b.request("GET", path, csrf=False, origin=None, follow_redirects=False)


def test_pages_refresh_transparently_until_the_idle_timeout(srv: Server, http: httpx2.Client, clock: FakeClock) -> None:
    b = cookie_login(srv, http)
    for _ in range(6):  # 6 x 66 s: every access token expires (60 s + 5 s leeway); alive past the 300 s idle
        clock.advance(66)
        r = page(b)
        assert r.status_code == 200, r.headers.get("location")
        renewed = {name: m["value"] for name, m in set_cookies(r).items()}
        assert set(renewed) == {ACCESS, REFRESH}
        b.cookies = renewed
    clock.advance(301)
    r = page(b)
    assert r.status_code == 303 and r.headers["location"] == "/account/signin?ended=idle"
    assert all("Max-Age=0" in line for line in r.headers.get_list("set-cookie"))
    http.cookies.clear()
    signin = http.get(r.headers["location"])
    assert "5 minutes without activity" in signin.text


@pytest.mark.parametrize(
    ("how", "code"), [("others", "elsewhere"), ("admin", "admin"), ("password", "password"), ("absolute", "timeout")]
)
def test_the_sign_in_page_says_why_a_session_ended(
    srv: Server, http: httpx2.Client, clock: FakeClock, how: str, code: str
) -> None:
    b = cookie_login(srv, http)
    other = login(srv, http)
    if how == "others":
        http.delete("/v1/sessions?scope=others", headers=bearer(other["access_token"]))
    elif how == "admin":
        srv.add_user("root", PASSWORD, admin=True)
        root = login(srv, http, user="root")
        http.delete("/v1/admin/users/alice/sessions", headers=bearer(root["access_token"]))
    elif how == "password":
        body = {"current_password": PASSWORD, "new_password": "a brand new passphrase"}
        assert http.post("/v1/password", json=body, headers=bearer(other["access_token"])).status_code == 200
    else:
        for _ in range(12):  # active all along (every 280 s, inside the 300 s idle timeout) ...
            clock.advance(280)
            b.cookies = {n: m["value"] for n, m in set_cookies(page(b)).items()} or b.cookies
        clock.advance(250)  # ... until the 3600 s absolute timeout
    r = page(b)
    assert r.status_code == 303 and r.headers["location"] == f"/account/signin?ended={code}"


def test_eviction_by_the_session_limit_is_explained(make_server: Callable[..., Server], clock: FakeClock) -> None:
    server = make_server(
        env={
            "SESSIONWARD_POLICIES__DEFAULT__MAX_SESSIONS_PER_USER": "1",
            "SESSIONWARD_POLICIES__DEFAULT__ON_SESSION_LIMIT": "evict_oldest",
        },
        clock=clock,
    )
    server.add_user("alice", PASSWORD)
    with server.client() as http:
        b = cookie_login(server, http)
        login(server, http)
        r = page(b)
        assert r.headers["location"] == "/account/signin?ended=limit"
        http.cookies.clear()
        assert "more devices than it allows" in http.get(r.headers["location"]).text


def test_an_unknown_reason_code_shows_nothing(srv: Server, http: httpx2.Client) -> None:
    http.cookies.clear()
    r = http.get("/account/signin?ended=%3Cscript%3Ealert(1)%3C/script%3E")
    assert r.status_code == 200
    assert "notice" not in r.text and "alert(1)" not in r.text


# -- the pages' forms -----------------------------------------------------------------------------------------------


def form_post(b: Browserish, path: str, fields: dict[str, str], **options: Any) -> httpx2.Response:
    return b.request("POST", path, data=fields, follow_redirects=False, **options)


def test_page_forms_need_our_origin_and_the_sessions_token(srv: Server, http: httpx2.Client) -> None:
    b = cookie_login(srv, http)
    other = login(srv, http)
    alive = {"Authorization": f"Bearer {other['access_token']}"}
    for fields, options in (
        ({}, {}),
        ({"csrf_token": "guess"}, {}),
        ({"csrf_token": b.csrf}, {"origin": "https://127.0.0.1:1"}),
        ({"csrf_token": b.csrf}, {"origin": None}),
        ({"csrf_token": b.csrf}, {"origin": "null", "headers": {"Sec-Fetch-Site": "same-site"}}),
    ):
        r = form_post(b, "/account/sessions/others", fields, csrf=False, **options)
        assert r.status_code == 403, (fields, options)
        assert "This request was refused" in r.text and r.headers["content-type"].startswith("text/html")
        http.cookies.clear()
        assert http.get("/v1/me", headers=alive).status_code == 200
    assert len(audit(srv, "csrf.rejected")) == 5
    r = form_post(b, "/account/sessions/others", {"csrf_token": b.csrf}, csrf=False)
    assert r.status_code == 303 and r.headers["location"] == "/account/sessions?done=others&n=1"
    http.cookies.clear()
    assert http.get("/v1/me", headers=alive).status_code == 401


def test_sign_in_from_another_origin_is_refused(srv: Server, http: httpx2.Client) -> None:
    http.cookies.clear()
    fields = {"username": "alice", "password": PASSWORD}
    r = http.post("/account/signin", data=fields, headers={"Origin": "https://evil.example"})
    assert r.status_code == 403 and "set-cookie" not in r.headers
    r = http.post("/account/signin", data=fields, headers={"Origin": srv.base_url}, follow_redirects=False)
    assert r.status_code == 303 and set(set_cookies(r)) == {ACCESS, REFRESH}


def test_sign_in_page_answers(srv: Server, http: httpx2.Client) -> None:
    same = {"Origin": srv.base_url}
    http.cookies.clear()
    r = http.post("/account/signin", data={"username": "alice", "password": "wrong"}, headers=same)
    assert r.status_code == 401 and "incorrect" in r.text and 'value="alice"' in r.text
    r = http.post("/account/signin", data={"username": "", "password": ""}, headers=same)
    assert r.status_code == 400
    r = http.post("/account/signin", content=b"\xff\xfe", headers={**same, "Content-Type": "text/plain"})
    assert r.status_code == 400


def test_user_agents_and_addresses_are_escaped_on_the_page(srv: Server, http: httpx2.Client) -> None:
    http.cookies.clear()
    evil = '<img src=x onerror="alert(1)"> Firefox/99.0'
    r = http.post(
        "/v1/sessions",
        json={"username": "alice", "password": PASSWORD, "transport": "cookie"},
        headers={"User-Agent": evil},
    )
    cookies = {name: m["value"] for name, m in set_cookies(r).items()}
    b = Browserish(srv, http, cookies, r.json()["csrf_token"])
    html = page(b).text
    assert "<img" not in html and "onerror" not in html
    assert "Firefox 99" in html
