"""The pure one-time-code rules: which TOTP step a code belongs to (one step of drift, no more), and recovery
codes that compare by their normalized form and carry 50 random bits."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pyotp
import pytest

from sessionward.core.otp import (
    new_recovery_code,
    new_totp_secret,
    provisioning_uri,
    recovery_code_hash,
    totp_step_matching,
)

NOW = 1_800_000_015.0  # inside step 60_000_000
STEP = 60_000_000


@pytest.fixture
def secret() -> str:
    return new_totp_secret()


@pytest.mark.parametrize("offset", [-1, 0, 1])
def test_a_code_within_one_step_names_its_step(secret: str, offset: int) -> None:
    code = pyotp.TOTP(secret).at(NOW + offset * 30)
    assert totp_step_matching(secret, code, NOW) == STEP + offset
    assert totp_step_matching(secret, f"{code[:3]} {code[3:]}", NOW) == STEP + offset  # as apps show it


@pytest.mark.parametrize("offset", [-3, -2, 2, 3])
def test_a_code_two_steps_away_is_refused(secret: str, offset: int) -> None:
    code = pyotp.TOTP(secret).at(NOW + offset * 30)
    near = {pyotp.TOTP(secret).at(NOW + o * 30) for o in (-1, 0, 1)}
    if code not in near:  # a 1-in-a-million collision with a nearby step would be a right code
        assert totp_step_matching(secret, code, NOW) is None


@pytest.mark.parametrize(
    "bad", ["", "12345", "1234567", "12a456", "\uff11\uff12\uff13\uff14\uff15\uff16", "123456\n", "-12345"]
)
def test_anything_but_six_ascii_digits_is_refused(secret: str, bad: str) -> None:
    assert totp_step_matching(secret, bad, NOW) is None


def test_another_secrets_code_is_refused(secret: str) -> None:
    other = new_totp_secret()
    assert other != secret and len(other) == 32
    code = pyotp.TOTP(other).at(NOW)
    if code != pyotp.TOTP(secret).at(NOW):
        assert totp_step_matching(secret, code, NOW) is None


def test_recovery_codes_compare_by_their_normal_form() -> None:
    code = new_recovery_code()
    assert re.fullmatch(r"[0-9A-HJKMNP-TV-Z]{5}-[0-9A-HJKMNP-TV-Z]{5}", code)
    same = {recovery_code_hash(v) for v in (code, code.lower(), code.replace("-", ""), f" {code[:5]} {code[6:]} ")}
    assert same == {recovery_code_hash(code)}
    assert recovery_code_hash(code) != recovery_code_hash(new_recovery_code())
    assert len({new_recovery_code() for _ in range(1000)}) == 1000


def test_the_provisioning_uri_names_the_issuer_the_user_and_the_secret(secret: str) -> None:
    uri = provisioning_uri(secret, "alice@example.com")
    parts = urlsplit(uri)
    assert (parts.scheme, parts.netloc) == ("otpauth", "totp")
    query = parse_qs(parts.query)
    assert query["secret"] == [secret] and query["issuer"] == ["sessionward"]
    assert "alice%40example.com" in parts.path
