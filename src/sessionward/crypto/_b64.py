"""Strict base64url and JSON decoding for JWS segments (RFC 7515 section 2, RFC 8725 section 3.2)."""

from __future__ import annotations

import binascii
import json
from collections.abc import Callable
from typing import Any, NoReturn

from sessionward.crypto._errors import TokenRejected

# The urlsafe alphabet is mapped onto the standard one; "+", "/" and "=" become "!", which strict mode
# refuses, so a segment using the standard alphabet or carrying its own padding cannot slip through.
_TO_STANDARD = bytes.maketrans(b"-_+/=", b"+/!!!")
_FROM_STANDARD = bytes.maketrans(b"+/", b"-_")
_PADDING = (b"", b"", b"==", b"=")
# Last character allowed when a segment's length is 2 or 3 mod 4: its unused low bits must be zero, so every
# byte string has exactly one encoding (no malleable twins of a token).
_CANONICAL_LAST = ("", "", "AQgw", "AEIMQUYcgkosw048")


def _malformed() -> NoReturn:
    raise TokenRejected("malformed")


def b64url_encode(data: bytes) -> str:
    return binascii.b2a_base64(data, newline=False).rstrip(b"=").translate(_FROM_STANDARD).decode("ascii")


def b64url_decode(segment: str) -> bytes:
    """Decodes one canonical, unpadded, non-empty base64url segment; anything else is "malformed"."""
    rem = len(segment) & 3
    if rem == 1 or not segment or (rem and segment[-1] not in _CANONICAL_LAST[rem]):
        _malformed()
    try:
        return binascii.a2b_base64(segment.encode("ascii").translate(_TO_STANDARD) + _PADDING[rem], strict_mode=True)
    except (binascii.Error, UnicodeEncodeError):
        _malformed()


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # Duplicate names are where two parsers disagree about what was signed (RFC 8725 section 3.11 spirit).
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise ValueError("duplicate member name")
    return obj


def _no_constants(name: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


# scan_once is the C scanner behind JSONDecoder.decode, minus decode's two whitespace-regex passes (our
# signer writes compact JSON, so surrounding whitespace is refused too).
_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys, parse_constant=_no_constants)
_scan: Callable[[str, int], tuple[Any, int]] = _DECODER.scan_once  # type: ignore[attr-defined]


def json_object(segment: str) -> dict[str, Any]:
    """A base64url segment holding exactly one UTF-8 JSON object, nothing before or after it."""
    raw = b64url_decode(segment)
    try:
        text = raw.decode("utf-8")
        obj, end = _scan(text, 0)
    except (ValueError, StopIteration, RecursionError):
        _malformed()
    if end != len(text) or type(obj) is not dict:
        _malformed()
    return obj
