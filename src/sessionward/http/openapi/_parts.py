"""The building blocks of the OpenAPI document: schema pieces, answers and operations."""

from __future__ import annotations

from typing import Any

Schema = dict[str, Any]

REF = "#/components"
# The size cap of every request body (http/body.py MAX_BODY_BYTES).
_BODY_CAP = "The body is at most 64 KiB; a larger one is 400 invalid_request."


# -- schema pieces -------------------------------------------------------------------------------------------------


def _ref(kind: str, name: str) -> Schema:
    return {"$ref": f"{REF}/{kind}/{name}"}


def _str(min_len: int | None = None, max_len: int | None = None, **more: Any) -> Schema:
    schema: Schema = {"type": "string", **more}
    if min_len is not None:
        schema["minLength"] = min_len
    if max_len is not None:
        schema["maxLength"] = max_len
    return schema


def _obj(properties: dict[str, Schema], required: list[str] | None = None, *, closed: bool = False) -> Schema:
    """An object; `closed` for answers that carry exactly these members, open for requests (extras are ignored)."""
    return {
        "type": "object",
        "required": required if required is not None else list(properties),
        "properties": properties,
        "additionalProperties": not closed,
    }


def _strs(*names: str) -> dict[str, Schema]:
    return {name: _str() for name in names}


_INT: Schema = {"type": "integer"}
_BOOL: Schema = {"type": "boolean"}
_TIME: Schema = _str(format="date-time", description="RFC 3339, UTC")
_AMR: Schema = {"type": "array", "items": _str()}
_STRINGS: Schema = {"type": "array", "items": _str()}
_OPTIONAL_STR = {"type": ["string", "null"]}  # null counts as absent

_USERNAME = _str(1, 64, pattern="^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")


# -- responses -----------------------------------------------------------------------------------------------------


def _json(schema: Schema) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _ok(description: str, schema: str | None = None, *, no_store: bool = False) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": description}
    if schema is not None:
        answer.update(_json(_ref("schemas", schema)))
    if no_store:
        answer["headers"] = {"Cache-Control": _ref("headers", "NoStore")}
    return answer


def _error(description: str, *codes: str, **headers: str) -> dict[str, Any]:
    """An error answer: the Error object with `error` one of `codes`; `headers` maps header name to component."""
    schema = {"allOf": [_ref("schemas", "Error"), {"properties": {"error": {"enum": list(codes)}}}]}
    answer: dict[str, Any] = {"description": description, **_json(schema)}
    answer["headers"] = {"Cache-Control": _ref("headers", "NoStore")}
    answer["headers"].update({name.replace("_", "-"): _ref("headers", h) for name, h in headers.items()})
    return answer


def _status(**responses: Any) -> dict[str, Any]:
    """Responses keyed by status (`s201=...`); every operation also answers 405 for a method its path lacks."""
    answers = {key.removeprefix("s"): value for key, value in responses.items()}
    answers["405"] = _ref("responses", "MethodNotAllowed")
    return answers


# -- operations ----------------------------------------------------------------------------------------------------


# The DPoP proof header (RFC 9449). Header names are case-insensitive (RFC 9110 5.1): it is named "Dpop" here so
# that client generators derive a readable name from it (`dpop`, not `d_po_p`); the server reads any case.
DPOP_HEADER: dict[str, Any] = {
    "name": "Dpop",
    "in": "header",
    "required": False,
    "schema": _str(max_len=8192),
    "description": "The DPoP header (RFC 9449): a DPoP proof for this method and URL. At sign-in and refresh it binds "
    "the session's tokens to its key; with `Authorization: DPoP <token>` it proves possession (with ath)",
}
_DPOP_PARAMETER: dict[str, Any] = _ref("parameters", "Dpop")


def _op(
    operation_id: str, summary: str, responses: dict[str, Any], *, auth: str | None = None, **more: Any
) -> dict[str, Any]:
    """One operation. `operation_id` is the stable name client generators give its method: never rename one."""
    op: dict[str, Any] = {"operationId": operation_id, "summary": summary, **more, "responses": responses}
    if auth is not None:
        # A bearer-authenticated operation also accepts the cookie transport's access cookie, and DPoP-bound tokens.
        op["security"] = [{auth: []}, {"dpop": []}, {"cookie": []}] if auth == "bearer" else [{auth: []}]
        if auth == "bearer":
            op["parameters"] = [*op.get("parameters", []), _DPOP_PARAMETER]
    return op


def _body(schema: str, media: str = "application/json") -> dict[str, Any]:
    return {"required": True, "description": _BODY_CAP, "content": {media: {"schema": _ref("schemas", schema)}}}


def _path_param(name: str, description: str) -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": _str(), "description": description}


def _oauth(operation_id: str, summary: str, ok: dict[str, Any]) -> dict[str, Any]:
    form = "application/x-www-form-urlencoded"
    return _op(
        operation_id,
        summary,
        _status(
            s200=ok,
            s400=_ref("responses", "InvalidRequest"),
            s401=_ref("responses", "InvalidClient"),
            s415=_ref("responses", "UnsupportedMediaType"),
            s429=_error("Too many failed client authentications", "too_many_attempts", Retry_After="RetryAfter"),
        ),
        auth="basic",
        requestBody=_body("TokenForm", form),
    )
