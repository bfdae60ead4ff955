"""What a valid email address is: one rule, as Python and as DuckDB SQL, for the checks and the syncs.

The rule follows what HubSpot documents for the contact ``email`` property (docs/syncs.md,
"Email addresses"): RFC 2822 syntax without quoted local parts, and a domain that ends in a
top-level domain, where internationalized (unicode) domains are allowed. Concretely, an address is
valid when, exactly as sent (nothing trimmed, no surrounding whitespace or newline):

- the local part is a dot-atom of ASCII letters, digits and ``!#$%&'*+/=?^_`{|}~-`` (no leading,
  trailing or doubled dot, no quotes, no unicode), at most 64 characters;
- one ``@``;
- the domain has at least two labels separated by single dots; a label is letters, digits and
  inner hyphens, where letters may be unicode (IDN), at most 63 characters;
- the last label (the TLD) is 2-63 ASCII letters, a punycode label (``xn--...``) or unicode
  letters (``рф``, ``삼성``);
- the whole address is at most 254 bytes in UTF-8 (RFC 5321's path limit).

Whether the TLD really exists (IANA's list, which HubSpot also checks) is left to the destination:
such rows come back refused, one by one after the batch is split, and are recorded as rejections.

:func:`is_valid_email` (Python) and :func:`valid_email_sql` (DuckDB) give the same answer on every
string: the pattern avoids every construct where Python's ``re`` and RE2 differ (``$``, ``\\w``,
``\\d``, ``\\s``, ``.``, flags) and is matched whole in both (``re.fullmatch``,
``regexp_full_match``); tests/unit/test_emails.py runs both over one table of tricky cases.

Email match keys are compared as destinations compare them: spaces trimmed, lower-cased
(:func:`email_key`, :func:`email_key_sql`), and validated after that; other email fields are
validated as sent.

>>> is_valid_email("Ada.Lovelace+crm@Example.co.uk")
True
>>> [is_valid_email(v) for v in ("ada@example.com\\n", "üñîçødé@exämple.com", "ada@exämple.com")]
[False, False, True]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from syncs.spec import SyncSpec

MAX_ADDRESS_BYTES = 254
MAX_LOCAL_PART = 64

_ATEXT = "A-Za-z0-9!#$%&'*+/=?^_`{|}~-"
# Non-ASCII letters of internationalized domains: everything from U+00A1 up, less the general
# punctuation and separators (U+2000-U+206F), the CJK punctuation (U+3000-U+303F, the ideographic
# full stop among them), surrogates, the byte-order mark and the fullwidth/halfwidth forms and
# specials (U+FF00-U+FFFF, which hold fullwidth dots). Literal characters, not escapes, so that the
# class reads the same to Python's re and to RE2.
_UNICODE = "\u00a1-\u1fff\u2070-\u2fff\u3040-\ud7ff\ue000-\ufefe\U00010000-\U0010ffff"
_LABEL_CHAR = f"A-Za-z0-9{_UNICODE}"
_LABEL = f"[{_LABEL_CHAR}]([{_LABEL_CHAR}-]{{0,61}}[{_LABEL_CHAR}])?"
_TLD = f"([A-Za-z]{{2,63}}|[Xx][Nn]--[A-Za-z0-9-]{{0,58}}[A-Za-z0-9]|[{_UNICODE}]{{1,63}})"

#: Matched against the whole value (``re.fullmatch`` / ``regexp_full_match``), never with ``$``.
EMAIL_PATTERN = f"[{_ATEXT}]+([.][{_ATEXT}]+)*@({_LABEL}[.])+{_TLD}"
_EMAIL = re.compile(EMAIL_PATTERN)

#: The reason the sync engine records for a row held back by this rule.
INVALID_EMAIL_REASON = "invalid email address"


def is_valid_email(value: object) -> bool:
    """True when ``value`` is a string that is a valid address as it stands (module docstring)."""
    if not isinstance(value, str) or _EMAIL.fullmatch(value) is None:
        return False
    return len(value.encode("utf-8")) <= MAX_ADDRESS_BYTES and value.index("@") <= MAX_LOCAL_PART


def sql_literal(text: str) -> str:
    """``text`` as a SQL string literal (quotes doubled)."""
    return "'" + text.replace("'", "''") + "'"


def valid_email_sql(expr: str) -> str:
    """A DuckDB boolean expression, never NULL: ``expr`` (a VARCHAR) is a valid address.

    >>> import duckdb
    >>> duckdb.connect().execute(f"select {valid_email_sql('$1')}", ["ada@example.com"]).fetchall()
    [(True,)]
    """
    return (
        f"coalesce(regexp_full_match({expr}, {sql_literal(EMAIL_PATTERN)})"
        f" and strlen({expr}) <= {MAX_ADDRESS_BYTES}"
        f" and strpos({expr}, '@') <= {MAX_LOCAL_PART + 1}, false)"
    )


def email_key(value: str | None) -> str | None:
    """An email match key as the syncs send and compare it: spaces trimmed, lower-cased; None when
    empty."""
    if value is None:
        return None
    key = str(value).strip(" ").lower()
    return key or None


def email_key_sql(expr: str) -> str:
    """:func:`email_key` in DuckDB (``trim`` removes spaces only, as ``str.strip(" ")`` does)."""
    return f"nullif(lower(trim(cast({expr} as varchar))), '')"


def is_email_name(name: str) -> bool:
    """Whether a column or destination field called ``name`` holds email addresses: ``email``,
    ``email_address`` or a name ending in ``_email`` / ``_email_address`` (``work_email``), not any
    name that merely contains "email" (``hs_email_optout`` is a flag)."""
    n = name.strip().lower()
    return n in ("email", "email_address") or n.endswith(("_email", "_email_address"))


@dataclass(frozen=True)
class EmailColumn:
    """An audience column a sync sends as an email address: its match key (``field`` None) or a
    mapped field."""

    column: str
    field: str | None = None

    @property
    def is_key(self) -> bool:
        return self.field is None


def email_columns(spec: SyncSpec) -> tuple[EmailColumn, ...]:
    """The email addresses ``spec`` sends: its match key when that is an email, then each mapped
    field whose destination name or audience column is one. Empty: the sync sends no email, and
    no email rule applies to it (a file keyed by ``user_id`` without an email column)."""
    out = [EmailColumn(spec.match_key)] if is_email_name(spec.match_key) else []
    out += [
        EmailColumn(column, name)
        for name, column in spec.fields
        if is_email_name(name) or is_email_name(column)
    ]
    return tuple(out)
