"""The [server] limits of issue 10 item 4: validated, named in errors, overridable from the environment."""

from __future__ import annotations

import pytest

from sessionward.config import load_settings
from sessionward.errors import ConfigError


def test_the_defaults_bound_every_client() -> None:
    server = load_settings(environ={}).server
    assert (server.tls_handshake_timeout, server.request_read_timeout) == (10.0, 10.0)
    assert (server.max_concurrency, server.max_connections) == (1000, 1100)


def test_the_environment_sets_each_limit() -> None:
    server = load_settings(
        environ={
            "SESSIONWARD_SERVER__TLS_HANDSHAKE_TIMEOUT": "2s",
            "SESSIONWARD_SERVER__REQUEST_READ_TIMEOUT": "750ms",
            "SESSIONWARD_SERVER__MAX_CONCURRENCY": "50",
            "SESSIONWARD_SERVER__MAX_CONNECTIONS": "80",
        }
    ).server
    assert (server.tls_handshake_timeout, server.request_read_timeout) == (2.0, 0.75)
    assert (server.max_concurrency, server.max_connections) == (50, 80)


@pytest.mark.parametrize(
    ("var", "value", "key"),
    [
        ("SESSIONWARD_SERVER__REQUEST_READ_TIMEOUT", "0s", "server.request_read_timeout"),
        ("SESSIONWARD_SERVER__REQUEST_READ_TIMEOUT", "50ms", "server.request_read_timeout"),
        ("SESSIONWARD_SERVER__REQUEST_READ_TIMEOUT", "10", "server.request_read_timeout"),
        ("SESSIONWARD_SERVER__REQUEST_READ_TIMEOUT", "6m", "server.request_read_timeout"),
        ("SESSIONWARD_SERVER__TLS_HANDSHAKE_TIMEOUT", "1h", "server.tls_handshake_timeout"),
        ("SESSIONWARD_SERVER__MAX_CONCURRENCY", "0", "server.max_concurrency"),
        ("SESSIONWARD_SERVER__MAX_CONNECTIONS", "²", "server.max_connections"),
        ("SESSIONWARD_SERVER__MAX_CONNECTIONS", "999", "server.max_connections"),  # below max_concurrency
    ],
)
def test_bad_limits_name_their_key(var: str, value: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={var: value})
    assert caught.value.key == key
