"""Numbers in requests through the real server (issue 10 item 8): `/account/sessions?n=²` answered 500."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx2
import pytest

from tests.service.conftest import Server
from tests.service.helpers import PASSWORD
from tests.service.test_connection_limits import read_answer, status_of, tls
from tests.service.test_cookies_csrf import POLICY, Browserish, cookie_login, page

NOT_NUMBERS = ["²", "٣", "1²", "\uff11", "1_000", " 1", "+1", "-1", "0x1", "9" * 40]


@pytest.fixture
def srv(make_server: Callable[..., Server]) -> Server:
    server = make_server(env=POLICY)
    server.add_user("alice", PASSWORD)
    return server


@pytest.fixture
def browser(srv: Server) -> Iterator[Browserish]:
    with srv.client() as http:
        yield cookie_login(srv, http)


@pytest.mark.parametrize("n", NOT_NUMBERS)
def test_a_count_that_is_not_plain_digits_is_not_read_as_one(browser: Browserish, n: str) -> None:
    # The count only words the confirmation after "sign out everywhere else": one not given is no count.
    r = page(browser, "/account/sessions?" + str(httpx2.QueryParams({"done": "others", "n": n})))
    assert r.status_code == 200
    assert "There were no other sessions to sign out." in r.text
    assert "3 other sessions" not in r.text  # "٣" was read as 3


def test_a_plain_count_is_shown(browser: Browserish) -> None:
    r = page(browser, "/account/sessions?done=others&n=2")
    assert r.status_code == 200 and "2 other sessions ended" in r.text


@pytest.mark.parametrize("length", [b"\xb2", b"\xd9\xa3", b"1_0", b"+2", b"-1", b" 2 2", b"9" * 40])
def test_a_content_length_that_is_not_plain_digits_is_400(srv: Server, length: bytes) -> None:
    with tls(srv) as conn:
        conn.sendall(
            b"POST /v1/sessions HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + length + b"\r\n\r\n{}"
        )
        assert status_of(read_answer(conn)) == 400
