"""What the pages tell people: why a session ended, and what an action just did.

Only short codes travel in URLs (`/account/signin?ended=idle`); the words are here. An unknown code shows
nothing, so a crafted link cannot put text on the page.
"""

from __future__ import annotations

from typing import Final

# A session's end_reason (core/session.py EndReason) -> the code in the sign-in URL.
END_REASON_CODES: Final = {
    "idle_expired": "idle",
    "absolute_expired": "timeout",
    "revoked": "elsewhere",
    "signed_out_elsewhere": "elsewhere",
    "password_changed": "password",
    "evicted": "limit",
    "admin_revoked": "admin",
    "refresh_reuse": "security",
    "logout": "signedout",
}


def duration_words(seconds: float) -> str:
    """ "30 minutes", "12 hours", "1 day", "45 seconds": the largest unit that divides evenly, else rounded."""
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "minute")):
        if seconds >= size and seconds % size == 0:
            count = int(seconds // size)
            return f"{count} {unit}{'' if count == 1 else 's'}"
    if seconds >= 120:
        return f"{round(seconds / 60)} minutes"
    count = max(1, round(seconds))
    return f"{count} second{'' if count == 1 else 's'}"


def ended_message(code: str, idle_timeout: float, absolute_timeout: float) -> tuple[str, str] | None:
    """(title, text) for the sign-in page, or None for an unknown code."""
    messages = {
        "idle": (
            "You were signed out",
            f"Your session ended after {duration_words(idle_timeout)} without activity. Sign in again to continue.",
        ),
        "timeout": (
            "Your session has expired",
            f"Sessions last at most {duration_words(absolute_timeout)}. Sign in again to continue.",
        ),
        "elsewhere": (
            "This device was signed out",
            "Your session was ended from another device. If that wasn't you, change your password after you sign in.",
        ),
        "password": (
            "Your password was changed",
            "Because the password of this account was changed, this device was signed out. Sign in with the new "
            "password.",
        ),
        "limit": (
            "Signed out: too many devices",
            "This session was ended because your account was signed in on more devices than it allows.",
        ),
        "admin": ("Signed out by an administrator", "An administrator ended this session."),
        "security": (
            "Signed out to protect your account",
            "This session's credentials were used from two places at once, so it was ended. Sign in again, and "
            "consider changing your password.",
        ),
        "signedout": ("You're signed out", "You signed out of this device."),
        "expired": ("Your session has ended", "Please sign in again to continue."),
    }
    return messages.get(code)


def done_message(code: str, count: int) -> str | None:
    """The confirmation on "Where you're signed in" after an action."""
    others = f"{count} other session{'' if count == 1 else 's'}"
    messages = {
        "ended": "That session was signed out. The device it was on has to sign in again.",
        "gone": "That session had already ended.",
        "others": f"You signed out everywhere else: {others} ended. This device is still signed in."
        if count
        else "There were no other sessions to sign out.",
        "password": f"Your password was changed. For your security, {others} {'was' if count == 1 else 'were'} "
        "signed out; this device is still signed in."
        if count
        else "Your password was changed. This device is still signed in.",
        "welcome": "You're signed in.",
    }
    return messages.get(code)


def security_message(code: str, step_up_max_age: float) -> tuple[str, str] | None:
    """(kind, text) of the confirmation on the security page after an action, or None for an unknown code."""
    others = " Any other devices signed in to your account were signed out."
    messages = {
        "confirmed": ("success", f"Confirmed. You can change how you sign in for {duration_words(step_up_max_age)}."),
        "totp_on": (
            "success",
            "Your authenticator app is set up: you'll be asked for a code when you sign in." + others,
        ),
        "totp_removed": ("success", "The authenticator app was removed from your account." + others),
        "totp_restart": ("warning", "That setup had expired or was replaced by another one. Start again."),
        "key_added": ("success", "Your security key was added: you can use it when you sign in." + others),
        "key_removed": ("success", "The security key was removed from your account." + others),
        "codes_new": ("success", "You have new recovery codes. The old ones no longer work." + others),
        "no_factor": ("warning", "Recovery codes come with a second factor: set up an app or a key first."),
        "gone": ("warning", "That was removed already."),
    }
    return messages.get(code)
