"""The settings sections, the shipped policies and clients, and the whole Settings object."""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final, Literal

from sessionward.config._fields import (
    _T,
    REDACTED,
    _check_name,
    _is_host,
    _is_issuer,
    _key,
    _seconds,
    _specs,
    _validate,
    redact_url,
)
from sessionward.durations import parse_duration
from sessionward.errors import ConfigError


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = _key("127.0.0.1", "str", required=True)
    port: int = _key(8443, "int", low=1, high=65535)
    tls_cert: str = _key("", "str")
    tls_key: str = _key("", "str")
    issuer: str = _key("", "str")
    # What one client may cost before the app sees its request (README, "Behind a proxy"): the TLS handshake
    # and each request (headers and body, from its first byte) must arrive within these; with max_concurrency
    # connections open or requests in progress a request is answered 503; beyond max_connections a new
    # connection is closed at once.
    tls_handshake_timeout: float = _key(10.0, "duration", low=0.1, high=300.0)
    request_read_timeout: float = _key(10.0, "duration", low=0.1, high=300.0)
    max_concurrency: int = _key(1000, "int", high=1_000_000)
    max_connections: int = _key(1100, "int", high=1_000_000)

    def __post_init__(self) -> None:
        _validate(self, "server")
        if self.max_connections < self.max_concurrency:
            raise ConfigError("server.max_connections", f"must be at least max_concurrency ({self.max_concurrency})")
        if not _is_host(self.host):
            raise ConfigError("server.host", f"must be a host name or an IP address, got {self.host!r:.70}")
        if self.tls_cert and not self.tls_key:
            raise ConfigError("server.tls_key", "must be set when server.tls_cert is set")
        if self.tls_key and not self.tls_cert:
            raise ConfigError("server.tls_cert", "must be set when server.tls_key is set")
        if self.issuer and not _is_issuer(self.issuer):
            message = "must be an https:// URL with a host and no user info, query or fragment"
            raise ConfigError("server.issuer", f"{message}, got {self.issuer!r:.100}")

    @property
    def issuer_url(self) -> str:
        if self.issuer:
            return self.issuer.rstrip("/")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"https://{host}:{self.port}"


@dataclass(frozen=True, slots=True)
class StorageSettings:
    data_dir: str = _key(".sessionward", "str", required=True)
    database_url: str = _key("", "url", choices=("postgresql", "postgres", "sqlite"))
    redis_url: str = _key("", "url", choices=("redis", "rediss", "unix"))
    # Connections each node keeps open to PostgreSQL (its write and read concurrency), and to Redis.
    pool_size: int = _key(10, "int", high=1000)
    redis_pool_size: int = _key(50, "int", high=10000)
    # The key-encryption key of the secrets the database holds (README, "Secrets at rest"): the key itself
    # (SESSIONWARD_STORAGE__KEK, for several nodes), or a file holding it; both empty: <data_dir>/kek.
    kek: str = _key("", "secret")
    kek_file: str = _key("", "str")

    def __post_init__(self) -> None:
        _validate(self, "storage")
        if self.kek and self.kek_file:
            raise ConfigError("storage.kek", "set storage.kek or storage.kek_file, not both")

    def __repr__(self) -> str:
        return (
            f"StorageSettings(data_dir={self.data_dir!r}, database_url={redact_url(self.database_url)!r}, "
            f"redis_url={redact_url(self.redis_url)!r}, pool_size={self.pool_size!r}, "
            f"redis_pool_size={self.redis_pool_size!r}, kek={REDACTED if self.kek else ''!r}, "
            f"kek_file={self.kek_file!r})"
        )


@dataclass(frozen=True, slots=True)
class TokenSettings:
    algorithm: Literal["ES256", "RS256"] = _key("ES256", "choice", choices=("ES256", "RS256"))
    audience: str = _key("sessionward", "str", required=True)
    leeway: float = _key(5.0, "duration", low=0.0, high=300.0)
    # DPoP (RFC 9449): how old a proof's iat may be, and whether every proof must carry the server's nonce.
    dpop_max_age: float = _key(60.0, "duration", low=1.0, high=600.0)
    dpop_nonce: bool = _key(False, "bool")

    def __post_init__(self) -> None:
        _validate(self, "tokens")


@dataclass(frozen=True, slots=True)
class PolicySettings:
    name: str
    access_token_ttl: float = _key(300.0, "duration")
    idle_timeout: float = _key(1800.0, "duration")
    absolute_timeout: float = _key(43200.0, "duration")
    refresh_grace: float = _key(30.0, "duration", low=0.0)
    max_sessions_per_user: int = _key(10, "int")
    max_sessions_per_ip: int = _key(100, "int")
    on_session_limit: Literal["reject", "evict_oldest"] = _key("reject", "choice", choices=("reject", "evict_oldest"))
    require_mfa: bool = _key(False, "bool")
    step_up_max_age: float = _key(300.0, "duration")

    def __post_init__(self) -> None:
        where = f"policies.{self.name}"
        _check_name(self.name, where)
        _validate(self, where)
        ttl, idle, absolute = self.access_token_ttl, self.idle_timeout, self.absolute_timeout
        if ttl > idle:
            raise ConfigError(f"{where}.access_token_ttl", f"must not exceed idle_timeout ({_seconds(idle)})")
        if ttl > absolute:
            raise ConfigError(f"{where}.access_token_ttl", f"must not exceed absolute_timeout ({_seconds(absolute)})")
        if idle > absolute:
            raise ConfigError(f"{where}.idle_timeout", f"must not exceed absolute_timeout ({_seconds(absolute)})")
        if self.refresh_grace >= idle:
            raise ConfigError(f"{where}.refresh_grace", f"must be shorter than idle_timeout ({_seconds(idle)})")


@dataclass(frozen=True, slots=True)
class ClientSettings:
    client_id: str
    policy: str = _key("default", "str")
    client_secret: str = _key("", "secret")
    # true: a resource server, which may introspect the tokens of every client (false: only its own tokens).
    introspect_any: bool = _key(False, "bool")

    def __post_init__(self) -> None:
        where = f"clients.{self.client_id}"
        _check_name(self.client_id, where)
        _validate(self, where)
        _check_name(self.policy, f"{where}.policy")

    def __repr__(self) -> str:
        secret = REDACTED if self.client_secret else ""
        return (
            f"ClientSettings(client_id={self.client_id!r}, policy={self.policy!r}, client_secret={secret!r}, "
            f"introspect_any={self.introspect_any!r})"
        )


@dataclass(frozen=True, slots=True)
class PasswordSettings:
    """argon2id parameters; memory_cost in KiB (at most 4 GiB, at least 8 KiB per lane)."""

    time_cost: int = _key(3, "int", low=1, high=1000)
    memory_cost: int = _key(65536, "int", low=8, high=4 * 1024 * 1024)
    parallelism: int = _key(4, "int", low=1, high=255)

    def __post_init__(self) -> None:
        _validate(self, "passwords")
        if self.memory_cost < 8 * self.parallelism:
            raise ConfigError("passwords.memory_cost", f"must be at least 8 * parallelism ({8 * self.parallelism})")


@dataclass(frozen=True, slots=True)
class LoginSettings:
    """Login throttling over a moving window of `failure_window` seconds."""

    max_failures_per_account: int = _key(
        100, "int", low=1, high=100
    )  # NIST SP 800-63B: at most 100 consecutive failures
    max_failures_per_account_ip: int = _key(10, "int")
    max_attempts_per_ip: int = _key(300, "int")
    failure_window: float = _key(900.0, "duration")
    # Failed client authentications (a wrong client_secret), in the same window: naming one client, from one address.
    max_client_auth_failures_per_client: int = _key(100, "int")
    max_client_auth_failures_per_ip: int = _key(20, "int")

    def __post_init__(self) -> None:
        _validate(self, "login")
        if self.max_failures_per_account_ip > self.max_failures_per_account:
            limit = self.max_failures_per_account
            raise ConfigError(
                "login.max_failures_per_account_ip", f"must not exceed max_failures_per_account ({limit})"
            )


# Strict policies shipped in the default configuration (README, "Policies"): multi-factor login, short idle and
# absolute timeouts, and a second factor checked within step_up_max_age for each sensitive operation. A
# configuration file or the environment changes any of their keys; the keys it leaves alone keep these values.
SHIPPED_POLICIES: Final[Mapping[str, Mapping[str, Any]]] = types.MappingProxyType(
    {
        "admin": {
            "access_token_ttl": "2m",
            "idle_timeout": "10m",
            "absolute_timeout": "8h",
            "max_sessions_per_user": 3,
            "require_mfa": True,
            "step_up_max_age": "5m",
        },
        "financial": {
            "access_token_ttl": "2m",
            "idle_timeout": "10m",
            "absolute_timeout": "2h",
            "max_sessions_per_user": 3,
            "require_mfa": True,
            "step_up_max_age": "2m",
        },
    }
)
SHIPPED_CLIENTS: Final[Mapping[str, Mapping[str, Any]]] = types.MappingProxyType(
    {"admin-console": {"policy": "admin"}, "payments": {"policy": "financial"}}
)


def shipped_policies() -> dict[str, PolicySettings]:
    """The policies of the default configuration: "default" and the strict ones."""
    shipped = {
        name: _build(PolicySettings, values, f"policies.{name}", name=name) for name, values in SHIPPED_POLICIES.items()
    }
    return {"default": PolicySettings("default"), **shipped}


def shipped_clients() -> dict[str, ClientSettings]:
    """The clients of the default configuration: "web" and those naming the strict policies."""
    shipped = {c: _build(ClientSettings, values, f"clients.{c}", client_id=c) for c, values in SHIPPED_CLIENTS.items()}
    return {"web": ClientSettings("web"), **shipped}


@dataclass(frozen=True, slots=True)
class Settings:
    server: ServerSettings = field(default_factory=ServerSettings)
    storage: StorageSettings = field(default_factory=StorageSettings)
    tokens: TokenSettings = field(default_factory=TokenSettings)
    # Settings() alone is the minimal configuration; load_settings() adds the shipped strict policies and clients.
    policies: Mapping[str, PolicySettings] = field(default_factory=lambda: {"default": PolicySettings("default")})
    clients: Mapping[str, ClientSettings] = field(default_factory=lambda: {"web": ClientSettings("web")})
    passwords: PasswordSettings = field(default_factory=PasswordSettings)
    login: LoginSettings = field(default_factory=LoginSettings)

    def __post_init__(self) -> None:
        object.__setattr__(self, "policies", types.MappingProxyType(dict(self.policies)))
        object.__setattr__(self, "clients", types.MappingProxyType(dict(self.clients)))
        for name, policy in self.policies.items():
            if policy.name != name:
                raise ConfigError(f"policies.{name}", f"holds the policy named {policy.name!r}")
        if "default" not in self.policies:
            raise ConfigError("policies.default", "must exist")
        if "web" not in self.clients:
            raise ConfigError("clients.web", "must exist")
        for client_id, client in self.clients.items():
            if client.client_id != client_id:
                raise ConfigError(f"clients.{client_id}", f"holds the client named {client.client_id!r}")
            if client.policy not in self.policies:
                raise ConfigError(f"clients.{client_id}.policy", f"names the unknown policy {client.policy!r}")

    def __hash__(self) -> int:
        values = (getattr(self, f.name) for f in fields(self))
        return hash(tuple(tuple(v.items()) if isinstance(v, Mapping) else v for v in values))

    def policy_for_client(self, client_id: str) -> PolicySettings:
        """The policy of `client_id`; KeyError when the client is unknown."""
        return self.policies[self.clients[client_id].policy]

    @property
    def max_access_token_ttl(self) -> float:
        return max(policy.access_token_ttl for policy in self.policies.values())


_SECTIONS: Final[dict[str, type[Any]]] = {
    "server": ServerSettings,
    "storage": StorageSettings,
    "tokens": TokenSettings,
    "passwords": PasswordSettings,
    "login": LoginSettings,
}
_NAMED: Final[dict[str, type[Any]]] = {"policies": PolicySettings, "clients": ClientSettings}
_SPECS: Final = {cls: _specs(cls) for cls in (*_SECTIONS.values(), *_NAMED.values())}


def _build(cls: type[_T], values: Mapping[str, Any], where: str, **identity: str) -> _T:
    arguments = dict(values)
    for key, spec in _SPECS[cls].items():
        if spec.kind == "duration" and key in arguments:
            arguments[key] = parse_duration(arguments[key], f"{where}.{key}", allow_zero=spec.low == 0)
    return cls(**identity, **arguments)
