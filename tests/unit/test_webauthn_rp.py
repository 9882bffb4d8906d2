"""The WebAuthn relying party derived from the issuer: a DNS name is its own RP ID; loopback is localhost (an RP ID
cannot be an IP address); any other IP address has none, so WebAuthn refuses to start rather than fail later."""

from __future__ import annotations

import pytest

from sessionward.services.webauthn import RelyingParty, relying_party


@pytest.mark.parametrize(
    ("issuer", "expected"),
    [
        ("https://auth.example.com", RelyingParty("auth.example.com", "https://auth.example.com")),
        ("https://auth.example.com:443", RelyingParty("auth.example.com", "https://auth.example.com")),
        ("https://Auth.Example.com:8443/", RelyingParty("auth.example.com", "https://auth.example.com:8443")),
        ("https://127.0.0.1:8443", RelyingParty("localhost", "https://localhost:8443")),
        ("https://[::1]:9000", RelyingParty("localhost", "https://localhost:9000")),
        ("https://localhost:8443", RelyingParty("localhost", "https://localhost:8443")),
        ("https://192.0.2.10:8443", None),
        ("https://[2001:db8::1]", None),
        ("https://", None),
    ],
)
def test_relying_party_of_an_issuer(issuer: str, expected: RelyingParty | None) -> None:
    assert relying_party(issuer) == expected
