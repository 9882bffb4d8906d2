"""The key-encryption key (KEK): what keeps the secrets the database holds (signing keys, TOTP secrets, the
server secret) unreadable to whoever reads the database alone.

A KEK is 32 random bytes, written as base64url (43 characters). A `KekRing` holds one or more of them: the
first encrypts, every one decrypts (so the old key stays readable while a rotation re-encrypts under the new).
A sealed value is `swk1:<kek id>:<base64url(nonce | AES-256-GCM ciphertext and tag)>`, with the row's identity
(for example "signing_key:<kid>") as associated data: a value copied into another row does not open. The kek id
is a one-way fingerprint of the key (16 hex digits): it names the key in errors without revealing it.

Nothing here does I/O; crypto/kek_source.py reads and writes the key where it is kept.
"""

from __future__ import annotations

import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Final, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from sessionward.crypto._b64 import b64url_encode
from sessionward.errors import ConfigError

KEK_BYTES: Final = 32
SEALED_PREFIX: Final = "swk1:"
_NONCE_BYTES: Final = 12
_KEK_TEXT: Final = re.compile(r"[A-Za-z0-9_-]{43}")
_SEALED: Final = re.compile(r"swk1:([0-9a-f]{16}):([A-Za-z0-9_-]+)")
_ID_LABEL: Final = b"sessionward kek id v1"
# The configuration key an error about the KEK names (the one an operator sets: see crypto/kek_source.py).
KEK_SETTING: Final = "storage.kek"


class KekError(ConfigError):
    """The KEK is missing, malformed, or not the one the stored data was encrypted with: the service must not
    start (or the command must not go on) half-working. The message never contains key material."""

    def __init__(self, message: str, key: str = KEK_SETTING) -> None:
        super().__init__(key, message)
        self.detail = message


@dataclass(frozen=True, slots=True)
class Kek:
    material: bytes = field(repr=False)
    kek_id: str = field(init=False)

    def __post_init__(self) -> None:
        if type(self.material) is not bytes or len(self.material) != KEK_BYTES:
            raise KekError(f"a key-encryption key is {KEK_BYTES} bytes")
        digest = hmac.new(self.material, _ID_LABEL, hashlib.sha256).hexdigest()[:16]
        object.__setattr__(self, "kek_id", digest)

    @classmethod
    def generate(cls) -> Kek:
        return cls(os.urandom(KEK_BYTES))

    @property
    def text(self) -> str:
        """The form written to a file or an environment variable."""
        return b64url_encode(self.material)


def parse_keks(text: str, where: str) -> tuple[Kek, ...]:
    """The keys in `text`: base64url keys separated by white space or commas, the current one first; lines
    starting with '#' are comments. Raises KekError naming `where`, never echoing the text."""
    keys: list[Kek] = []
    for line in text.splitlines():
        if line.strip().startswith("#"):
            continue
        for word in re.split(r"[\s,]+", line.strip()):
            if not word:
                continue
            if not _KEK_TEXT.fullmatch(word):
                raise KekError("is not a key-encryption key (43 base64url characters: sessionward keys new-kek)", where)
            try:
                material = binascii.a2b_base64(word.translate(bytes.maketrans(b"-_", b"+/")) + "=")
            except binascii.Error:
                raise KekError("is not a key-encryption key (43 base64url characters)", where) from None
            keys.append(Kek(material))
    if not keys:
        raise KekError("holds no key-encryption key", where)
    return tuple(keys)


def _associated(purpose: str) -> bytes:
    return b"sessionward\x00" + purpose.encode("utf-8")


def kek_id_of(sealed: str) -> str | None:
    """The id of the KEK a sealed value was encrypted with; None when the value is not sealed (clear text)."""
    match = _SEALED.fullmatch(sealed)
    return match[1] if match else None


def is_sealed(value: str | bytes) -> bool:
    text = value.decode("ascii", "replace") if isinstance(value, bytes) else value
    return text.startswith(SEALED_PREFIX)


class KekRing:
    """The KEKs one process holds, the current one first. Immutable."""

    __slots__ = ("_by_id", "_keys")

    def __init__(self, keys: Iterable[Kek]) -> None:
        ordered = tuple(keys)
        if not ordered:
            raise KekError("no key-encryption key is configured")
        by_id: dict[str, Kek] = {}
        for key in ordered:
            by_id.setdefault(key.kek_id, key)
        self._keys = ordered
        self._by_id = by_id

    def __repr__(self) -> str:
        return f"KekRing({', '.join(self.ids)})"

    @property
    def current(self) -> Kek:
        return self._keys[0]

    @property
    def keys(self) -> tuple[Kek, ...]:
        return self._keys

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(k.kek_id for k in self._keys)

    def __contains__(self, kek_id: object) -> bool:
        return kek_id in self._by_id

    def seal(self, plaintext: bytes, purpose: str) -> str:
        """`plaintext` encrypted under the current KEK, bound to `purpose` (the row it is stored in)."""
        key = self.current
        nonce = os.urandom(_NONCE_BYTES)
        body = AESGCM(key.material).encrypt(nonce, plaintext, _associated(purpose))
        return f"{SEALED_PREFIX}{key.kek_id}:{b64url_encode(nonce + body)}"

    def open(self, sealed: str, purpose: str) -> bytes:
        """The plaintext of a sealed value. KekError when the value is not sealed, was sealed under a KEK this
        ring lacks, or does not open (another row's value, altered, or a different key with a colliding id)."""
        match = _SEALED.fullmatch(sealed)
        if match is None:
            raise KekError(f"the stored {purpose.partition(':')[0]} is not encrypted or is damaged")
        key = self._by_id.get(match[1])
        if key is None:
            raise KekError(
                f"the database's secrets are encrypted under key-encryption key {match[1]}, which is not "
                f"configured (configured: {', '.join(self.ids)})"
            )
        segment = match[2]
        try:
            blob = binascii.a2b_base64(segment.translate(str.maketrans("-_", "+/")) + "=" * (-len(segment) % 4))
            return AESGCM(key.material).decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _associated(purpose))
        except (binascii.Error, InvalidTag, ValueError):
            raise KekError(
                f"a stored {purpose.partition(':')[0]} does not decrypt under key-encryption key {key.kek_id}: "
                "it was altered or moved"
            ) from None


class KekProvider(Protocol):
    """Where a store gets its KEKs; `reload()` reads them again from where they are kept (after a rotation by
    another process) and returns the ring now in force."""

    def ring(self) -> KekRing: ...

    def reload(self) -> KekRing: ...


class StaticKeks:
    """A KekProvider over fixed keys (tests, and a process whose keys cannot change)."""

    def __init__(self, ring: KekRing) -> None:
        self._ring = ring

    def ring(self) -> KekRing:
        return self._ring

    def reload(self) -> KekRing:
        return self._ring


def derive_key(secret: bytes, purpose: str) -> bytes:
    """A 32-byte key for one purpose ("audit chain", "typed identifiers"), derived from the server secret by
    HKDF-SHA256: knowing one derived key tells nothing of the secret or of the others."""
    info = b"sessionward " + purpose.encode("ascii") + b" v1"
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info).derive(secret)


def keyed_digest(key: bytes, value: str) -> str:
    """HMAC-SHA256 of `value`, 32 hex digits: the same value gives the same digest under one key, and without
    the key no dictionary of values can be matched against it."""
    return hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]
