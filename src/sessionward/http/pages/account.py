"""The account page "Where you're signed in", and ending sessions from it (the password page: password.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from sessionward.core.models import Session
from sessionward.core.numbers import ascii_int
from sessionward.core.useragent import parse_user_agent
from sessionward.errors import NotFound
from sessionward.http.context import services
from sessionward.http.cookies import expire_session_cookies
from sessionward.http.pages.forms import acting as _acting
from sessionward.http.pages.html import EMPTY, Html, join, render
from sessionward.http.pages.layout import csrf_field, notice, page
from sessionward.http.pages.messages import done_message, duration_words
from sessionward.http.pages.session import HOME, SIGNIN, NoSession, resolve, viewer_of

_DEVICE_ICONS: Final = {
    "desktop": '<rect x="3" y="4.5" width="18" height="12" rx="1.5"/><path d="M8.5 20h7M12 16.5V20"/>',
    "mobile": '<rect x="7" y="2.5" width="10" height="19" rx="2"/><path d="M11 18.5h2"/>',
    "tablet": '<rect x="4.5" y="2.5" width="15" height="19" rx="2"/><path d="M11 18.5h2"/>',
    "other": '<rect x="3" y="4.5" width="18" height="15" rx="1.5"/><path d="m7 10 3 2.5L7 15M12.5 15h4"/>',
}


def _device_icon(kind: str) -> Html:
    return Html(
        '<svg viewBox="0 0 24 24" width="28" height="28" fill="none" stroke="currentColor" stroke-width="1.7" '
        f'stroke-linecap="round" stroke-linejoin="round" aria-hidden="true">{_DEVICE_ICONS[kind]}</svg>'
    )


def _absolute(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%-d %b %Y, %H:%M UTC")


def _relative(ts: float, now: float) -> str:
    ago = max(0.0, now - ts)
    if ago < 45:
        return "Just now"
    if ago < 45 * 60:
        minutes = max(1, round(ago / 60))
        return f"{minutes} minute{'' if minutes == 1 else 's'} ago"
    if ago < 22 * 3600:
        hours = max(1, round(ago / 3600))
        return f"{hours} hour{'' if hours == 1 else 's'} ago"
    return _absolute(ts)


def _time(ts: float, text: str) -> Html:
    iso = datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return render('<time datetime="{iso}" title="{full}">{text}</time>', iso=iso, full=_absolute(ts), text=text)


def _session_item(s: Session, current: bool, csrf: str, now: float) -> Html:
    ua = parse_user_agent(s.user_agent)
    name = ua.summary if ua.summary != "Unknown device" else "Unknown browser and system"
    if current:
        action = render(
            '<form method="post" action="/account/signout" class="session-action">{csrf}'
            '<button type="submit" class="btn btn-secondary btn-small">Sign out<span class="visually-hidden"> of '
            "this device</span></button></form>",
            csrf=csrf_field(csrf),
        )
        last = _time(now, "Active now")
    else:
        action = render(
            '<form method="post" action="/account/sessions/end" class="session-action">{csrf}'
            '<input type="hidden" name="session_id" value="{sid}">'
            '<button type="submit" class="btn btn-secondary btn-small">Sign out<span class="visually-hidden"> '
            "{name}, last active {last}</span></button></form>",
            csrf=csrf_field(csrf),
            sid=s.sid,
            name=name,
            last=_relative(s.last_active_at, now).lower(),
        )
        last = _time(s.last_active_at, _relative(s.last_active_at, now))
    app = render(" · app {client}", client=s.client_id) if s.client_id != "web" else EMPTY
    return render(
        """<li class="session{cls}" data-sid="{sid}">
<div class="device device-{device}">{icon}</div>
<div class="session-main">
<p class="session-name"><span>{browser}</span> <span class="on">on</span> <span>{os}</span>{badge}</p>
<dl class="facts">
<div><dt>IP address</dt><dd>{ip}{app}</dd></div>
<div><dt>Signed in</dt><dd>{created}</dd></div>
<div><dt>Last active</dt><dd>{last}</dd></div>
</dl>
</div>
{action}
</li>""",
        cls=Html(" session-current") if current else EMPTY,
        sid=s.sid,
        device=ua.device,
        icon=_device_icon(ua.device),
        browser=ua.browser_label,
        os=ua.os_label,
        badge=Html(' <span class="badge">This device</span>') if current else EMPTY,
        ip=s.ip,
        app=app,
        created=_time(s.created_at, _absolute(s.created_at)),
        last=last,
        action=action,
    )


def _count(request: Request) -> int:
    return ascii_int(request.query_params.get("n", ""), max_digits=5) or 0


async def sessions_page(request: Request) -> Response:
    who = await resolve(request)
    if isinstance(who, NoSession):
        return who.to_signin()
    svc = services(request)
    now = svc.clock.now()
    alive = await svc.sessions.alive_sessions(who.claims.sub)
    alive.sort(key=lambda s: (s.sid != who.claims.sid, -s.last_active_at))
    others = sum(1 for s in alive if s.sid != who.claims.sid)
    said = done_message(request.query_params.get("done", "")[:16], _count(request))
    others_block = (
        render(
            """<div class="card-foot">
<div><p class="card-foot-title">Sign out everywhere else</p>
<p class="hint">Ends the {count} other session{s} listed above. This device stays signed in.</p></div>
<form method="post" action="/account/sessions/others">{csrf}
<button type="submit" class="btn btn-danger">Sign out everywhere else</button></form>
</div>""",
            count=others,
            s="" if others == 1 else "s",
            csrf=csrf_field(who.csrf_token),
        )
        if others
        else Html('<div class="card-foot"><p class="hint">This is the only device signed in to your account.</p></div>')
    )
    devices = f"{len(alive)} device{'' if len(alive) == 1 else 's'}"
    body = render(
        """<div class="page-head">
<h1>Where you're signed in</h1>
<p class="lead">Your account is signed in on <strong>{devices}</strong>. If you don't recognise one, sign it out,
then <a href="/account/password">change your password</a>.</p>
</div>
{flash}
<section class="card card-flush" aria-labelledby="sessions-title">
<h2 id="sessions-title" class="visually-hidden">Sessions</h2>
<ul class="sessions">
{items}
</ul>
{others}
</section>""",
        devices=devices,
        flash=notice("success", said) if said else EMPTY,
        items=join(_session_item(s, s.sid == who.claims.sid, who.csrf_token, now) for s in alive),
        others=others_block,
    )
    policy = svc.sessions.cookie_policy(who.session)
    footer = (
        f"Sessions end after {duration_words(policy.idle_timeout)} without activity and after "
        f"{duration_words(policy.absolute_timeout)} at most. Times are in UTC."
    )
    response = page("Where you're signed in", body, viewer=await viewer_of(request, who), current=HOME, footer=footer)
    return who.finish(request, response)


def _signed_out() -> Response:
    response = RedirectResponse(f"{SIGNIN}?ended=signedout", status_code=303)
    expire_session_cookies(response, clear_site_data=True)
    return response


async def end_session(request: Request) -> Response:
    acting = await _acting(request)
    if isinstance(acting, Response):
        return acting
    who, form = acting
    sid = form.get("session_id", 128)
    try:
        await services(request).sessions.end_own(who.claims.sub, who.claims.sid, sid, "revoked")
    except NotFound:
        return who.finish(request, RedirectResponse(f"{HOME}?done=gone", status_code=303))
    if sid == who.claims.sid:
        return _signed_out()
    return who.finish(request, RedirectResponse(f"{HOME}?done=ended", status_code=303))


async def end_others(request: Request) -> Response:
    acting = await _acting(request)
    if isinstance(acting, Response):
        return acting
    who, _form = acting
    ended = await services(request).sessions.end_scope(who.claims.sub, who.claims.sid, "others")
    return who.finish(request, RedirectResponse(f"{HOME}?done=others&n={len(ended)}", status_code=303))
