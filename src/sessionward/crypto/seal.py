"""Sealing data under a bearer secret: AES-256-GCM with a key derived from the secret by HKDF-SHA256.

Used for the successor pair stored beside a rotated refresh token: whoever reads the database cannot open it;
only the holder of the old refresh token can, and that is exactly who may be answered with it again.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_INFO = b"sessionward refresh successor v1"
_NONCE_BYTES = 12


def _key(secret: str) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(secret.encode("utf-8"))


def seal(secret: str, plaintext: bytes, context: bytes) -> bytes:
    """`context` (for example the token's hash) is bound as associated data: a blob moved elsewhere fails."""
    nonce = os.urandom(_NONCE_BYTES)
    return nonce + AESGCM(_key(secret)).encrypt(nonce, plaintext, context)


def unseal(secret: str, blob: bytes, context: bytes) -> bytes | None:
    if len(blob) <= _NONCE_BYTES:
        return None
    try:
        return AESGCM(_key(secret)).decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], context)
    except InvalidTag:
        return None
