"""The pure client-authentication rules: reading Basic credentials, one method per request, comparing every reading
of a secret, and the refresh rule of RFC 6749 section 6."""

from __future__ import annotations

import base64
import hmac
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessionward.core import client_auth
from sessionward.core.client_auth import (
    basic_credentials,
    failure_windows,
    presented_credentials,
    refresh_refusal,
    secret_matches,
)
from sessionward.errors import InvalidClient, InvalidRequest
from tests.unit.test_config import config_error, load_toml


def basic(pair: bytes) -> str:
    return "Basic " + base64.b64encode(pair).decode()


def test_basic_is_read_raw_form_decoded_and_percent_decoded() -> None:
    found = basic_credentials(basic(b"rs%2D1:a+b%20c"))
    assert found.client_id == "rs-1"
    assert found.secrets == ("a+b%20c", "a b c", "a+b c")
    assert found.method == "client_secret_basic"
    assert "a+b" not in repr(found)  # the secret never shows in a repr (logs, tracebacks)
    # A colon in a raw secret stays in the secret: only the first one separates.
    assert basic_credentials(basic(b"rs:x:y")).secrets[0] == "x:y"
    # Authlib encodes raw credentials as Latin-1.
    assert basic_credentials(basic("rs:caf\u00e9".encode("latin-1"))).secrets[0] == "caf\u00e9"


@pytest.mark.parametrize(
    "header", ["Bearer abc", "Basic !!!", "Basic " + base64.b64encode(b"no-colon").decode(), "Basic", "x" * 3000]
)
def test_malformed_or_other_schemes_are_invalid_client(header: str) -> None:
    with pytest.raises(InvalidClient):
        basic_credentials(header)


def test_one_method_per_request() -> None:
    header = basic(b"rs:s")
    with pytest.raises(InvalidRequest, match="one client authentication method"):
        presented_credentials(header, "rs", "s")
    with pytest.raises(InvalidRequest):
        presented_credentials(header, "app", None)
    with pytest.raises(InvalidRequest):
        presented_credentials(None, None, "s")
    assert presented_credentials(header, "rs", None) == basic_credentials(header)
    posted = presented_credentials(None, "rs", "a b")
    assert posted is not None and (posted.client_id, posted.secrets, posted.method) == (
        "rs",
        ("a b",),
        "client_secret_post",
    )
    assert presented_credentials(None, "rs", None) is None
    assert presented_credentials(None, "rs", "") is None
    assert presented_credentials(None, None, None) is None


def test_every_reading_is_compared_whichever_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    real = hmac.compare_digest

    def counting(a: bytes, b: bytes) -> bool:
        calls.append(len(a) + len(b))
        return real(a, b)

    monkeypatch.setattr(client_auth.hmac, "compare_digest", counting)
    for readings in (("right", "x", "y"), ("x", "right", "y"), ("x", "y", "right"), ("x", "y", "z")):
        calls.clear()
        secret_matches(readings, "right")
        assert calls == [64, 64, 64]  # all three, over equal-length digests: no early exit, no length signal
    assert secret_matches(("x", "y", "right"), "right")
    assert not secret_matches(("x", "y", "z"), "right")


@given(st.text(max_size=40))
def test_no_secret_never_matches(reading: str) -> None:
    assert not secret_matches((reading, reading), "")


def test_failure_windows_name_the_client_and_the_address() -> None:
    (client_key, client_window), (ip_key, ip_window) = failure_windows("a" * 100, "192.0.2.7", 100, 20, 900.0)
    assert client_key == "client:id:" + "a" * 64
    assert ip_key == "client:ip:192.0.2.7"
    assert (client_window.max_events, ip_window.max_events, ip_window.seconds) == (100, 20, 900.0)


def test_refresh_of_a_confidential_client_needs_that_client() -> None:
    assert refresh_refusal("crm", confidential=True, authenticated=None) == "client_authentication_required"
    assert refresh_refusal("crm", confidential=True, authenticated="other") == "issued_to_another_client"
    assert refresh_refusal("web", confidential=False, authenticated="crm") == "issued_to_another_client"
    assert refresh_refusal("crm", confidential=True, authenticated="crm") is None
    assert refresh_refusal("web", confidential=False, authenticated=None) is None


def test_introspect_any_and_the_client_throttle_are_configured_by_the_rules(tmp_path: Path) -> None:
    settings = load_toml(tmp_path, '[clients.rs]\nclient_secret = "s"\nintrospect_any = true\n')
    assert settings.clients["rs"].introspect_any is True
    assert settings.clients["web"].introspect_any is False  # the default: a client sees only its own tokens
    assert "'s'" not in repr(settings.clients["rs"]) and "introspect_any=True" in repr(settings.clients["rs"])
    from_env = load_toml(tmp_path, "[clients.rs]\n", {"SESSIONWARD_CLIENTS__RS__INTROSPECT_ANY": "true"})
    assert from_env.clients["rs"].introspect_any is True
    assert config_error(tmp_path, '[clients.rs]\nintrospect_any = "yes"\n').key == "clients.rs.introspect_any"
    assert (settings.login.max_client_auth_failures_per_client, settings.login.max_client_auth_failures_per_ip) == (
        100,
        20,
    )
    for key in ("max_client_auth_failures_per_client", "max_client_auth_failures_per_ip"):
        assert config_error(tmp_path, f"[login]\n{key} = 0\n").key == f"login.{key}"
