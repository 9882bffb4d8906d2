"""Routes whose 405 names exactly the methods of the path, and whose literal paths no parameter route takes.

Starlette answers a wrong method with the `Allow` of the first route whose path matched: `/v1/sessions/mfa`
(POST) was taken by `/v1/sessions/{session_id}` (DELETE) first, so `GET /v1/sessions/mfa` said `Allow: DELETE`
and `DELETE /v1/sessions/mfa` tried to end a session named "mfa"; a path served by two routes (a page's GET
and POST) named only one of them.
"""

from __future__ import annotations

from collections.abc import Sequence

from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute, Match, Route
from starlette.types import Receive, Scope, Send


class _ExactRoute(Route):
    allow: str  # every method served at this route's path, sorted
    literal_paths: frozenset[str]  # for a route with parameters: the paths of the routes without

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child_scope = super().matches(scope)
        if match is not Match.NONE and _route_path(scope) in self.literal_paths:
            return Match.NONE, {}
        return match, child_scope

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.methods and scope["method"] not in self.methods:
            raise HTTPException(status_code=405, headers={"Allow": self.allow})
        await super().handle(scope, receive, send)


def _route_path(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def exact_routes(routes: Sequence[BaseRoute]) -> list[BaseRoute]:
    """`routes`, each Route rebuilt so that its 405 carries the `Allow` of its whole path."""
    plain = [r for r in routes if isinstance(r, Route)]
    literal = frozenset(r.path for r in plain if not r.param_convertors)
    methods: dict[str, set[str]] = {}
    for r in plain:
        methods.setdefault(r.path, set()).update(r.methods or ())
    exact: list[BaseRoute] = []
    for given in routes:
        if not isinstance(given, Route):
            exact.append(given)
            continue
        route = _ExactRoute(
            given.path,
            given.endpoint,
            methods=given.methods,
            name=given.name,
            include_in_schema=given.include_in_schema,
        )
        route.allow = ", ".join(sorted(methods[given.path]))
        route.literal_paths = literal if given.param_convertors else frozenset()
        exact.append(route)
    return exact
