"""The OpenAPI document of the JSON API, written by hand so it says exactly what the contract says."""

from __future__ import annotations

from typing import Any

_ERROR = {
    "type": "object",
    "required": ["error", "error_description"],
    "properties": {"error": {"type": "string"}, "error_description": {"type": "string"}},
}
_SESSION = {
    "type": "object",
    "required": [
        "session_id",
        "access_token",
        "token_type",
        "expires_in",
        "refresh_token",
        "refresh_expires_in",
        "acr",
        "amr",
    ],
    "properties": {
        "session_id": {"type": "string"},
        "access_token": {"type": "string"},
        "token_type": {"type": "string", "enum": ["Bearer", "DPoP"]},
        "expires_in": {"type": "integer"},
        "refresh_token": {"type": "string"},
        "refresh_expires_in": {"type": "integer"},
        "acr": {"type": "string"},
        "amr": {"type": "array", "items": {"type": "string"}},
    },
}
_LOGIN = {
    "type": "object",
    "required": ["username", "password"],
    "properties": {
        "username": {"type": "string", "maxLength": 64},
        "password": {"type": "string", "maxLength": 1024},
        "client_id": {"type": "string"},
        "revoke_other_sessions": {"type": "boolean"},
        "transport": {"type": "string", "enum": ["token", "cookie"]},
    },
}
_ME = {
    "type": "object",
    "required": ["sub", "username", "session_id", "client_id", "acr", "amr", "auth_time"],
    "properties": {
        "sub": {"type": "string"},
        "username": {"type": "string"},
        "session_id": {"type": "string"},
        "client_id": {"type": "string"},
        "acr": {"type": "string"},
        "amr": {"type": "array", "items": {"type": "string"}},
        "auth_time": {"type": "string", "format": "date-time"},
    },
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"content": {"application/json": {"schema": schema}}}


def _err(description: str) -> dict[str, Any]:
    return {"description": description, **_json(_ERROR)}


def openapi_document(issuer: str) -> dict[str, Any]:
    health = {"200": {"description": "OK", **_json({"type": "object"})}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "sessionward", "version": "0.1.0"},
        "servers": [{"url": issuer}],
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
        "paths": {
            "/v1/sessions": {
                "post": {
                    "summary": "Log in: create a session",
                    "requestBody": {"required": True, **_json(_LOGIN)},
                    "responses": {
                        "201": {"description": "A new session", **_json(_SESSION)},
                        "400": _err("Malformed request"),
                        "401": _err("invalid_credentials"),
                        "403": _err("The client's policy needs a factor not available"),
                        "415": _err("Not JSON"),
                        "429": _err("too_many_attempts, with Retry-After"),
                    },
                }
            },
            "/v1/me": {
                "get": {
                    "summary": "The caller's identity",
                    "security": [{"bearer": []}],
                    "responses": {"200": {"description": "The caller", **_json(_ME)}, "401": _err("invalid_token")},
                }
            },
            "/.well-known/openid-configuration": {"get": {"summary": "Discovery", "responses": health}},
            "/.well-known/jwks.json": {"get": {"summary": "Public signing keys", "responses": health}},
            "/healthz": {"get": {"summary": "Alive", "responses": health}},
            "/readyz": {"get": {"summary": "Ready", "responses": {**health, "503": _err("not_ready")}}},
        },
    }
