"""Secrets from the environment: checked when read, and never echoed in an error.

A token is sent in an HTTP header, so a stray character (the ``\\r`` a CRLF ``.env`` file leaves)
makes the HTTP library fail with a message that quotes the whole header, token included; that
message would reach the state file, Dagster's run history and its compute logs. Two defences:
:func:`read_secret` refuses such a value with an error that says what is wrong and where, never
what the value is; and :func:`scrub` blanks every secret (as written, trimmed, or escaped as in
``repr``) out of any text about to be printed or stored.

Example::

    >>> import os
    >>> os.environ["HUBSPOT_ACCESS_TOKEN"] = "pat-na1-abc\\r"
    >>> read_secret("HUBSPOT_ACCESS_TOKEN")
    Traceback (most recent call last):
    ...
    syncs.errors.SyncConfigError: HUBSPOT_ACCESS_TOKEN has a carriage return (\\r) at character 12 of 12: ...
    >>> scrub("Invalid header value b'Bearer pat-na1-abc\\\\r'")
    "Invalid header value b'Bearer [HUBSPOT_ACCESS_TOKEN]'"
    >>> del os.environ["HUBSPOT_ACCESS_TOKEN"]
"""

from __future__ import annotations

import os

from syncs.errors import SyncConfigError

#: Environment variables whose values are secrets, wherever Recur reads them.
SECRET_ENV = (
    "HUBSPOT_ACCESS_TOKEN",
    "BRAZE_API_KEY",
    "MIXPANEL_SERVICE_ACCOUNT_SECRET",
    "MIXPANEL_API_SECRET",
    "AMPLITUDE_API_KEY",
    "AMPLITUDE_SECRET_KEY",
    "RECUR_ALERT_WEBHOOK_URL",
)

_NAMED = {"\r": "a carriage return (\\r)", "\n": "a line feed (\\n)", "\t": "a tab", " ": "a space"}


def read_secret(name: str) -> str | None:
    """The value of ``name``, or None when unset or empty; a value with any character that is
    not printable ASCII (spaces, ``\\r``, quotes are fine inside a URL but never in a token)
    raises :class:`SyncConfigError` naming the variable, the character and its position."""
    value = os.environ.get(name)
    if not value:
        return None
    for position, char in enumerate(value, start=1):
        if not ("!" <= char <= "~"):
            what = _NAMED.get(char, f"the character U+{ord(char):04X}")
            raise SyncConfigError(
                f"{name} has {what} at character {position} of {len(value)}: a token is "
                "printable ASCII only (a .env file with Windows line endings leaves a \\r at "
                f"the end). Set {name} again without it"
            )
    return value


def scrub(text: str) -> str:
    """``text`` with every secret of :data:`SECRET_ENV` set in the environment replaced by its
    variable's name in brackets: as written, trimmed, and escaped as ``repr`` shows it."""
    for name in SECRET_ENV:
        value = os.environ.get(name) or ""
        forms = {value, value.strip(), repr(value)[1:-1], repr(value.strip())[1:-1]}
        for form in sorted((f for f in forms if len(f) >= 4), key=len, reverse=True):
            text = text.replace(form, f"[{name}]")
    return text
