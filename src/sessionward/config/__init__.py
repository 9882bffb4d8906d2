"""Settings (SPEC section 2): one validated, frozen object built from defaults, a TOML file, the environment
and CLI flags, in that order of precedence.

Every settings class validates itself in ``__post_init__``, so any instance that exists is valid, however it
was built; a bad value raises ConfigError naming the dotted key (``policies.admin.idle_timeout``).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from typing import Any

from sessionward.config._fields import _FORBIDDEN_CHARS, ENV_PREFIX, REDACTED, Kind, _Spec, redact_url
from sessionward.config._sections import (
    _NAMED,
    _SECTIONS,
    _SPECS,
    SHIPPED_CLIENTS,
    SHIPPED_POLICIES,
    ClientSettings,
    LoginSettings,
    PasswordSettings,
    PolicySettings,
    ServerSettings,
    Settings,
    StorageSettings,
    TokenSettings,
    _build,
    shipped_clients,
    shipped_policies,
)
from sessionward.durations import format_duration, parse_duration
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
