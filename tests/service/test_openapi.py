"""The served OpenAPI document: structurally sound, complete against the app's routes, and true to real answers."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pyotp
import pytest
from openapi_spec_validator import OpenAPIV31SpecValidator
from starlette.routing import Route

from sessionward.config import load_settings
from sessionward.http.app import create_app
from sessionward.http.pages import is_page_path
from tests.service.conftest import Server
from tests.service.helpers import PASSWORD, bearer

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
SECRET = "s3cret-for-the-web-client"
ENV = {
    "SESSIONWARD_CLIENTS__WEB__CLIENT_SECRET": SECRET,
    "SESSIONWARD_LOGIN__MAX_FAILURES_PER_ACCOUNT_IP": "2",
    "SESSIONWARD_POLICIES__TIGHT__MAX_SESSIONS_PER_USER": "1",
    "SESSIONWARD_CLIENTS__TIGHT__POLICY": "tight",
    "SESSIONWARD_POLICIES__MFA__REQUIRE_MFA": "true",
    "SESSIONWARD_CLIENTS__STRICT__POLICY": "mfa",
}

# What each handler can answer besides 405, read from the routes, http/errors.py and the services they call.
EXPECTED_STATUSES: dict[tuple[str, str], set[str]] = {
    ("post", "/v1/sessions"): {"201", "400", "401", "403", "409", "415", "429"},
    ("get", "/v1/sessions"): {"200", "401"},
    ("delete", "/v1/sessions"): {"204", "400", "401", "403"},
    ("post", "/v1/sessions/refresh"): {"200", "400", "401", "403", "415", "429"},
    ("delete", "/v1/sessions/current"): {"204", "401", "403"},
    ("delete", "/v1/sessions/{session_id}"): {"204", "401", "403", "404"},
    ("get", "/v1/me"): {"200", "401"},
    ("post", "/v1/password"): {"200", "400", "401", "403", "415", "429"},
    ("post", "/v1/admin/users"): {"201", "400", "401", "403", "409", "415"},
    ("delete", "/v1/admin/users/{username}/sessions"): {"204", "401", "403", "404"},
    ("post", "/v1/sessions/mfa"): {"201", "400", "401", "409", "415", "429"},
    ("post", "/v1/sessions/step-up"): {"200", "400", "401", "403", "415", "429"},
    ("post", "/v1/mfa/totp"): {"200", "400", "401", "403", "415", "429"},
    ("delete", "/v1/mfa/totp"): {"204", "401", "403", "404"},
    ("post", "/v1/mfa/totp/confirm"): {"200", "400", "401", "403", "415", "429"},
    ("get", "/v1/mfa"): {"200", "401"},
    ("post", "/v1/mfa/recovery-codes"): {"200", "401", "403"},
    ("post", "/v1/mfa/webauthn"): {"200", "400", "401", "403", "415", "429"},
    ("post", "/v1/mfa/webauthn/confirm"): {"200", "400", "401", "403", "415", "429"},
    ("delete", "/v1/mfa/webauthn/{credential_id}"): {"204", "401", "403", "404"},
    ("post", "/v1/sessions/mfa/webauthn"): {"200", "400", "401", "415"},
    ("post", "/v1/sessions/step-up/webauthn"): {"200", "400", "401", "403"},
    ("delete", "/v1/admin/users/{username}/mfa"): {"204", "401", "403", "404"},
    ("post", "/v1/oauth/revoke"): {"200", "400", "401", "415", "429"},
    ("post", "/v1/oauth/introspect"): {"200", "400", "401", "415", "429"},
    ("get", "/v1/revocations/stream"): {"200", "401", "429"},
    ("get", "/.well-known/openid-configuration"): {"200"},
    ("get", "/.well-known/oauth-authorization-server"): {"200"},
    ("get", "/.well-known/jwks.json"): {"200"},
    ("get", "/openapi.json"): {"200"},
    ("get", "/healthz"): {"200"},
    ("get", "/readyz"): {"200", "503"},
}


# -- a tiny JSON Schema checker for the subset the document uses ----------------------------------------------------

DATE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")
TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}
KNOWN_KEYWORDS = {
    "$ref", "type", "enum", "const", "properties", "required", "additionalProperties", "items", "allOf", "oneOf",
    "minLength", "maxLength", "pattern", "format", "description", "default",
}  # fmt: skip


def resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), ref
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"unresolvable $ref {ref}"
        node = node[part]
    return node


def deref(doc: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = resolve(doc, node["$ref"])
    return node


def errors_of(doc: dict[str, Any], schema: dict[str, Any], value: Any, at: str = "$") -> list[str]:
    unknown = set(schema) - KNOWN_KEYWORDS
    assert not unknown, f"the checker does not know {unknown} (at {at})"
    if "$ref" in schema:
        return errors_of(doc, resolve(doc, schema["$ref"]), value, at)
    problems: list[str] = []
    for sub in schema.get("allOf", []):
        problems += errors_of(doc, sub, value, at)
    if "oneOf" in schema:
        matching = [sub for sub in schema["oneOf"] if not errors_of(doc, sub, value, at)]
        if len(matching) != 1:
            problems.append(f"{at}: matches {len(matching)} of oneOf, not exactly 1")
    if "type" in schema:
        types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not any(TYPES[t](value) for t in types):
            return [*problems, f"{at}: {value!r:.60} is not {schema['type']}"]
    if "const" in schema and value != schema["const"]:
        problems.append(f"{at}: {value!r:.60} is not {schema['const']!r}")
    if "enum" in schema and value not in schema["enum"]:
        problems.append(f"{at}: {value!r:.60} not in {schema['enum']}")
    if isinstance(value, str):
        if len(value) < schema.get("minLength", 0) or len(value) > schema.get("maxLength", len(value)):
            problems.append(f"{at}: length {len(value)} out of bounds")
        if "pattern" in schema and not re.search(schema["pattern"], value):
            problems.append(f"{at}: {value!r:.60} does not match {schema['pattern']}")
        if schema.get("format") == "date-time" and not DATE_TIME.match(value):
            problems.append(f"{at}: {value!r:.60} is not a date-time")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        problems += [f"{at}: missing {name!r}" for name in schema.get("required", []) if name not in value]
        for name, member in value.items():
            if name in properties:
                problems += errors_of(doc, properties[name], member, f"{at}.{name}")
            elif schema.get("additionalProperties", True) is False:
                problems.append(f"{at}: unexpected member {name!r}")
            elif isinstance(schema.get("additionalProperties"), dict):
                problems += errors_of(doc, schema["additionalProperties"], member, f"{at}.{name}")
    if isinstance(value, list) and "items" in schema:
        for i, item in enumerate(value):
            problems += errors_of(doc, schema["items"], item, f"{at}[{i}]")
    return problems


def test_the_checker_catches_what_it_should() -> None:
    doc = {
        "components": {
            "schemas": {
                "S": {
                    "type": "object",
                    "properties": {"a": {"type": "integer"}},
                    "required": ["a"],
                    "additionalProperties": False,
                }
            }
        }
    }
    ref = {"$ref": "#/components/schemas/S"}
    assert errors_of(doc, ref, {"a": 1}) == []
    assert errors_of(doc, ref, {}) and errors_of(doc, ref, {"a": 1, "b": 2}) and errors_of(doc, ref, [])
    assert errors_of(doc, {"type": "string", "maxLength": 2}, "abc")
    assert errors_of(doc, {"type": "integer"}, True)
    assert errors_of(doc, {"oneOf": [{"type": "string"}, {"type": "string", "enum": ["x"]}]}, "x")
    assert errors_of(doc, {"type": "string", "format": "date-time"}, "yesterday")


# -- the document and how answers are checked against it -----------------------------------------------------------


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield method, path, op


def documented(doc: dict[str, Any], method: str, path: str, r: httpx2.Response) -> Any:
    """Asserts that the answer `r` to `method path` (a path template) is as the document says; returns its JSON."""
    op = doc["paths"][path][method]
    status = str(r.status_code)
    assert status in op["responses"], f"{method.upper()} {path} answered an undocumented {status}: {r.text}"
    answer = deref(doc, op["responses"][status])
    for name, header in answer.get("headers", {}).items():
        header = deref(doc, header)
        value = r.headers.get(name)
        if header.get("required"):
            assert value is not None, f"{method.upper()} {path} {status}: no {name} header"
        if value is not None:
            assert errors_of(doc, header["schema"], value) == [], (name, value)
    content = answer.get("content")
    if content is None:
        assert r.content == b"", f"{method.upper()} {path} {status} documents no body but sent {r.text!r}"
        return None
    assert r.headers["content-type"].split(";")[0] in content
    body = r.json()
    schema = content[r.headers["content-type"].split(";")[0]]["schema"]
    assert errors_of(doc, schema, body) == [], (method, path, status, body)
    return body


@pytest.fixture
def api(make_server: Callable[..., Server]) -> Server:
    return make_server(env=ENV)


@pytest.fixture
def http(api: Server) -> Iterator[httpx2.Client]:
    with api.client() as c:
        yield c


@pytest.fixture
def doc(http: httpx2.Client) -> dict[str, Any]:
    r = http.get("/openapi.json")
    assert r.status_code == 200
    body: dict[str, Any] = r.json()
    return body


# -- structure ------------------------------------------------------------------------------------------------------


def test_document_is_openapi_3_1(doc: dict[str, Any], api: Server) -> None:
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["title"] and doc["info"]["version"]
    assert doc["servers"] == [{"url": api.base_url}]
    assert set(doc) <= {"openapi", "info", "servers", "components", "paths", "security", "tags", "webhooks"}
    schemes = doc["components"]["securitySchemes"]
    assert schemes["bearer"] == {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
    assert schemes["basic"]["type"] == "http" and schemes["basic"]["scheme"] == "basic"
    for method, path, op in operations(doc):
        assert op.get("summary"), (method, path)
        assert op["responses"], (method, path)
        for status, answer in op["responses"].items():
            assert re.fullmatch(r"[1-5]\d\d", status), (method, path, status)
            assert deref(doc, answer)["description"], (method, path, status)
        for requirement in op.get("security", []):
            assert set(requirement) <= set(schemes), (method, path)
        declared = {p["name"] for p in map(lambda p: deref(doc, p), op.get("parameters", [])) if p["in"] == "path"}
        assert declared == set(re.findall(r"{(\w+)}", path)), (method, path)


def test_document_is_valid_openapi_3_1_for_the_reference_validator(doc: dict[str, Any]) -> None:
    problems = [f"{list(e.absolute_path)}: {e.message}" for e in OpenAPIV31SpecValidator(doc).iter_errors()]
    assert problems == []
    assert "bearerFormat" not in doc["components"]["securitySchemes"]["dpop"]  # only for scheme bearer


# Generated clients name their methods after operationId: these names are part of the API and never change.
OPERATION_IDS = {
    ("post", "/v1/sessions"): "createSession",
    ("get", "/v1/sessions"): "listSessions",
    ("delete", "/v1/sessions"): "endSessions",
    ("post", "/v1/sessions/refresh"): "refreshSession",
    ("delete", "/v1/sessions/current"): "logout",
    ("delete", "/v1/sessions/{session_id}"): "endSession",
    ("get", "/v1/me"): "getMe",
    ("post", "/v1/password"): "changePassword",
    ("post", "/v1/admin/users"): "createUser",
    ("delete", "/v1/admin/users/{username}/sessions"): "endUserSessions",
    ("post", "/v1/sessions/mfa"): "completeLoginSecondFactor",
    ("post", "/v1/sessions/step-up"): "stepUp",
    ("post", "/v1/mfa/totp"): "startTotpEnrolment",
    ("delete", "/v1/mfa/totp"): "removeTotp",
    ("post", "/v1/mfa/totp/confirm"): "confirmTotpEnrolment",
    ("get", "/v1/mfa"): "listFactors",
    ("post", "/v1/mfa/recovery-codes"): "regenerateRecoveryCodes",
    ("post", "/v1/mfa/webauthn"): "startWebAuthnRegistration",
    ("post", "/v1/mfa/webauthn/confirm"): "confirmWebAuthnRegistration",
    ("delete", "/v1/mfa/webauthn/{credential_id}"): "removeWebAuthnCredential",
    ("post", "/v1/sessions/mfa/webauthn"): "getWebAuthnLoginOptions",
    ("post", "/v1/sessions/step-up/webauthn"): "getWebAuthnStepUpOptions",
    ("delete", "/v1/admin/users/{username}/mfa"): "resetUserFactors",
    ("post", "/v1/oauth/revoke"): "revokeToken",
    ("post", "/v1/oauth/introspect"): "introspectToken",
    ("get", "/v1/revocations/stream"): "streamRevocations",
    ("get", "/.well-known/openid-configuration"): "getOpenIdConfiguration",
    ("get", "/.well-known/oauth-authorization-server"): "getAuthorizationServerMetadata",
    ("get", "/.well-known/jwks.json"): "getJwks",
    ("get", "/openapi.json"): "getOpenApiDocument",
    ("get", "/healthz"): "getHealth",
    ("get", "/readyz"): "getReadiness",
}


def test_every_operation_has_its_stable_camel_case_operation_id(doc: dict[str, Any]) -> None:
    ids = {(m, p): op.get("operationId") for m, p, op in operations(doc)}
    assert ids == OPERATION_IDS
    assert len(set(ids.values())) == len(ids), "operationIds are unique"
    for name in ids.values():
        assert re.fullmatch(r"[a-z][a-zA-Z0-9]*", name), name


def snake(name: str) -> str:
    """How client generators (openapi-generator, openapi-python-client) turn a parameter name into an identifier."""
    name = re.sub(r"[^A-Za-z0-9]+", "_", name)
    name = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    return re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name).lower().strip("_")


def test_parameter_names_give_generated_clients_good_names(doc: dict[str, Any]) -> None:
    assert snake("DPoP") == "d_po_p"  # the name the review's generators produced
    names: set[str] = set()
    for _method, _path, op in operations(doc):
        for parameter in (deref(doc, p) for p in op.get("parameters", [])):
            names.add(snake(parameter["name"]))
            if parameter["in"] == "header":
                assert parameter["name"].lower() in {"dpop", "last-event-id"}
    assert names == {"dpop", "scope", "session_id", "username", "credential_id", "last_event_id"}


def test_every_ref_resolves(doc: dict[str, Any]) -> None:
    refs: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                refs.append(node["$ref"])
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(doc)
    assert refs
    for ref in refs:
        resolve(doc, ref)  # asserts


def test_every_schema_is_in_the_checked_subset(doc: dict[str, Any]) -> None:
    """So the live checks below really check: the checker refuses keywords it does not know."""
    for schema in doc["components"]["schemas"].values():
        errors_of(doc, schema, None)
        errors_of(doc, schema, {})


def test_each_operation_lists_the_statuses_its_handler_can_answer(doc: dict[str, Any]) -> None:
    listed = {(m, p): set(op["responses"]) for m, p, op in operations(doc)}
    assert set(listed) == set(EXPECTED_STATUSES)
    for key, statuses in listed.items():
        assert statuses == EXPECTED_STATUSES[key] | {"405"}, key


def test_error_answers_carry_the_error_object_and_their_headers(doc: dict[str, Any]) -> None:
    for method, path, op in operations(doc):
        for status, answer in op["responses"].items():
            answer = deref(doc, answer)
            if int(status) < 400:
                continue
            schema = answer["content"]["application/json"]["schema"]
            assert errors_of(doc, schema, {"error": "x", "error_description": "y"}) != []  # the code is constrained
            headers = answer.get("headers", {})
            if status == "429":
                assert deref(doc, headers["Retry-After"])["required"], (method, path)
            if status == "405":
                assert deref(doc, headers["Allow"])["required"], (method, path)
        bearer_auth = {"bearer": []} in op.get("security", [])
        if bearer_auth:
            challenge = deref(doc, deref(doc, op["responses"]["401"])["headers"]["WWW-Authenticate"])
            assert {"enum": ['Bearer error="invalid_token"'], "type": "string"} in challenge["schema"]["oneOf"]
        if "requestBody" in op:
            assert {"400", "415"} <= set(op["responses"]), (method, path)
            # Only the first factor's current_password is optional: SPEC's POST /v1/mfa/totp has no body.
            optional = (method, path) in {("post", "/v1/mfa/totp"), ("post", "/v1/mfa/webauthn")}
            assert op["requestBody"]["required"] is not optional, (method, path)


def test_request_bodies_state_the_limits_the_code_enforces(doc: dict[str, Any]) -> None:
    schemas = doc["components"]["schemas"]
    login = schemas["Login"]
    assert login["required"] == ["username", "password"]
    assert login["properties"]["username"]["maxLength"] == 64
    assert login["properties"]["password"]["maxLength"] == 1024
    assert login["properties"]["client_id"]["maxLength"] == 64
    assert login["additionalProperties"] is True  # extra fields are ignored
    assert schemas["Refresh"]["properties"]["refresh_token"]["maxLength"] == 8192
    assert schemas["PasswordChange"]["properties"]["new_password"]["minLength"] == 8
    assert schemas["NewUser"]["properties"]["username"]["maxLength"] == 64
    assert schemas["TokenForm"]["properties"]["token"]["maxLength"] == 8192
    form = doc["paths"]["/v1/oauth/revoke"]["post"]["requestBody"]["content"]
    assert set(form) == {"application/x-www-form-urlencoded"}


def test_every_route_of_the_app_is_documented_and_nothing_else(doc: dict[str, Any], tmp_path: Path) -> None:
    settings = load_settings(None, {}, data_dir=str(tmp_path))
    app = create_app(settings)
    served: set[tuple[str, str]] = set()
    for route in app.routes:
        assert isinstance(route, Route), route
        if is_page_path(route.path):  # the HTML pages for people (http/pages/) are not part of the JSON API
            continue
        methods = set(route.methods or ())
        if "GET" in methods:
            methods.discard("HEAD")  # Starlette answers HEAD for every GET; the document says so once, in info
        assert "HEAD" not in methods
        served |= {(m.lower(), route.path) for m in methods}
    document = {(m, p) for m, p, _op in operations(doc)}
    assert served - document == set(), "served but not documented"
    assert document - served == set(), "documented but not served"


# -- real answers match the document ---------------------------------------------------------------------------------


def basic(client_id: str = "web", secret: str = SECRET) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


FORM = {"Content-Type": "application/x-www-form-urlencoded"}


def test_login_refresh_me_and_their_errors(doc: dict[str, Any], api: Server, http: httpx2.Client) -> None:
    api.add_user("alice", PASSWORD)
    login = "/v1/sessions"
    s = documented(doc, "post", login, api.login(http, "alice", PASSWORD, extra_field="ignored"))
    assert s is not None
    cookie = documented(doc, "post", login, api.login(http, "alice", PASSWORD, transport="cookie"))
    assert set(cookie) == {"session_id", "csrf_token", "expires_in", "acr", "amr"}
    http.cookies.clear()
    assert documented(doc, "post", login, api.login(http, "alice", "wrong"))["error"] == "invalid_credentials"
    assert documented(doc, "post", login, api.login(http, "alice", "wrong"))["error"] == "invalid_credentials"
    throttled = api.login(http, "alice", "wrong")
    assert throttled.status_code == 429
    assert documented(doc, "post", login, throttled)["error"] == "too_many_attempts"
    bad = [
        http.post(login, content=b"{", headers={"Content-Type": "application/json"}),
        http.post(login, json=[1]),
        http.post(login, json={"username": "alice"}),
        http.post(login, json={"username": "a" * 65, "password": "x"}),
        http.post(login, json={"username": "bob", "password": "x", "transport": "pigeon"}),
        http.post(login, json={"username": "bob", "password": "x", "client_id": "nobody"}),
    ]
    for r in bad:
        assert r.status_code == 400, r.text
        assert documented(doc, "post", login, r)["error"] == "invalid_request"
    r = http.post(login, content=b"username=alice", headers=FORM)
    assert documented(doc, "post", login, r)["error"] == "unsupported_media_type"

    refreshed = documented(
        doc,
        "post",
        "/v1/sessions/refresh",
        # web has a secret here, so it is a confidential client: its refresh authenticates (RFC 6749 section 6).
        http.post("/v1/sessions/refresh", json={"refresh_token": s["refresh_token"]}, headers=basic()),
    )
    assert refreshed["session_id"] == s["session_id"]
    r = http.post("/v1/sessions/refresh", json={"refresh_token": "nope"})
    assert documented(doc, "post", "/v1/sessions/refresh", r)["error"] == "invalid_grant"
    r = http.post("/v1/sessions/refresh", json={"refresh_token": 5})
    assert documented(doc, "post", "/v1/sessions/refresh", r)["error"] == "invalid_request"

    me = documented(doc, "get", "/v1/me", http.get("/v1/me", headers=bearer(refreshed["access_token"])))
    assert me["username"] == "alice"
    for headers in ({}, bearer("not.a.jwt"), {"Authorization": "Basic abc"}):
        assert documented(doc, "get", "/v1/me", http.get("/v1/me", headers=headers))["error"] == "invalid_token"


def test_session_limit_and_mfa_refusals(doc: dict[str, Any], api: Server, http: httpx2.Client) -> None:
    api.add_user("alice", PASSWORD)
    assert documented(doc, "post", "/v1/sessions", api.login(http, "alice", PASSWORD, client_id="tight"))
    r = api.login(http, "alice", PASSWORD, client_id="tight")
    assert documented(doc, "post", "/v1/sessions", r)["error"] == "session_limit"
    r = api.login(http, "alice", PASSWORD, client_id="strict")
    assert documented(doc, "post", "/v1/sessions", r)["error"] == "mfa_enrollment_required"


def test_second_factor_routes(doc: dict[str, Any], api: Server, http: httpx2.Client) -> None:
    api.add_user("alice", PASSWORD)
    s = api.login(http, "alice", PASSWORD).json()
    auth = bearer(s["access_token"])
    assert documented(doc, "delete", "/v1/mfa/totp", http.delete("/v1/mfa/totp", headers=auth))["error"] == "not_found"
    r = http.post("/v1/mfa/totp/confirm", json={"code": "123456"}, headers=auth)
    assert documented(doc, "post", "/v1/mfa/totp/confirm", r)["error"] == "invalid_request"
    secret = documented(doc, "post", "/v1/mfa/totp", http.post("/v1/mfa/totp", headers=auth))["secret"]
    r = http.post("/v1/mfa/totp/confirm", json={"code": "abcdef"}, headers=auth)
    assert documented(doc, "post", "/v1/mfa/totp/confirm", r)["error"] == "invalid_mfa"
    r = http.post("/v1/mfa/totp/confirm", json={"code": pyotp.TOTP(secret).now()}, headers=auth)
    assert len(documented(doc, "post", "/v1/mfa/totp/confirm", r)["recovery_codes"]) == 10
    codes = r.json()["recovery_codes"]
    r = http.delete("/v1/mfa/totp", headers=auth)
    assert documented(doc, "delete", "/v1/mfa/totp", r)["error"] == "insufficient_user_authentication"
    r = http.post("/v1/sessions/step-up", json={"method": "totp", "code": "000000x"}, headers=auth)
    assert documented(doc, "post", "/v1/sessions/step-up", r)["error"] == "invalid_mfa"
    r = http.post("/v1/sessions/step-up", json={"method": "recovery_code", "code": codes[0]}, headers=auth)
    up = documented(doc, "post", "/v1/sessions/step-up", r)
    r = api.login(http, "alice", PASSWORD)
    token = documented(doc, "post", "/v1/sessions", r)["mfa_token"]
    r = http.post("/v1/sessions/mfa", json={"mfa_token": token, "method": "totp", "code": "12"})
    assert documented(doc, "post", "/v1/sessions/mfa", r)["error"] == "invalid_mfa"
    r = http.post("/v1/sessions/mfa", json={"mfa_token": token, "method": "recovery_code", "code": codes[1]})
    assert documented(doc, "post", "/v1/sessions/mfa", r)["acr"] == "urn:sessionward:loa:2"
    r = http.post("/v1/sessions/mfa", json={"mfa_token": token, "method": "sms", "code": "1"})
    assert documented(doc, "post", "/v1/sessions/mfa", r)["error"] == "invalid_request"
    r = http.delete("/v1/mfa/totp", headers=bearer(up["access_token"]))
    assert documented(doc, "delete", "/v1/mfa/totp", r) is None


def test_listing_and_ending_sessions(doc: dict[str, Any], api: Server, http: httpx2.Client) -> None:
    api.add_user("alice", PASSWORD)
    a, b, c = (api.login(http, "alice", PASSWORD).json() for _ in range(3))
    auth = bearer(a["access_token"])
    listed = documented(doc, "get", "/v1/sessions", http.get("/v1/sessions", headers=auth))
    assert len(listed["sessions"]) == 3
    one = "/v1/sessions/{session_id}"
    assert documented(doc, "delete", one, http.delete("/v1/sessions/unknown", headers=auth))["error"] == "not_found"
    assert documented(doc, "delete", one, http.delete(f"/v1/sessions/{b['session_id']}", headers=auth)) is None
    many = "/v1/sessions"
    r = http.delete("/v1/sessions", params={"scope": "mine"}, headers=auth)
    assert documented(doc, "delete", many, r)["error"] == "invalid_request"
    assert (
        documented(doc, "delete", many, http.delete("/v1/sessions", params={"scope": "others"}, headers=auth)) is None
    )
    r = http.delete("/v1/sessions?scope=all", headers=bearer(c["access_token"]))  # c ended with the others
    assert documented(doc, "delete", many, r)["error"] == "invalid_token"
    assert documented(doc, "delete", many, http.delete("/v1/sessions?scope=all", headers=auth)) is None
    current = "/v1/sessions/current"
    assert documented(doc, "delete", current, http.delete(current, headers=auth))["error"] == "invalid_token"
    d = api.login(http, "alice", PASSWORD).json()
    assert documented(doc, "delete", current, http.delete(current, headers=bearer(d["access_token"]))) is None


def test_password_change(doc: dict[str, Any], api: Server, http: httpx2.Client) -> None:
    api.add_user("alice", PASSWORD)
    s = api.login(http, "alice", PASSWORD).json()
    auth, path = bearer(s["access_token"]), "/v1/password"
    cases = [
        ({"current_password": "wrong-password", "new_password": "another password"}, "invalid_current_password"),
        ({"current_password": PASSWORD, "new_password": "short"}, "invalid_request"),
        ({"current_password": PASSWORD, "new_password": PASSWORD}, "invalid_request"),
        ({"current_password": PASSWORD}, "invalid_request"),
    ]
    for body, code in cases:
        assert documented(doc, "post", path, http.post(path, json=body, headers=auth))["error"] == code
    r = http.post(path, content=b"x", headers={**auth, "Content-Type": "text/plain"})
    assert documented(doc, "post", path, r)["error"] == "unsupported_media_type"
    ok = http.post(path, json={"current_password": PASSWORD, "new_password": "a brand new passphrase"}, headers=auth)
    fresh = documented(doc, "post", path, ok)
    assert fresh["session_id"] != s["session_id"]


def test_admin_routes(doc: dict[str, Any], api: Server, http: httpx2.Client) -> None:
    api.add_user("root", PASSWORD, admin=True)
    api.add_user("alice", PASSWORD)
    admin = bearer(api.login(http, "root", PASSWORD).json()["access_token"])
    user = bearer(api.login(http, "alice", PASSWORD).json()["access_token"])
    create, end = "/v1/admin/users", "/v1/admin/users/{username}/sessions"
    new = {"username": "bob", "password": PASSWORD, "admin": False, "ignored": 1}
    assert documented(doc, "post", create, http.post(create, json=new, headers=user))["error"] == "forbidden"
    assert documented(doc, "post", create, http.post(create, json=new))["error"] == "invalid_token"
    assert documented(doc, "post", create, http.post(create, json=new, headers=admin))["username"] == "bob"
    assert documented(doc, "post", create, http.post(create, json=new, headers=admin))["error"] == "conflict"
    for bad in ({"username": "../x", "password": PASSWORD}, {"username": "carol", "password": "short"}):
        assert documented(doc, "post", create, http.post(create, json=bad, headers=admin))["error"] == "invalid_request"
    r = http.post(create, content=b"{}", headers={**admin, "Content-Type": "text/json"})
    assert documented(doc, "post", create, r)["error"] == "unsupported_media_type"
    r = http.delete("/v1/admin/users/nobody/sessions", headers=admin)
    assert documented(doc, "delete", end, r)["error"] == "not_found"
    assert (
        documented(doc, "delete", end, http.delete("/v1/admin/users/bob/sessions", headers=user))["error"]
        == "forbidden"
    )
    assert documented(doc, "delete", end, http.delete("/v1/admin/users/alice/sessions", headers=admin)) is None
    assert http.get("/v1/me", headers=user).status_code == 401


def test_revocation_and_introspection(doc: dict[str, Any], api: Server, http: httpx2.Client) -> None:
    api.add_user("alice", PASSWORD)
    s = api.login(http, "alice", PASSWORD).json()
    intro, revoke = "/v1/oauth/introspect", "/v1/oauth/revoke"
    active = documented(doc, "post", intro, http.post(intro, data={"token": s["access_token"]}, headers=basic()))
    assert active["active"] is True and active["sid"] == s["session_id"]
    refresh = documented(doc, "post", intro, http.post(intro, data={"token": s["refresh_token"]}, headers=basic()))
    assert refresh["active"] is True and "token_type" not in refresh  # RFC 7662: an access token type, or none
    unknown = documented(doc, "post", intro, http.post(intro, data={"token": "unknown"}, headers=basic()))
    assert unknown == {"active": False}
    for headers in ({}, basic(secret="wrong"), basic("tight", "")):
        r = http.post(intro, data={"token": "x"}, headers=headers)
        assert documented(doc, "post", intro, r)["error"] == "invalid_client"
    r = http.post(intro, data={"nothing": "x"}, headers=basic())
    assert documented(doc, "post", intro, r)["error"] == "invalid_request"
    r = http.post(intro, json={"token": "x"}, headers=basic())
    assert documented(doc, "post", intro, r)["error"] == "unsupported_media_type"
    r = http.post(revoke, data={"token": s["refresh_token"], "token_type_hint": "refresh_token"}, headers=basic())
    assert documented(doc, "post", revoke, r) is None
    assert documented(doc, "post", revoke, http.post(revoke, data={"token": "unknown"}, headers=basic())) is None
    r = http.post(revoke, data={"token": "x"})
    assert documented(doc, "post", revoke, r)["error"] == "invalid_client"
    after = http.post(intro, data={"token": s["access_token"]}, headers=basic())
    assert documented(doc, "post", intro, after) == {"active": False}


def test_public_routes(doc: dict[str, Any], http: httpx2.Client) -> None:
    for path in (
        "/.well-known/openid-configuration",
        "/.well-known/oauth-authorization-server",
        "/.well-known/jwks.json",
        "/openapi.json",
        "/healthz",
        "/readyz",
    ):
        assert documented(doc, "get", path, http.get(path)) is not None
    conf = http.get("/.well-known/openid-configuration").json()
    assert conf["revocation_endpoint"].endswith("/v1/oauth/revoke")
    assert conf["introspection_endpoint"].endswith("/v1/oauth/introspect")
    assert len(http.get("/.well-known/jwks.json").json()["keys"]) >= 1


@pytest.mark.parametrize(
    ("method", "path", "template"),
    [
        ("PUT", "/v1/me", "/v1/me"),
        ("PATCH", "/v1/sessions", "/v1/sessions"),
        ("GET", "/v1/sessions/current", "/v1/sessions/current"),
        ("GET", "/v1/sessions/some-sid", "/v1/sessions/{session_id}"),
        ("GET", "/v1/oauth/revoke", "/v1/oauth/revoke"),
        ("POST", "/healthz", "/healthz"),
    ],
)
def test_a_method_a_path_lacks_is_a_documented_405(
    doc: dict[str, Any], http: httpx2.Client, method: str, path: str, template: str
) -> None:
    r = http.request(method, path)
    assert r.status_code == 405, r.text
    served = {m.upper() for m in doc["paths"][template]}
    assert served <= {m.strip() for m in r.headers["allow"].split(",")}
    for op_method in doc["paths"][template]:
        assert documented(doc, op_method, template, r)["error"] == "method_not_allowed"
