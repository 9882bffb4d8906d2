"""The one exception a caller of the verifier ever sees."""

from __future__ import annotations

from typing import Final

from sessionward.errors import InvalidToken

# Every reason the verifier can give; a closed set so audit dashboards can count them.
REASONS: Final = frozenset(
    {
        "malformed",  # not a compact JWS of canonical base64url JSON objects
        "oversized",  # longer than VerifyRules.max_token_bytes
        "bad_header",  # alg missing or not a string
        "bad_typ",  # typ is not exactly VerifyRules.typ
        "crit",  # a crit header: we understand no extensions
        "forbidden_header",  # jwk/jku/x5u/x5c/x5t/x5t#S256: never used to find a key
        "unknown_kid",  # no key with that kid verifies now
        "alg_mismatch",  # header alg differs from the key's algorithm
        "bad_signature",
        "missing_claim",
        "bad_claim",  # a claim of the wrong JSON type or shape
        "bad_issuer",
        "bad_audience",
        "expired",
        "not_yet_valid",
        "issued_in_future",
    }
)


class TokenRejected(InvalidToken):
    """Raised for every token we will not accept, whatever the reason.

    `reason` (one of REASONS) is for the audit log; the message is the same opaque text for every reason and
    never contains the token.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
