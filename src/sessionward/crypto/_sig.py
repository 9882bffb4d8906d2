"""JWS signatures for the two algorithms we use (RFC 7518 sections 3.3 and 3.4)."""

from __future__ import annotations

from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature

from sessionward.crypto._errors import TokenRejected
from sessionward.crypto.keys import SigningKey, VerificationKey

# Stateless parameter objects, built once instead of on every call.
_SHA256: Final = hashes.SHA256()
_PKCS1: Final = padding.PKCS1v15()
_ECDSA: Final = ec.ECDSA(_SHA256)
# Order n of the P-256 group: a valid r and s lie in [1, n-1] (SEC 1, section 4.1.4).
P256_ORDER: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551


def sign(key: SigningKey, data: bytes) -> bytes:
    private_key = key.private_key
    if isinstance(private_key, rsa.RSAPrivateKey):
        return private_key.sign(data, _PKCS1, _SHA256)
    r, s = decode_dss_signature(private_key.sign(data, _ECDSA))
    # JWS wants the fixed-width R||S pair, not DER.
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def verify(key: VerificationKey, signature: bytes, data: bytes) -> None:
    """Raises TokenRejected("bad_signature") unless `signature` is `key`'s signature over `data`."""
    rsa_public = key._rsa_public
    try:
        if rsa_public is not None:
            # Exactly the modulus length: no stripped leading zeros, no trailing junk.
            if len(signature) != key._signature_length:
                raise InvalidSignature
            rsa_public.verify(signature, data, _PKCS1, _SHA256)
            return
        ec_public = key._ec_public
        # Raw R||S is exactly 64 bytes; DER (70-72 bytes) is refused here, and the rare 64-byte DER blob
        # read as R||S is simply a wrong signature.
        if ec_public is None or len(signature) != 64:
            raise InvalidSignature
        r = int.from_bytes(signature[:32], "big")
        s = int.from_bytes(signature[32:], "big")
        if not (0 < r < P256_ORDER and 0 < s < P256_ORDER):
            raise InvalidSignature
        ec_public.verify(encode_dss_signature(r, s), data, _ECDSA)
    except InvalidSignature:
        raise TokenRejected("bad_signature") from None
