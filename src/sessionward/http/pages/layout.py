"""The frame every page shares, and the small pieces the pages are built from. No inline script or style; the
pages with a security-key button load the one script file, /static/webauthn.js, under a policy that allows it
(http/security.py SCRIPT_PAGE_CSP); every other page has no script at all."""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Literal

from starlette.responses import HTMLResponse

from sessionward.http.pages.html import EMPTY, Html, join, render
from sessionward.http.security import SCRIPT_PAGE_CSP

STATIC_DIR: Final = Path(__file__).resolve().parent.parent / "static"
STATIC_TYPES: Final = {
    "app.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
    "webauthn.js": "text/javascript; charset=utf-8",
}


@functools.cache
def _version(name: str) -> str:
    return hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:12]


@dataclass(frozen=True, slots=True)
class Viewer:
    """Who is looking, for the header: their name and the token their forms carry."""

    username: str
    csrf_token: str


NoticeKind = Literal["info", "success", "error", "warning"]

_ICONS: Final = {
    "info": '<circle cx="12" cy="12" r="9"/><path d="M12 11v6M12 7.5v.01"/>',
    "success": '<circle cx="12" cy="12" r="9"/><path d="m8 12.5 2.7 2.7L16.5 9"/>',
    "error": '<circle cx="12" cy="12" r="9"/><path d="M12 7.5v6M12 16.5v.01"/>',
    "warning": '<path d="M12 3.5 2.8 19.5h18.4z"/><path d="M12 10v4.5M12 17v.01"/>',
}


def icon(kind: str) -> Html:
    return Html(
        '<svg class="icon" viewBox="0 0 24 24" width="20" height="20" fill="none" stroke="currentColor" '
        f'stroke-width="2" stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">{_ICONS[kind]}</svg>'
    )


def notice(kind: NoticeKind, text: str, title: str = "") -> Html:
    role = "alert" if kind == "error" else "status"
    heading = render('<p class="notice-title">{title}</p>', title=title) if title else EMPTY
    return render(
        '<div class="notice notice-{kind}" role="{role}">{icon}<div>{heading}<p>{text}</p></div></div>',
        kind=kind,
        role=role,
        icon=icon(kind),
        heading=heading,
        text=text,
    )


def csrf_field(token: str) -> Html:
    return render('<input type="hidden" name="csrf_token" value="{token}">', token=token)


def field(
    name: str,
    label: str,
    *,
    kind: str = "text",
    autocomplete: str = "",
    value: str = "",
    hint: str = "",
    error: str = "",
    autofocus: bool = False,
    minlength: int = 0,
    required: bool = True,
) -> Html:
    described = [f"{name}-hint"] if hint else []
    if error:
        described.append(f"{name}-error")
    attributes = [
        render('type="{kind}" id="{name}" name="{name}"', kind=kind, name=name),
        render('autocomplete="{ac}"', ac=autocomplete) if autocomplete else EMPTY,
        render('value="{value}"', value=value) if value else EMPTY,
        render('aria-describedby="{ids}"', ids=" ".join(described)) if described else EMPTY,
        Html('aria-invalid="true"') if error else EMPTY,
        render('minlength="{n}"', n=minlength) if minlength else EMPTY,
        Html("autofocus") if autofocus else EMPTY,
        Html("required") if required else EMPTY,
    ]
    return render(
        '<div class="field">\n<label for="{name}">{label}</label>\n<input {attributes}>\n{hint}{error}</div>',
        name=name,
        label=label,
        attributes=join((a for a in attributes if a), " "),
        hint=render('<p class="hint" id="{name}-hint">{hint}</p>\n', name=name, hint=hint) if hint else EMPTY,
        error=render('<p class="field-error" id="{name}-error">{error}</p>\n', name=name, error=error)
        if error
        else EMPTY,
    )


_BRAND: Final = Html(
    '<a class="brand" href="/">'
    '<svg class="brand-mark" viewBox="0 0 32 32" width="28" height="28" aria-hidden="true">'
    '<rect width="32" height="32" rx="8" fill="#2848c7"/>'
    '<path d="M16 6.5 8.5 9.5v6c0 4.8 3.2 8.6 7.5 10 4.3-1.4 7.5-5.2 7.5-10v-6z" fill="none" stroke="#fff" '
    'stroke-width="2.2" stroke-linejoin="round"/>'
    '<path d="m12.5 16 2.5 2.5 4.5-5" fill="none" stroke="#fff" stroke-width="2.2" stroke-linecap="round" '
    'stroke-linejoin="round"/></svg>'
    "<span>sessionward</span></a>"
)


def _nav(viewer: Viewer | None, current: str) -> Html:
    if viewer is None:
        return EMPTY
    links = [
        ("/account/sessions", "Your devices"),
        ("/account/security", "Security"),
        ("/account/password", "Password"),
    ]
    items = join(
        render(
            '<a href="{href}"{here}>{text}</a>',
            href=href,
            text=text,
            here=Html(' aria-current="page"') if href == current else EMPTY,
        )
        for href, text in links
    )
    return render(
        '<nav class="nav" aria-label="Account">{items}</nav>\n'
        '<div class="who"><span class="who-name" title="Signed in as {name}">{name}</span>\n'
        '<form method="post" action="/account/signout" class="inline">{csrf}'
        '<button type="submit" class="btn btn-quiet btn-small">Sign out</button></form></div>',
        items=items,
        name=viewer.username,
        csrf=csrf_field(viewer.csrf_token),
    )


def page(
    title: str,
    body: Html,
    *,
    viewer: Viewer | None = None,
    current: str = "",
    status: int = 200,
    narrow: bool = False,
    footer: str = "",
    script: bool = False,
) -> HTMLResponse:
    document = render(
        """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light">
<title>{title} · sessionward</title>
<link rel="stylesheet" href="/static/app.css?v={css}">
<link rel="icon" href="/static/favicon.svg?v={ico}" type="image/svg+xml">
{script}</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="topbar"><div class="topbar-inner">{brand}{nav}</div></header>
<main id="main" class="main{narrow}">
{body}
</main>
<footer class="footer"><p>{footer}</p></footer>
</body>
</html>
""",
        title=title,
        css=_version("app.css"),
        ico=_version("favicon.svg"),
        script=render('<script src="/static/webauthn.js?v={v}" defer></script>\n', v=_version("webauthn.js"))
        if script
        else EMPTY,
        brand=_BRAND,
        nav=_nav(viewer, current),
        narrow=Html(" main-narrow") if narrow else EMPTY,
        body=body,
        footer=footer or "sessionward keeps your account's sessions safe. Sign out on devices you don't use.",
    )
    headers = {"Cache-Control": "no-store"}
    if script:
        headers["Content-Security-Policy"] = SCRIPT_PAGE_CSP
    return HTMLResponse(document, status_code=status, headers=headers)
