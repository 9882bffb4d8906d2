"""Numbers read from text accept ASCII digits only (issue 10 item 8: `"²".isdigit()` is true, `int("²")` fails,
and `int("٣")` is 3): the helper, and every place that reads a number from text without a server in the way."""

from __future__ import annotations

from typing import Any

import anyio
import httpx2
import pytest
from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from sessionward.config import load_settings, parse_duration
from sessionward.core.numbers import ascii_digits, ascii_int
from sessionward.core.otp import totp_step_matching
from sessionward.errors import ConfigError, InvalidRequest
from sessionward.http.body import MAX_BODY_BYTES, capped_body
from sessionward.http.routes.revocations import last_event_id
from sessionward.sdk._feed import RevocationFeed

# Each is text that str.isdigit() or int() would take as a number, or a number out of every range here.
NOT_NUMBERS = ["²", "٣", "1²", "\uff11", "1_000", " 1", "1 ", "+1", "-1", "0x1", "1e3", "", "9" * 40]


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_only_ascii_digits_are_a_number(text: str) -> None:
    assert ascii_int(text, max_digits=19) is None
    assert not ascii_digits(text) or len(text) > 19


@given(st.integers(min_value=0, max_value=10**19 - 1))
def test_every_ascii_number_reads_back(n: int) -> None:
    assert ascii_digits(str(n)) and ascii_int(str(n), max_digits=19) == n
    assert ascii_int(str(n).zfill(19), max_digits=19) == n


@given(st.text())
def test_anything_read_is_what_int_reads_and_never_raises(text: str) -> None:
    value = ascii_int(text, max_digits=6)
    assert value is None or (value == int(text) and text.isascii() and len(text) <= 6)


def test_longer_than_max_digits_is_refused() -> None:
    assert ascii_int("123456", max_digits=5) is None
    assert ascii_int("12345", max_digits=5) == 12345


def _request(content_length: bytes) -> Request:
    scope: dict[str, Any] = {
        "type": "http",
        "method": "POST",
        "path": "/v1/sessions",
        "headers": [(b"content-type", b"application/json"), (b"content-length", content_length)],
    }

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"{}", "more_body": False}

    return Request(scope, receive)


@pytest.mark.parametrize("text", [*NOT_NUMBERS, str(MAX_BODY_BYTES + 1)])
def test_capped_body_refuses_a_content_length_that_is_not_a_small_ascii_number(text: str) -> None:
    # Headers arrive as latin-1; "٣" cannot, its UTF-8 bytes can (and read as two other characters).
    raw = text.encode("latin-1") if all(ord(c) < 256 for c in text) else text.encode()
    with pytest.raises(InvalidRequest):
        anyio.run(capped_body, _request(raw), "application/json")


def test_capped_body_reads_a_plain_content_length() -> None:
    assert anyio.run(capped_body, _request(b"2"), "application/json") == b"{}"


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_an_unusable_last_event_id_resumes_from_the_start(text: str) -> None:
    assert last_event_id(text) == 0


@pytest.mark.parametrize("code", ["²²²²²²", "٣٣٣٣٣٣", "\uff11\uff12\uff13\uff14\uff15\uff16", "12345²"])
def test_a_totp_code_of_other_digits_matches_nothing(code: str) -> None:
    assert totp_step_matching("JBSWY3DPEHPK3PXP", code, 1_700_000_000.0) is None


@pytest.mark.parametrize("text", NOT_NUMBERS)
def test_an_integer_from_the_environment_must_be_plain_digits(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"SESSIONWARD_STORAGE__POOL_SIZE": text})
    assert caught.value.key == "storage.pool_size"


@pytest.mark.parametrize("number", ["²", "٣", "1_000", " 1", "+1", "-1", "9" * 40])
def test_a_duration_must_be_plain_digits(number: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_duration(f"{number}s", "policies.default.idle_timeout")
    assert caught.value.key == "policies.default.idle_timeout"


@pytest.mark.parametrize(("given", "kept"), [("²", 1), ("٣", 1), ("+9", 1), ("9" * 40, 1), ("7", 7)])
def test_the_sdk_feed_resumes_only_from_an_ascii_event_id(given: str, kept: int) -> None:
    """ "٣" was read as 3 (an id the server never sent), "²" raised in the middle of the stream."""
    events = [("1", "a"), (given, "b")]
    body = "".join(
        f'id: {i}\nevent: revocation\ndata: {{"kind":"sid","sid":"{s}","until":4102444800}}\n\n' for i, s in events
    )
    body += ": ping\n\n"

    def answer(_request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body.encode())

    feed = RevocationFeed(bound=5.0, leeway=0.0)

    async def read() -> bool:
        async with httpx2.AsyncClient(transport=httpx2.MockTransport(answer)) as http:
            return await feed._connection(http, "https://idp.test/v1/revocations/stream", httpx2.BasicAuth("rp", "s"))

    assert anyio.run(read) is True
    assert feed.last_event_id == kept
    assert feed.is_revoked("b", "u", 0.0)  # the event itself still applies
