"""Settings (SPEC section 2): one validated, frozen object built from defaults, a TOML file, the environment
and CLI flags, in that order of precedence.

Every settings class validates itself in ``__post_init__``, so any instance that exists is valid, however it
was built; a bad value raises ConfigError naming the dotted key (``policies.admin.idle_timeout``).
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
import types
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, Final, Literal, TypeVar
from urllib.parse import urlsplit

from sessionward.durations import MAX_DURATION, format_duration, parse_duration
from sessionward.errors import ConfigError

__all__ = [
    "ClientSettings",
    "LoginSettings",
    "PasswordSettings",
    "PolicySettings",
    "ServerSettings",
    "Settings",
    "StorageSettings",
    "TokenSettings",
    "format_duration",
    "load_settings",
    "parse_duration",
    "redact_url",
    "redacted_toml",
    "shipped_clients",
    "shipped_policies",
]

ENV_PREFIX: Final = "SESSIONWARD_"
REDACTED: Final = "***"
NAME_PATTERN: Final = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_HOST_PATTERN: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
_FORBIDDEN_CHARS: Final = re.compile(r"[\x00-\x1f\x7f\ud800-\udfff]")
_MAX_INT: Final = 2**31 - 1
_SECRET_QUERY_WORDS: Final = ("pass", "secret", "token")

_T = TypeVar("_T")
Kind = Literal["str", "url", "secret", "int", "bool", "duration", "choice"]


@dataclass(frozen=True, slots=True)
class _Spec:
    """What a configurable field accepts; kept in the dataclass field's metadata."""

    kind: Kind
    low: float = 0
    high: float = _MAX_INT
    choices: tuple[str, ...] = ()
    required: bool = False


def _key(default: object, kind: Kind, **spec: Any) -> Any:
    """A configurable field; ints default to 1.._MAX_INT, durations to 1ms..MAX_DURATION."""
    if kind in ("int", "duration"):
        spec = {
            "low": 1 if kind == "int" else 0.001,
            "high": MAX_DURATION if kind == "duration" else _MAX_INT,
        } | spec
    return field(default=default, metadata={"spec": _Spec(kind, **spec)})


def _specs(cls: type[Any]) -> dict[str, _Spec]:
    return {f.name: f.metadata["spec"] for f in fields(cls) if "spec" in f.metadata}


def _show(value: object) -> str:
    return f"{type(value).__name__} {value!r:.40}"


def _seconds(value: float) -> str:
    return format_duration(value) if 0 <= value <= 1000 * MAX_DURATION else f"{value!r} seconds"


def _check(value: object, key: str, spec: _Spec) -> None:
    """Raise ConfigError naming `key` unless `value` fits `spec`. Strings are never echoed (secrets)."""
    if spec.kind == "bool" and not isinstance(value, bool):
        raise ConfigError(key, f"must be true or false, got {_show(value)}")
    if spec.kind == "choice" and value not in spec.choices:
        raise ConfigError(key, f"must be one of {', '.join(map(repr, spec.choices))}, got {_show(value)}")
    if spec.kind in ("int", "duration"):
        types_ = int if spec.kind == "int" else int | float
        if isinstance(value, bool) or not isinstance(value, types_) or value != value:
            what = "an integer" if spec.kind == "int" else "a duration in seconds"
            raise ConfigError(key, f"must be {what}, got {_show(value)}")
        assert isinstance(value, int | float)
        if not spec.low <= value <= spec.high:
            show = str if spec.kind == "int" else _seconds
            raise ConfigError(key, f"must be between {show(spec.low)} and {show(spec.high)}, got {show(value)}")
    if spec.kind in ("str", "url", "secret"):
        if not isinstance(value, str):
            raise ConfigError(key, f"must be a string, got {type(value).__name__}")
        if _FORBIDDEN_CHARS.search(value):
            raise ConfigError(key, "must not contain control characters or undecodable bytes")
        if spec.required and not value.strip():
            raise ConfigError(key, "must not be empty")
        scheme, sep, _ = value.partition("://")
        if spec.kind == "url" and value and (not sep or scheme.partition("+")[0].lower() not in spec.choices):
            raise ConfigError(key, f"must be empty or a {' / '.join(spec.choices)} URL")


def _validate(settings: object, where: str) -> None:
    for name, spec in _specs(type(settings)).items():
        _check(getattr(settings, name), f"{where}.{name}", spec)


def _check_name(value: object, key: str) -> None:
    if not isinstance(value, str) or not NAME_PATTERN.fullmatch(value):
        raise ConfigError(key, f"names must match [a-z0-9][a-z0-9_-]{{0,63}}, got {value!r:.70}")


def _is_host(host: str) -> bool:
    if ":" not in host:
        return _HOST_PATTERN.fullmatch(host) is not None
    try:
        return ipaddress.IPv6Address(host).scope_id is None
    except ValueError:
        return False


def _is_issuer(url: str) -> bool:
    if any(c in url for c in "?# \\@") or not url.startswith("https://"):
        return False
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return False
    return _is_host(parts.hostname or "")


def redact_url(url: str) -> str:
    """`url` with the password of its user info, and query parameters that look secret, replaced by ***.

    Errs on the side of hiding: everything between the first ':' of the authority and the last '@' goes.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return REDACTED if url else url
    colon, slash, at = rest.find(":"), rest.find("/"), rest.rfind("@")
    if 0 <= colon < at and (slash == -1 or colon < slash):
        rest = f"{rest[:colon]}:{REDACTED}{rest[at:]}"
    base, qmark, query = rest.partition("?")
    if qmark:
        query, hash_, fragment = query.partition("#")
        pairs = []
        for pair in query.split("&"):
            name, eq, _ = pair.partition("=")
            secret = eq and any(word in name.lower() for word in _SECRET_QUERY_WORDS)
            pairs.append(f"{name}={REDACTED}" if secret else pair)
        rest = f"{base}?{'&'.join(pairs)}{hash_}{fragment}"
    return f"{scheme}://{rest}"


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = _key("127.0.0.1", "str", required=True)
    port: int = _key(8443, "int", low=1, high=65535)
    tls_cert: str = _key("", "str")
    tls_key: str = _key("", "str")
    issuer: str = _key("", "str")

    def __post_init__(self) -> None:
        _validate(self, "server")
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

    def __post_init__(self) -> None:
        _validate(self, "storage")

    def __repr__(self) -> str:
        return (
            f"StorageSettings(data_dir={self.data_dir!r}, database_url={redact_url(self.database_url)!r}, "
            f"redis_url={redact_url(self.redis_url)!r}, pool_size={self.pool_size!r}, "
            f"redis_pool_size={self.redis_pool_size!r})"
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

    def __post_init__(self) -> None:
        where = f"clients.{self.client_id}"
        _check_name(self.client_id, where)
        _validate(self, where)
        _check_name(self.policy, f"{where}.policy")

    def __repr__(self) -> str:
        secret = REDACTED if self.client_secret else ""
        return f"ClientSettings(client_id={self.client_id!r}, policy={self.policy!r}, client_secret={secret!r})"


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


def _read_toml(config_file: str | os.PathLike[str]) -> dict[str, Any]:
    path = os.fspath(config_file)
    try:
        with open(path, "rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError("config", f"{path} is not valid TOML: {exc}") from None
    except FileNotFoundError:
        raise ConfigError("config", f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as exc:
        detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError("config", f"cannot read {path}: {detail}") from None


def _table(body: object, where: str, cls: type[Any]) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ConfigError(where, f"must be a table, got {type(body).__name__}")
    for key in body:
        if key not in _SPECS[cls]:
            raise ConfigError(f"{where}.{key}", "unknown key")
    return dict(body)


def _from_toml(data: Mapping[str, Any]) -> dict[str, Any]:
    raw: dict[str, Any] = {}
    for section, body in data.items():
        if section in _SECTIONS:
            raw[section] = _table(body, section, _SECTIONS[section])
        elif section in _NAMED:
            if not isinstance(body, dict):
                raise ConfigError(section, f"must be a table, got {type(body).__name__}")
            cls = _NAMED[section]
            raw[section] = {name: _table(entry, f"{section}.{name}", cls) for name, entry in body.items()}
        else:
            raise ConfigError(section, "unknown section")
    return raw


def _env_target(var: str) -> tuple[str, str | None, str]:
    """(section, name or None, key) named by an environment variable; ConfigError naming `var` if none.

    In SESSIONWARD_POLICIES__<NAME>__<KEY> the key is what follows the last "__", so names may hold "_".
    """
    rest = var.removeprefix(ENV_PREFIX)
    section, _, tail = rest.partition("__")
    section, tail = section.lower(), tail.lower()
    if rest == rest.upper():
        if section in _SECTIONS and tail in _SPECS[_SECTIONS[section]]:
            return section, None, tail
        name, sep, key = tail.rpartition("__")
        if section in _NAMED and sep and key in _SPECS[_NAMED[section]]:
            return section, name, key
    raise ConfigError(var, "names no known setting (SESSIONWARD_<SECTION>__<KEY>, upper case)")


def _from_env(text: str, kind: Kind, key: str, var: str) -> object:
    if kind == "int":
        if not re.fullmatch(r"-?[0-9]{1,18}", text):
            raise ConfigError(key, f"must be an integer, got {text!r:.40} from {var}")
        return int(text)
    if kind == "bool":
        flags = {"true": True, "1": True, "false": False, "0": False}
        if text.lower() not in flags:
            raise ConfigError(key, f"must be true, false, 1 or 0, got {text!r:.40} from {var}")
        return flags[text.lower()]
    return text


def _apply_env(raw: dict[str, Any], environ: Mapping[str, str]) -> None:
    for var in sorted(environ):
        if not var.startswith(ENV_PREFIX) or "__" not in var.removeprefix(ENV_PREFIX):
            continue
        section, name, key = _env_target(var)
        if name is None:
            spec, dotted = _SPECS[_SECTIONS[section]][key], f"{section}.{key}"
            table = raw.setdefault(section, {})
        else:
            spec, dotted = _SPECS[_NAMED[section]][key], f"{section}.{name}.{key}"
            table = raw.setdefault(section, {}).setdefault(name, {})
        table[key] = _from_env(environ[var], spec.kind, dotted, var)


def _build(cls: type[_T], values: Mapping[str, Any], where: str, **identity: str) -> _T:
    arguments = dict(values)
    for key, spec in _SPECS[cls].items():
        if spec.kind == "duration" and key in arguments:
            arguments[key] = parse_duration(arguments[key], f"{where}.{key}", allow_zero=spec.low == 0)
    return cls(**identity, **arguments)


def load_settings(
    config_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
    *,
    data_dir: str | None = None,
    host: str | None = None,
    port: int | None = None,
) -> Settings:
    """Defaults < TOML file < environment (``environ``; None means os.environ) < these keyword arguments."""
    raw = _from_toml(_read_toml(config_file)) if config_file is not None else {}
    _apply_env(raw, os.environ if environ is None else environ)
    flags = {("storage", "data_dir"): data_dir, ("server", "host"): host, ("server", "port"): port}
    for (section, key), value in flags.items():
        if value is not None:
            raw.setdefault(section, {})[key] = value
    sections = {name: _build(cls, raw.get(name, {}), name) for name, cls in _SECTIONS.items()}
    policies: dict[str, dict[str, Any]] = {"default": {}, **{n: dict(v) for n, v in SHIPPED_POLICIES.items()}}
    for name, values in raw.get("policies", {}).items():
        policies[name] = {**policies.get(name, {}), **values}
    clients: dict[str, dict[str, Any]] = {"web": {}, **{c: dict(v) for c, v in SHIPPED_CLIENTS.items()}}
    for client_id, values in raw.get("clients", {}).items():
        clients[client_id] = {**clients.get(client_id, {}), **values}
    return Settings(
        server=sections["server"],
        storage=sections["storage"],
        tokens=sections["tokens"],
        passwords=sections["passwords"],
        login=sections["login"],
        policies={n: _build(PolicySettings, v, f"policies.{n}", name=n) for n, v in policies.items()},
        clients={c: _build(ClientSettings, v, f"clients.{c}", client_id=c) for c, v in clients.items()},
    )


def _toml_value(value: object, spec: _Spec) -> str:
    if spec.kind == "secret" and value:
        value = REDACTED
    elif spec.kind == "url":
        value = redact_url(str(value))
    elif spec.kind == "duration":
        assert isinstance(value, int | float)
        value = format_duration(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return '"' + _FORBIDDEN_CHARS.sub(lambda m: f"\\u{ord(m[0]):04x}", text) + '"'


def redacted_toml(settings: Settings) -> str:
    """The effective configuration as TOML, for `sessionward config show`; secrets appear as "***"."""
    tables: list[tuple[str, object]] = [(name, getattr(settings, name)) for name in _SECTIONS]
    tables += [(f"policies.{name}", policy) for name, policy in sorted(settings.policies.items())]
    tables += [(f"clients.{name}", client) for name, client in sorted(settings.clients.items())]
    lines = ["# sessionward: effective configuration (secrets redacted)"]
    for header, table in tables:
        lines += ["", f"[{header}]"]
        lines += [f"{k} = {_toml_value(getattr(table, k), spec)}" for k, spec in _SPECS[type(table)].items()]
    return "\n".join(lines) + "\n"
