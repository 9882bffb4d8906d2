"""Tables of the durable store. Times are UTC seconds since the epoch (SQLite keeps no time zones).

The migrations in sessionward/migrations build exactly these tables; a contract test compares the two on every
backend. Change a table here and add the migration that makes it so.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
)

metadata = MetaData()

# Sequence numbers that grow for the life of the deployment: BIGINT on PostgreSQL (an INTEGER would run out
# after 2**31 audit records), INTEGER on SQLite, whose integers are 64-bit anyway and whose INTEGER PRIMARY KEY
# is the rowid.
Seq = BigInteger().with_variant(Integer(), "sqlite")

users = Table(
    "users",
    metadata,
    Column("user_id", String(64), primary_key=True),
    Column("username", String(64), nullable=False, unique=True),
    Column("password_hash", Text, nullable=False),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("created_at", Double, nullable=False),
    Column("epoch", Double, nullable=False, default=0.0),
    # core.names.fold_username(username): names that fold alike are one account, so this is unique. Always set by
    # the store; nullable only because SQLite cannot add a NOT NULL column without a default (migration 0009).
    Column("username_folded", Text, nullable=True),
    Index("ux_users_username_folded", "username_folded", unique=True),
)

signing_keys = Table(
    "signing_keys",
    metadata,
    Column("kid", String(128), primary_key=True),
    Column("alg", String(16), nullable=False),
    Column("private_pem", LargeBinary, nullable=False),  # encrypted under the KEK (migration 0008)
    Column("created_at", Double, nullable=False),
    Column("state", String(16), nullable=False),
    Column("verify_until", Double, nullable=True),
)

sessions = Table(
    "sessions",
    metadata,
    Column("sid", String(64), primary_key=True),
    Column("user_id", String(64), ForeignKey("users.user_id"), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("policy", String(64), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("last_active_at", Double, nullable=False),
    Column("auth_time", Double, nullable=False),
    Column("acr", String(128), nullable=False),
    Column("amr", String(256), nullable=False),
    Column("ip", String(64), nullable=False),
    Column("user_agent", String(512), nullable=False),
    Column("state", String(16), nullable=False),
    Column("ended_at", Double, nullable=True),
    Column("end_reason", String(64), nullable=False, default=""),
    Column("family", String(32), nullable=False, unique=True),
    Column("mfa_at", Double, nullable=True),  # when a second factor was last verified (migration 0003)
    Column("dpop_jkt", String(64), nullable=True),  # the DPoP key the session is bound to (migration 0004)
    Column("mfa_amr", String(64), nullable=True),  # JSON: the methods of the last step-up (migration 0005)
    Index("ix_sessions_user_state", "user_id", "state"),
    Index("ix_sessions_ip_state", "ip", "state"),
)

refresh_tokens = Table(
    "refresh_tokens",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("sid", String(64), ForeignKey("sessions.sid"), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("state", String(16), nullable=False),
    Column("rotated_at", Double, nullable=True),
    # The successor pair, sealed with a key derived from this token: only its holder can open it (grace replay).
    Column("successor", LargeBinary, nullable=True),
    Index("ix_refresh_sid", "sid"),
)

# Every revocation, numbered in commit order (see revocation_head), so every node can add it to its in-memory
# state within a poll.
revocations = Table(
    "revocations",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=False),
    Column("kind", String(8), nullable=False),  # "sid" or "epoch"
    Column("subject", String(64), nullable=False),  # the sid, or the user id
    Column("value", Double, nullable=False),  # sid: keep the entry until then; epoch: the user's new epoch
    Column("at", Double, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=False),
    Column("at", Double, nullable=False),
    Column("event", String(64), nullable=False),
    Column("data", Text, nullable=False),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)

# The newest record's (seq, hash), updated with every append: removing records at the end shows.
audit_head = Table(
    "audit_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Seq, nullable=False),
    Column("hash", String(64), nullable=False),
)

# The newest revocation's seq. A transaction takes its numbers from this row just before it commits and holds
# the row until it has: numbers are handed out in commit order, so a node that has read seq N has seen every
# entry up to N and can poll `seq > N` without ever missing one (a SERIAL number is taken at insert and can
# commit after a higher one has been read).
revocation_head = Table(
    "revocation_head",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("seq", Seq, nullable=False),
)

# -- second factors (migration 0003) --------------------------------------------------------------------------------

# One TOTP factor per user. `secret` is the confirmed one, `pending_secret` one enrolled and not yet confirmed;
# `last_step` the newest RFC 6238 time step accepted: a compare-and-set on it accepts each code once, on any node.
mfa_factors = Table(
    "mfa_factors",
    metadata,
    Column("user_id", String(64), ForeignKey("users.user_id"), primary_key=True),
    # Encrypted under the key-encryption key (crypto/kek.py, migration 0008): "swk1:<kek id>:<ciphertext>".
    Column("secret", String(256), nullable=True),
    Column("pending_secret", String(256), nullable=True),
    Column("last_step", Seq, nullable=False),
    Column("confirmed_at", Double, nullable=True),
    Column("created_at", Double, nullable=False),
)

# Single-use recovery codes, only as SHA-256 hashes (each code carries 50 random bits).
recovery_codes = Table(
    "recovery_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("user_id", String(64), ForeignKey("users.user_id"), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("used_at", Double, nullable=True),
    Index("ix_recovery_codes_user", "user_id"),
)

# The second step of a login (the mfa_token, only hashed): short-lived, single-use, bound to the first step.
mfa_challenges = Table(
    "mfa_challenges",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("user_id", String(64), ForeignKey("users.user_id"), nullable=False),
    Column("client_id", String(64), nullable=False),
    Column("ip", String(64), nullable=False),
    Column("user_agent", String(512), nullable=False),
    Column("revoke_others", Boolean, nullable=False),
    Column("password_digest", String(64), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("expires_at", Double, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("state", String(16), nullable=False),
    Index("ix_mfa_challenges_user", "user_id"),
)

# -- WebAuthn (migration 0005) --------------------------------------------------------------------------------------

# A user's registered authenticators. `credential_id` is base64url (at most 1023 bytes raw); `sign_count` the
# newest signature counter seen: a compare-and-set on it refuses a cloned authenticator's stale count.
webauthn_credentials = Table(
    "webauthn_credentials",
    metadata,
    Column("credential_id", String(1400), primary_key=True),
    Column("user_id", String(64), ForeignKey("users.user_id"), nullable=False),
    Column("public_key", LargeBinary, nullable=False),
    Column("sign_count", Seq, nullable=False),
    Column("name", String(64), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("last_used_at", Double, nullable=True),
    Index("ix_webauthn_credentials_user", "user_id"),
)

# WebAuthn ceremony challenges, only hashed: single-use, short-lived, bound to a user and a purpose
# ("register", "login:<mfa_token hash>", "step_up:<sid>").
webauthn_challenges = Table(
    "webauthn_challenges",
    metadata,
    Column("challenge_hash", String(64), primary_key=True),
    Column("user_id", String(64), ForeignKey("users.user_id"), nullable=False),
    Column("purpose", String(128), nullable=False),
    Column("expires_at", Double, nullable=False),
    Index("ix_webauthn_challenges_user", "user_id"),
)

# -- secrets at rest (migration 0008) -------------------------------------------------------------------------------

# The server secret ("root"), encrypted under the key-encryption key with `keyed_from` bound to it: the audit
# chain's HMAC key and the key of typed identifiers are derived from it, and the audit records from
# `keyed_from` on are chained with that HMAC (those before it, written before the upgrade, with plain SHA-256).
# `kek_id` names the KEK every secret of the database is encrypted under (a rotation changes it in the same
# transaction as it re-encrypts them).
server_secrets = Table(
    "server_secrets",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("kek_id", String(32), nullable=False),
    Column("value", Text, nullable=False),
    Column("keyed_from", Seq, nullable=False),
    Column("created_at", Double, nullable=False),
)
