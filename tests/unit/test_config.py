"""Configuration (SPEC section 2): TOML + environment + flags into one validated, frozen Settings."""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sessionward.config import (
    ClientSettings,
    LoginSettings,
    PasswordSettings,
    PolicySettings,
    ServerSettings,
    Settings,
    StorageSettings,
    TokenSettings,
    format_duration,
    load_settings,
    parse_duration,
    redact_url,
    redacted_toml,
    shipped_clients,
    shipped_policies,
)
from sessionward.durations import MAX_DURATION
from sessionward.errors import ConfigError

FULL_TOML = """
[server]
host = "auth.example.com"
port = 9443
tls_cert = "/etc/sw/cert.pem"
tls_key = "/etc/sw/key.pem"
issuer = "https://id.example.com/"

[storage]
data_dir = "/var/lib/sessionward"
database_url = "postgresql://sw:dbpass@db.example.com:5432/sw"
redis_url = "redis://:redispass@cache.example.com:6379/0"
pool_size = 24
redis_pool_size = 200

[tokens]
algorithm = "RS256"
audience = "api.example.com"
leeway = "10s"

[policies.default]
access_token_ttl = "2m"
idle_timeout = "20m"
absolute_timeout = "8h"
refresh_grace = "15s"
max_sessions_per_user = 3
max_sessions_per_ip = 50
on_session_limit = "evict_oldest"
require_mfa = true
step_up_max_age = "10m"

[policies.admin]
access_token_ttl = "750ms"
idle_timeout = "90s"
absolute_timeout = "1.5h"

[clients.web]
policy = "admin"
client_secret = "webs3cret-value"

[clients.mobile-app]
policy = "default"

[passwords]
time_cost = 4
memory_cost = 131072
parallelism = 2

[login]
max_failures_per_account = 50
max_failures_per_account_ip = 5
max_attempts_per_ip = 200
failure_window = "30m"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sessionward.toml"
    path.write_text(text, encoding="utf-8")
    return path


def load_toml(tmp_path: Path, text: str, environ: dict[str, str] | None = None) -> Settings:
    return load_settings(write(tmp_path, text), environ={} if environ is None else environ)


def config_error(tmp_path: Path, text: str = "", environ: dict[str, str] | None = None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_toml(tmp_path, text, environ)
    return caught.value


# --- defaults and every key read back ---------------------------------------------------------------------


def test_defaults_match_the_spec() -> None:
    settings = load_settings(environ={})
    assert settings == Settings(policies=shipped_policies(), clients=shipped_clients())
    assert settings.server == ServerSettings("127.0.0.1", 8443, "", "", "")
    assert settings.server.issuer_url == "https://127.0.0.1:8443"
    assert settings.storage == StorageSettings(".sessionward", "", "")
    assert (settings.storage.pool_size, settings.storage.redis_pool_size) == (10, 50)
    assert settings.tokens == TokenSettings("ES256", "sessionward", 5.0)
    assert list(settings.policies) == ["default", "admin", "financial"]
    default = settings.policies["default"]
    assert (default.access_token_ttl, default.idle_timeout, default.absolute_timeout) == (300, 1800, 43200)
    assert (default.refresh_grace, default.step_up_max_age) == (30, 300)
    assert (default.max_sessions_per_user, default.max_sessions_per_ip) == (10, 100)
    assert (default.on_session_limit, default.require_mfa) == ("reject", False)
    assert settings.clients == {
        "web": ClientSettings("web", "default", ""),
        "admin-console": ClientSettings("admin-console", "admin", ""),
        "payments": ClientSettings("payments", "financial", ""),
    }
    assert settings.passwords == PasswordSettings(3, 65536, 4)
    assert settings.login == LoginSettings(100, 10, 300, 900.0)
    assert settings.policy_for_client("web") is default
    assert settings.max_access_token_ttl == 300


def test_every_key_set_in_toml_is_read_back(tmp_path: Path) -> None:
    settings = load_toml(tmp_path, FULL_TOML)
    assert settings.server == ServerSettings(
        "auth.example.com", 9443, "/etc/sw/cert.pem", "/etc/sw/key.pem", "https://id.example.com/"
    )
    assert settings.server.issuer_url == "https://id.example.com"
    assert settings.storage.data_dir == "/var/lib/sessionward"
    assert settings.storage.database_url == "postgresql://sw:dbpass@db.example.com:5432/sw"
    assert settings.storage.redis_url == "redis://:redispass@cache.example.com:6379/0"
    assert (settings.storage.pool_size, settings.storage.redis_pool_size) == (24, 200)
    assert settings.tokens == TokenSettings("RS256", "api.example.com", 10.0)
    assert settings.policies["default"] == PolicySettings(
        name="default",
        access_token_ttl=120.0,
        idle_timeout=1200.0,
        absolute_timeout=28800.0,
        refresh_grace=15.0,
        max_sessions_per_user=3,
        max_sessions_per_ip=50,
        on_session_limit="evict_oldest",
        require_mfa=True,
        step_up_max_age=600.0,
    )
    admin = settings.policies["admin"]
    assert (admin.access_token_ttl, admin.idle_timeout, admin.absolute_timeout) == (0.75, 90.0, 5400.0)
    assert admin.refresh_grace == 30.0
    assert admin.max_sessions_per_user == 3  # the shipped admin policy's, which the file leaves alone
    assert admin.require_mfa is True
    assert settings.clients["web"] == ClientSettings("web", "admin", "webs3cret-value")
    assert settings.clients["mobile-app"] == ClientSettings("mobile-app", "default", "")
    assert settings.policy_for_client("web") is admin
    assert settings.policy_for_client("mobile-app") is settings.policies["default"]
    assert settings.passwords == PasswordSettings(4, 131072, 2)
    assert settings.login == LoginSettings(50, 5, 200, 1800.0)
    assert settings.max_access_token_ttl == 120.0


def test_strict_policies_are_shipped_and_their_clients_name_them() -> None:
    settings = load_settings(environ={})
    admin, financial = settings.policies["admin"], settings.policies["financial"]
    assert admin == PolicySettings(
        "admin",
        access_token_ttl=120.0,
        idle_timeout=600.0,
        absolute_timeout=8 * 3600.0,
        max_sessions_per_user=3,
        require_mfa=True,
        step_up_max_age=300.0,
    )
    assert financial == PolicySettings(
        "financial",
        access_token_ttl=120.0,
        idle_timeout=600.0,
        absolute_timeout=2 * 3600.0,
        max_sessions_per_user=3,
        require_mfa=True,
        step_up_max_age=120.0,
    )
    assert settings.policy_for_client("admin-console") is admin
    assert settings.policy_for_client("payments") is financial


def test_a_shipped_policy_keeps_the_keys_a_file_leaves_alone(tmp_path: Path) -> None:
    settings = load_toml(tmp_path, '[policies.admin]\nidle_timeout = "5m"\n[clients.payments]\npolicy = "admin"\n')
    admin = settings.policies["admin"]
    assert (admin.idle_timeout, admin.require_mfa, admin.step_up_max_age) == (300.0, True, 300.0)
    assert settings.policy_for_client("payments") is admin


def test_web_client_and_default_policy_always_exist(tmp_path: Path) -> None:
    settings = load_toml(tmp_path, '[policies.admin]\nidle_timeout = "10m"\n[clients.cli]\npolicy = "admin"\n')
    assert set(settings.policies) == {"default", "admin", "financial"}
    assert set(settings.clients) == {"web", "cli", "admin-console", "payments"}
    assert settings.clients["web"].policy == "default"


def test_policy_for_unknown_client_is_a_key_error() -> None:
    with pytest.raises(KeyError):
        Settings().policy_for_client("nobody")


def test_issuer_url_brackets_an_ipv6_host() -> None:
    assert ServerSettings(host="::1", port=9000).issuer_url == "https://[::1]:9000"
    assert ServerSettings(issuer="https://id.example.com/tenant/").issuer_url == "https://id.example.com/tenant"


# --- environment ------------------------------------------------------------------------------------------


def test_environment_overrides_each_type() -> None:
    settings = load_settings(
        environ={
            "SESSIONWARD_SERVER__PORT": "9443",  # int
            "SESSIONWARD_SERVER__HOST": "0.0.0.0",  # str
            "SESSIONWARD_POLICIES__DEFAULT__IDLE_TIMEOUT": "10m",  # duration
            "SESSIONWARD_POLICIES__DEFAULT__REQUIRE_MFA": "true",  # bool
            "SESSIONWARD_POLICIES__DEFAULT__ON_SESSION_LIMIT": "evict_oldest",  # choice
            "SESSIONWARD_TOKENS__ALGORITHM": "RS256",
            "SESSIONWARD_TOKENS__LEEWAY": "0s",
            "SESSIONWARD_CLIENTS__WEB__CLIENT_SECRET": "s3cret",
            "SESSIONWARD_PASSWORDS__MEMORY_COST": "19456",
            "SESSIONWARD_LOGIN__FAILURE_WINDOW": "1h",
            "SESSIONWARD_STORAGE__DATA_DIR": "/srv/sw",
        }
    )
    assert settings.server.port == 9443
    assert settings.server.host == "0.0.0.0"
    default = settings.policies["default"]
    assert default.idle_timeout == 600.0
    assert default.require_mfa is True
    assert default.on_session_limit == "evict_oldest"
    assert settings.tokens.algorithm == "RS256"
    assert settings.tokens.leeway == 0.0
    assert settings.clients["web"].client_secret == "s3cret"
    assert settings.passwords.memory_cost == 19456
    assert settings.login.failure_window == 3600.0
    assert settings.storage.data_dir == "/srv/sw"


@pytest.mark.parametrize(("key", "low", "high"), [("pool_size", 1, 1000), ("redis_pool_size", 1, 10000)])
def test_pool_sizes_accept_their_whole_range_from_file_and_environment(
    tmp_path: Path, key: str, low: int, high: int
) -> None:
    for value in (low, high):
        assert getattr(load_toml(tmp_path, f"[storage]\n{key} = {value}\n").storage, key) == value
        environ = {f"SESSIONWARD_STORAGE__{key.upper()}": str(value)}
        assert getattr(load_settings(environ=environ).storage, key) == value
    with pytest.raises(ConfigError) as caught:
        StorageSettings(**{key: high + 1})
    assert caught.value.key == f"storage.{key}"
    assert str(caught.value) == f"storage.{key}: must be between {low} and {high}, got {high + 1}"
    shown = tomllib.loads(redacted_toml(load_toml(tmp_path, f"[storage]\n{key} = {high}\n")))
    assert shown["storage"][key] == high


@pytest.mark.parametrize(
    ("text", "expected"), [("true", True), ("1", True), ("TRUE", True), ("false", False), ("0", False)]
)
def test_environment_booleans(text: str, expected: bool) -> None:
    settings = load_settings(environ={"SESSIONWARD_POLICIES__DEFAULT__REQUIRE_MFA": text})
    assert settings.policies["default"].require_mfa is expected


def test_environment_creates_and_extends_named_tables(tmp_path: Path) -> None:
    settings = load_toml(
        tmp_path,
        '[policies.admin]\nidle_timeout = "20m"\n',
        {
            "SESSIONWARD_POLICIES__ADMIN__ABSOLUTE_TIMEOUT": "1h",
            "SESSIONWARD_POLICIES__STAFF_ONLY__REQUIRE_MFA": "1",
            "SESSIONWARD_CLIENTS__MOBILE__POLICY": "staff_only",
            "SESSIONWARD_CLIENTS__PARTNER-API__CLIENT_SECRET": "partner-secret",
        },
    )
    admin = settings.policies["admin"]
    assert (admin.idle_timeout, admin.absolute_timeout) == (1200.0, 3600.0)
    assert settings.policies["staff_only"].require_mfa is True
    assert settings.policy_for_client("mobile") is settings.policies["staff_only"]
    assert settings.clients["partner-api"] == ClientSettings("partner-api", "default", "partner-secret")


def test_environment_without_double_underscore_is_ignored() -> None:
    settings = load_settings(environ={"SESSIONWARD_DEBUG": "1", "SESSIONWARD_PORT": "1", "OTHER__X": "y"})
    assert settings == load_settings(environ={})


@pytest.mark.parametrize(
    "var",
    [
        "SESSIONWARD_SERVER__PROT",
        "SESSIONWARD_SERVERS__PORT",
        "SESSIONWARD_SERVER__PORT__X",
        "SESSIONWARD_SERVER__",
        "SESSIONWARD___PORT",
        "SESSIONWARD_POLICIES__DEFAULT",
        "SESSIONWARD_POLICIES__DEFAULT__IDLE_TIMEOT",
        "SESSIONWARD_POLICIES__IDLE_TIMEOUT",
        "SESSIONWARD_CLIENTS__WEB__SECRET",
        "SESSIONWARD_CLIENTS__WEB__NAME",
        "SESSIONWARD_POLICIES__DEFAULT__NAME",
        "SESSIONWARD_server__port",
        "SESSIONWARD_POLICIES__Admin__IDLE_TIMEOUT",
    ],
)
def test_unknown_environment_keys_are_errors_naming_the_variable(var: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={var: "1"})
    assert caught.value.key == var
    assert var in str(caught.value)


@pytest.mark.parametrize(
    ("var", "value", "key"),
    [
        ("SESSIONWARD_SERVER__PORT", "abc", "server.port"),
        ("SESSIONWARD_SERVER__PORT", "70000", "server.port"),
        ("SESSIONWARD_SERVER__PORT", " 9443", "server.port"),
        ("SESSIONWARD_SERVER__PORT", "9_443", "server.port"),
        ("SESSIONWARD_SERVER__PORT", "", "server.port"),
        ("SESSIONWARD_POLICIES__DEFAULT__REQUIRE_MFA", "yes", "policies.default.require_mfa"),
        ("SESSIONWARD_POLICIES__DEFAULT__IDLE_TIMEOUT", "600", "policies.default.idle_timeout"),
        ("SESSIONWARD_POLICIES__DEFAULT__IDLE_TIMEOUT", "-5m", "policies.default.idle_timeout"),
        (
            "SESSIONWARD_POLICIES__DEFAULT__MAX_SESSIONS_PER_USER",
            "0",
            "policies.default.max_sessions_per_user",
        ),
        ("SESSIONWARD_TOKENS__ALGORITHM", "HS256", "tokens.algorithm"),
        ("SESSIONWARD_STORAGE__POOL_SIZE", "0", "storage.pool_size"),
        ("SESSIONWARD_STORAGE__POOL_SIZE", "big", "storage.pool_size"),
        ("SESSIONWARD_STORAGE__REDIS_POOL_SIZE", "10001", "storage.redis_pool_size"),
        ("SESSIONWARD_POLICIES__BAD.NAME__IDLE_TIMEOUT", "1m", "policies.bad.name"),
        ("SESSIONWARD_CLIENTS__CLI__POLICY", "nope", "clients.cli.policy"),
    ],
)
def test_bad_environment_values_name_the_dotted_key(var: str, value: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={var: value})
    assert caught.value.key == key


# --- precedence -------------------------------------------------------------------------------------------


def test_precedence_defaults_then_file_then_environment_then_flags(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[server]\nhost = "file.example"\nport = 1001\n[storage]\ndata_dir = "file-dir"\n'
        '[tokens]\naudience = "from-file"\n',
    )
    env = {"SESSIONWARD_SERVER__PORT": "2002", "SESSIONWARD_STORAGE__DATA_DIR": "env-dir"}
    settings = load_settings(path, environ=env)
    assert settings.server.host == "file.example"  # file over default
    assert settings.server.port == 2002  # environment over file
    assert settings.storage.data_dir == "env-dir"
    assert settings.tokens.audience == "from-file"
    assert settings.tokens.algorithm == "ES256"  # default
    flagged = load_settings(path, environ=env, data_dir="flag-dir", host="::1", port=3003)
    assert (flagged.storage.data_dir, flagged.server.host, flagged.server.port) == ("flag-dir", "::1", 3003)


def test_flags_are_validated() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={}, port=0)
    assert caught.value.key == "server.port"
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={}, host="bad host")
    assert caught.value.key == "server.host"
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={}, data_dir="")
    assert caught.value.key == "storage.data_dir"


# --- bad values in the file -------------------------------------------------------------------------------

BAD_VALUES = [
    ('[server]\nport = "abc"', "server.port"),
    ("[server]\nport = 70000", "server.port"),
    ("[server]\nport = 0", "server.port"),
    ("[server]\nport = true", "server.port"),
    ("[server]\nport = 8443.0", "server.port"),
    ("[server]\nhost = 127", "server.host"),
    ('[server]\nhost = ""', "server.host"),
    ('[server]\nhost = "[::1]"', "server.host"),
    ('[server]\nhost = "a b"', "server.host"),
    ('[server]\nhost = "fe80::1%eth0"', "server.host"),
    ('[server]\ntls_cert = "c.pem"', "server.tls_key"),
    ('[server]\ntls_key = "k.pem"', "server.tls_cert"),
    ('[server]\nissuer = "http://id.example.com"', "server.issuer"),
    ('[server]\nissuer = "https://id.example.com/?tenant=1"', "server.issuer"),
    ('[server]\nissuer = "https://id.example.com/#x"', "server.issuer"),
    ('[server]\nissuer = "https://user:pw@id.example.com"', "server.issuer"),
    ('[server]\nissuer = "https://"', "server.issuer"),
    ('[server]\nissuer = "https://id.example.com:99999"', "server.issuer"),
    ('[server]\nissuer = "id.example.com"', "server.issuer"),
    ('[storage]\ndata_dir = ""', "storage.data_dir"),
    ('[storage]\ndatabase_url = "mysql://u:p@h/db"', "storage.database_url"),
    ('[storage]\nredis_url = "http://cache"', "storage.redis_url"),
    ('[storage]\ndata_dir = "a\\u0000b"', "storage.data_dir"),
    ("[storage]\npool_size = 0", "storage.pool_size"),
    ("[storage]\npool_size = 1001", "storage.pool_size"),
    ('[storage]\npool_size = "10"', "storage.pool_size"),
    ("[storage]\npool_size = 10.0", "storage.pool_size"),
    ("[storage]\npool_size = true", "storage.pool_size"),
    ("[storage]\nredis_pool_size = 0", "storage.redis_pool_size"),
    ("[storage]\nredis_pool_size = 10001", "storage.redis_pool_size"),
    ("[storage]\nredis_pool_size = -5", "storage.redis_pool_size"),
    ('[tokens]\nalgorithm = "HS256"', "tokens.algorithm"),
    ('[tokens]\nalgorithm = "none"', "tokens.algorithm"),
    ('[tokens]\naudience = ""', "tokens.audience"),
    ('[tokens]\naudience = "   "', "tokens.audience"),
    ('[tokens]\nleeway = "301s"', "tokens.leeway"),
    ('[tokens]\nleeway = "6m"', "tokens.leeway"),
    ("[tokens]\nleeway = 5", "tokens.leeway"),
    ('[policies.default]\non_session_limit = "kick"', "policies.default.on_session_limit"),
    ('[policies.default]\nrequire_mfa = "yes"', "policies.default.require_mfa"),
    ("[policies.default]\nrequire_mfa = 1", "policies.default.require_mfa"),
    ('[policies.default]\nidle_timeout = "0s"', "policies.default.idle_timeout"),
    ('[policies.default]\nidle_timeout = "-5m"', "policies.default.idle_timeout"),
    ('[policies.default]\nidle_timeout = "abc"', "policies.default.idle_timeout"),
    ('[policies.default]\nidle_timeout = "30"', "policies.default.idle_timeout"),
    ("[policies.default]\nidle_timeout = 1800", "policies.default.idle_timeout"),
    ('[policies.default]\naccess_token_ttl = "0ms"', "policies.default.access_token_ttl"),
    ('[policies.default]\nstep_up_max_age = "0m"', "policies.default.step_up_max_age"),
    ('[policies.default]\nabsolute_timeout = "3651d"', "policies.default.absolute_timeout"),
    ("[policies.default]\nmax_sessions_per_user = 0", "policies.default.max_sessions_per_user"),
    ("[policies.default]\nmax_sessions_per_ip = 0", "policies.default.max_sessions_per_ip"),
    ("[policies.default]\nmax_sessions_per_ip = -1", "policies.default.max_sessions_per_ip"),
    (
        "[policies.default]\nmax_sessions_per_user = 99999999999999999999",
        "policies.default.max_sessions_per_user",
    ),
    ('[policies.Admin]\nidle_timeout = "1m"', "policies.Admin"),
    ('[policies."-x"]\nidle_timeout = "1m"', "policies.-x"),
    (f'[policies.{"a" * 65}]\nidle_timeout = "1m"', f"policies.{'a' * 65}"),
    ('[clients."Web App"]\npolicy = "default"', "clients.Web App"),
    ('[clients.web]\npolicy = "nosuch"', "clients.web.policy"),
    ('[clients.cli]\npolicy = "Default"', "clients.cli.policy"),
    ("[clients.web]\nclient_secret = 42", "clients.web.client_secret"),
    ("[passwords]\ntime_cost = 0", "passwords.time_cost"),
    ("[passwords]\nparallelism = 0", "passwords.parallelism"),
    ("[passwords]\nparallelism = 256", "passwords.parallelism"),
    ("[passwords]\nmemory_cost = 31\nparallelism = 4", "passwords.memory_cost"),
    ("[passwords]\nmemory_cost = 4194305", "passwords.memory_cost"),
    ("[login]\nmax_failures_per_account = 101", "login.max_failures_per_account"),
    ("[login]\nmax_failures_per_account = 0", "login.max_failures_per_account"),
    ("[login]\nmax_failures_per_account_ip = 0", "login.max_failures_per_account_ip"),
    (
        "[login]\nmax_failures_per_account = 5\nmax_failures_per_account_ip = 6",
        "login.max_failures_per_account_ip",
    ),
    ("[login]\nmax_attempts_per_ip = 0", "login.max_attempts_per_ip"),
    ('[login]\nfailure_window = "0s"', "login.failure_window"),
    ("server = 1", "server"),
    ("policies = 1", "policies"),
    ("[policies]\ndefault = 1", "policies.default"),
]


@pytest.mark.parametrize(("text", "key"), BAD_VALUES)
def test_bad_values_name_the_exact_dotted_key(tmp_path: Path, text: str, key: str) -> None:
    error = config_error(tmp_path, text + "\n")
    assert error.key == key
    assert str(error).startswith(f"{key}: ")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[serverx]\nport = 1", "serverx"),
        ("[server]\nprot = 1", "server.prot"),
        ('[policies.default]\nidle_timeot = "5m"', "policies.default.idle_timeot"),
        ('[policies.admin]\nname = "admin"', "policies.admin.name"),
        ('[clients.web]\nsecret = "x"', "clients.web.secret"),
        ('[clients.web]\nclient_id = "web"', "clients.web.client_id"),
        ("[server.tls]\ncert = 1", "server.tls"),
        ("[login]\nmax_failures = 3", "login.max_failures"),
        ("[passwords]\nhash = 3", "passwords.hash"),
        ("top_level = 1", "top_level"),
    ],
)
def test_unknown_keys_in_the_file_are_errors(tmp_path: Path, text: str, key: str) -> None:
    assert config_error(tmp_path, text + "\n").key == key


def test_zero_is_allowed_for_leeway_and_refresh_grace(tmp_path: Path) -> None:
    settings = load_toml(tmp_path, '[tokens]\nleeway = "0s"\n[policies.default]\nrefresh_grace = "0ms"\n')
    assert settings.tokens.leeway == 0.0
    assert settings.policies["default"].refresh_grace == 0.0
    assert load_toml(tmp_path, '[tokens]\nleeway = "300s"\n').tokens.leeway == 300.0


# --- contradictory policies -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ('access_token_ttl = "31m"', "access_token_ttl"),  # > idle_timeout (30m)
        ('access_token_ttl = "2h"\nidle_timeout = "3h"\nabsolute_timeout = "1h"', "access_token_ttl"),
        ('idle_timeout = "13h"', "idle_timeout"),  # > absolute_timeout (12h)
        ('refresh_grace = "30m"', "refresh_grace"),  # == idle_timeout
        ('refresh_grace = "31m"', "refresh_grace"),
        ('idle_timeout = "20s"\naccess_token_ttl = "10s"', "refresh_grace"),  # default grace 30s >= 20s
    ],
)
def test_contradictory_policies_stop_the_start(tmp_path: Path, values: str, key: str) -> None:
    error = config_error(tmp_path, f"[policies.strict]\n{values}\n")
    assert error.key == f"policies.strict.{key}"


def test_consistent_edge_policies_are_accepted(tmp_path: Path) -> None:
    text = (
        '[policies.edge]\naccess_token_ttl = "1h"\nidle_timeout = "1h"\nabsolute_timeout = "1h"\n'
        'refresh_grace = "59m"\nstep_up_max_age = "30d"\n'  # step_up_max_age > absolute_timeout is fine
    )
    edge = load_toml(tmp_path, text).policies["edge"]
    assert edge.step_up_max_age == 30 * 86400.0
    assert load_toml(tmp_path, text).max_access_token_ttl == 3600.0


def test_direct_construction_is_validated_too() -> None:
    with pytest.raises(ConfigError) as caught:
        PolicySettings(name="fast", access_token_ttl=1.0, idle_timeout=2.0, absolute_timeout=10.0)
    assert caught.value.key == "policies.fast.refresh_grace"
    fast = PolicySettings(name="fast", access_token_ttl=1.0, idle_timeout=2.0, absolute_timeout=10.0, refresh_grace=0.5)
    assert fast.idle_timeout == 2.0
    with pytest.raises(ConfigError) as caught:
        Settings(clients={"web": ClientSettings("web", policy="missing")})
    assert caught.value.key == "clients.web.policy"
    with pytest.raises(ConfigError) as caught:
        Settings(policies={"admin": PolicySettings("admin")})
    assert caught.value.key == "policies.default"
    with pytest.raises(ConfigError) as caught:
        Settings(policies={"default": PolicySettings("other")})
    assert caught.value.key == "policies.default"


# --- the file itself --------------------------------------------------------------------------------------


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as caught:
        load_settings(missing, environ={})
    assert caught.value.key == "config"
    assert str(missing) in str(caught.value)


def test_invalid_toml_names_the_file_and_the_place(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nport = 8443\nhost = "unterminated\n')
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert caught.value.key == "config"
    assert str(path) in str(caught.value)
    assert "line 3" in str(caught.value)


@pytest.mark.parametrize("content", [b"\xff\xfe[server]\n", b'[server]\nhost = "x"\n[server]\nport = 1\n'])
def test_undecodable_or_duplicate_tables_are_config_errors(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert caught.value.key == "config"
    assert str(path) in str(caught.value)


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(tmp_path, environ={})
    assert caught.value.key == "config"


def test_empty_file_gives_the_defaults(tmp_path: Path) -> None:
    assert load_toml(tmp_path, "") == Settings(policies=shipped_policies(), clients=shipped_clients())


# --- redaction --------------------------------------------------------------------------------------------

SECRETS = ("webs3cret-value", "dbpass", "redispass")


def test_secrets_never_appear_in_redacted_toml_or_repr(tmp_path: Path) -> None:
    settings = load_toml(tmp_path, FULL_TOML, {"SESSIONWARD_CLIENTS__CLI__CLIENT_SECRET": "env-only-secret"})
    shown = redacted_toml(settings)
    for secret in (*SECRETS, "env-only-secret"):
        assert secret not in shown
        assert secret not in repr(settings)
        assert secret not in str(settings)
    assert "postgresql://sw:***@db.example.com:5432/sw" in shown
    assert "redis://:***@cache.example.com:6379/0" in shown
    parsed = tomllib.loads(shown)
    assert parsed["clients"]["web"]["client_secret"] == "***"
    assert parsed["clients"]["cli"]["client_secret"] == "***"
    assert parsed["clients"]["mobile-app"]["client_secret"] == ""
    assert parsed["storage"]["database_url"] == "postgresql://sw:***@db.example.com:5432/sw"


def test_redacted_toml_parses_back_to_the_same_settings(tmp_path: Path) -> None:
    settings = load_toml(tmp_path, FULL_TOML)
    shown = redacted_toml(settings)
    parsed = tomllib.loads(shown)
    assert parsed["tokens"]["leeway"] == "10s"
    assert parsed["policies"]["admin"]["access_token_ttl"] == "750ms"
    assert parsed["policies"]["admin"]["absolute_timeout"] == "90m"
    assert parsed["login"]["failure_window"] == "30m"
    reloaded = load_settings(write(tmp_path, shown), environ={})
    # everything but the redacted secrets survives the round trip
    assert reloaded.policies == settings.policies
    assert (reloaded.server, reloaded.tokens) == (settings.server, settings.tokens)
    assert (reloaded.passwords, reloaded.login) == (settings.passwords, settings.login)
    defaults = load_settings(environ={})
    assert load_settings(write(tmp_path, redacted_toml(defaults)), environ={}) == defaults


def test_redacted_toml_escapes_strings(tmp_path: Path) -> None:
    settings = load_settings(environ={"SESSIONWARD_STORAGE__DATA_DIR": 'C:\\data "quoted" ü'})
    assert tomllib.loads(redacted_toml(settings))["storage"]["data_dir"] == 'C:\\data "quoted" ü'


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("", ""),
        ("postgresql://u:p@h/db", "postgresql://u:***@h/db"),
        ("postgresql+asyncpg://u:pa/ss@h:5432/db", "postgresql+asyncpg://u:***@h:5432/db"),
        ("postgresql://u:p@ss@h/db", "postgresql://u:***@h/db"),
        ("postgresql://u@h/db", "postgresql://u@h/db"),
        (
            "postgresql://h/db?user=u&password=pw&sslmode=require",
            "postgresql://h/db?user=u&password=***&sslmode=require",
        ),
        ("redis://:pw@h:6379/0", "redis://:***@h:6379/0"),
        ("rediss://default:pw@h/0?socket_timeout=5", "rediss://default:***@h/0?socket_timeout=5"),
        ("sqlite:///var/lib/sw.db", "sqlite:///var/lib/sw.db"),
        ("not a url", "***"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_secret_values_are_not_echoed_in_errors(tmp_path: Path) -> None:
    error = config_error(tmp_path, '[storage]\ndatabase_url = "mysql://u:hunter2@h/db"\n')
    assert "hunter2" not in str(error)
    error = config_error(tmp_path, '[clients.web]\nclient_secret = "bad\\u0001hunter2"\n')
    assert error.key == "clients.web.client_secret"
    assert "hunter2" not in str(error)


# --- frozen -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "name"),
    [
        (Settings(), "server"),
        (Settings(), "policies"),
        (ServerSettings(), "port"),
        (StorageSettings(), "data_dir"),
        (TokenSettings(), "algorithm"),
        (PolicySettings("default"), "idle_timeout"),
        (ClientSettings("web"), "client_secret"),
        (PasswordSettings(), "time_cost"),
        (LoginSettings(), "max_failures_per_account"),
    ],
)
def test_settings_are_frozen(obj: object, name: str) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        setattr(obj, name, getattr(obj, name))


def test_settings_are_hashable_values(tmp_path: Path) -> None:
    defaults = Settings(policies=shipped_policies(), clients=shipped_clients())
    assert hash(load_settings(environ={})) == hash(defaults)
    assert len({load_toml(tmp_path, FULL_TOML), load_toml(tmp_path, FULL_TOML), defaults}) == 2


def test_policy_and_client_maps_are_read_only() -> None:
    source = {"default": PolicySettings("default")}
    settings = Settings(policies=source)
    with pytest.raises(TypeError):
        settings.policies["evil"] = PolicySettings("evil")  # type: ignore[index]
    with pytest.raises(TypeError):
        settings.clients["evil"] = ClientSettings("evil")  # type: ignore[index]
    source["late"] = PolicySettings("late")
    assert "late" not in settings.policies  # copied, not a view of the caller's dict


# --- durations ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("750ms", 0.75),
        ("90s", 90.0),
        ("5m", 300.0),
        ("12h", 43200.0),
        ("30d", 2592000.0),
        ("1.5h", 5400.0),
        ("0.25s", 0.25),
        ("1ms", 0.001),
        ("3650d", MAX_DURATION),
    ],
)
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text, "k") == seconds


@pytest.mark.parametrize(
    "text",
    ["", "abc", "5", "-5m", "+5m", "0s", "0ms", "5 m", " 5m", "5m ", "5M", "5min", "1e3s", ".5s", "5.s",
     "0.5ms", "1.0001s", "3651d", "5m5s", "\u0665m", "inf s", "nan"],
)  # fmt: skip
def test_parse_duration_rejects(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_duration(text, "policies.x.idle_timeout")
    assert caught.value.key == "policies.x.idle_timeout"


@pytest.mark.parametrize("value", [True, False, 5, 5.0, None, ["5m"]])
def test_parse_duration_rejects_non_strings(value: object) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_duration(value, "tokens.leeway")  # type: ignore[arg-type]
    assert caught.value.key == "tokens.leeway"


def test_parse_duration_zero_only_when_allowed() -> None:
    assert parse_duration("0s", "k", allow_zero=True) == 0.0
    with pytest.raises(ConfigError):
        parse_duration("0s", "k")


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0.75, "750ms"),
        (300.0, "5m"),
        (43200, "12h"),
        (5400.0, "90m"),
        (86400.0, "1d"),
        (0, "0s"),
        (61.5, "61500ms"),
    ],
)
def test_format_duration(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize("value", [-1.0, float("inf"), float("nan")])
def test_format_duration_rejects_impossible_values(value: float) -> None:
    with pytest.raises(ValueError, match="finite"):
        format_duration(value)


@given(st.integers(min_value=1, max_value=int(MAX_DURATION * 1000)))
def test_format_then_parse_round_trips_every_millisecond_count(millis: int) -> None:
    seconds = millis / 1000
    assert parse_duration(format_duration(seconds), "k") == seconds


@given(
    st.integers(min_value=0, max_value=10**6),
    st.one_of(st.none(), st.integers(min_value=0, max_value=999).map(lambda n: f"{n:03d}")),
    st.sampled_from(["ms", "s", "m", "h", "d"]),
)
def test_parse_then_format_is_a_fixed_point(number: int, fraction: str | None, unit: str) -> None:
    text = f"{number}.{fraction}{unit}" if fraction is not None else f"{number}{unit}"
    try:
        seconds = parse_duration(text, "k")
    except ConfigError:
        return  # zero, sub-millisecond or too long: rejected, tested above
    normal = format_duration(seconds)
    assert parse_duration(normal, "k") == seconds
    assert format_duration(parse_duration(normal, "k")) == normal
    if fraction is None:
        assert len(normal) <= len(text)  # never longer than what was written
