"""One rule for a valid email address (syncs/emails.py): the Python form (the quality check) and the
SQL form (the sync engine) give the same answer on one table of tricky cases, and the engine holds
back exactly the rows the rule refuses."""

from __future__ import annotations

from collections import Counter

import duckdb
import pandas as pd
import pytest

from syncs.audience import read_audience
from syncs.emails import (
    INVALID_EMAIL_REASON,
    EmailColumn,
    email_columns,
    email_key,
    email_key_sql,
    is_valid_email,
    valid_email_sql,
)
from syncs.spec import SyncSpec

LONG_LOCAL = "a" * 64
DOMAIN_250 = ".".join(["d" * 60] * 4) + ".com"  # 4 * 61 + 3 = 247 characters

#: (address as sent, valid?, why)
CASES = [
    ("ada@example.com", True, "plain"),
    ("Ada.Lovelace@Example.COM", True, "uppercase: valid as written"),
    ("ada+crm@example.com", True, "plus-addressing"),
    ("o'brien@example.ie", True, "apostrophe is atext"),
    ("a_b-c!#$%&*/=?^`{|}~@example.com", True, "every special atext character"),
    ("ada@mail.example.co.uk", True, "subdomains"),
    ("ada@exämple.com", True, "IDN domain (HubSpot accepts unicode domains)"),
    ("ada@почта.рф", True, "unicode domain and TLD"),
    ("ada@email.삼성", True, "unicode TLD (HubSpot's own example)"),
    ("ada@example.xn--p1ai", True, "punycode TLD"),
    ("ada@xn--exmple-cua.com", True, "punycode domain"),
    ("ada@123.example.com", True, "numeric label"),
    ("ada@my-shop.example", True, "inner hyphen"),
    (f"{LONG_LOCAL}@example.com", True, "local part of 64"),
    ("üñîçødé@exämple.com", False, "unicode local part (RFC 2822 is ASCII)"),
    ("ada@example.com\n", False, "trailing newline (re.match with $ accepted it)"),
    ("ada@example.com\r\n", False, "trailing CRLF"),
    (" ada@example.com", False, "leading space"),
    ("ada@example.com ", False, "trailing space"),
    ("ada @example.com", False, "inner space"),
    ("ada@localhost", False, "no TLD"),
    ("ada@example", False, "no dot in the domain"),
    ("ada@example.c", False, "one-letter TLD"),
    ("ada@example.123", False, "numeric TLD"),
    ("ada..lovelace@example.com", False, "double dot in the local part"),
    (".ada@example.com", False, "leading dot"),
    ("ada.@example.com", False, "trailing dot in the local part"),
    ("ada@example..com", False, "double dot in the domain"),
    ("ada@.example.com", False, "domain starts with a dot"),
    ("ada@example.com.", False, "domain ends with a dot"),
    ("ada@-example.com", False, "label starts with a hyphen"),
    ("ada@example-.com", False, "label ends with a hyphen"),
    ('"ada lovelace"@example.com', False, "quoted local part (HubSpot refuses)"),
    ("ada@@example.com", False, "two @"),
    ("ada@exa@mple.com", False, "@ in the domain"),
    ("ada.example.com", False, "no @"),
    ("@example.com", False, "empty local part"),
    ("ada@", False, "empty domain"),
    ("", False, "empty"),
    ("jo.broken-at-example.com", False, "the quality gate's planted address"),
    ("ada@exa_mple.com", False, "underscore in the domain"),
    ("ada@example.com\u3002", False, "ideographic full stop"),
    ("ada@example\uff0ecom", False, "fullwidth dot"),
    ("ada@exam\u00a0ple.com", False, "no-break space"),
    ("ada@exam\u2028ple.com", False, "line separator"),
    (f"a{LONG_LOCAL}@example.com", False, "local part of 65"),
    ("ada@" + "d" * 64 + ".com", False, "label of 64"),
    ("ada@" + "d" * 63 + ".com", True, "label of 63"),
    ("a" * 6 + "@" + DOMAIN_250, True, "254 bytes"),
    ("a" * 7 + "@" + DOMAIN_250, False, "255 bytes"),
    ("a" * 6 + "@ö" + DOMAIN_250[1:], False, "254 characters but 255 bytes"),
    ("a" * 5 + "@ö" + DOMAIN_250[1:], True, "253 characters, 254 bytes"),
]


def test_the_table_is_what_it_says():
    assert len("a" * 6 + "@" + DOMAIN_250) == 254
    assert len("a" * 6 + "@ö" + DOMAIN_250[1:]) == 254
    assert len(("a" * 6 + "@ö" + DOMAIN_250[1:]).encode()) == 255


@pytest.mark.parametrize(("address", "valid", "why"), CASES, ids=[c[2] for c in CASES])
def test_python_form(address, valid, why):
    assert is_valid_email(address) is valid, why


def test_python_and_sql_agree_on_every_case():
    con = duckdb.connect()
    con.execute("create table t (i integer, address varchar)")
    con.executemany("insert into t values (?, ?)", list(enumerate(a for a, _, _ in CASES)))
    sql = dict(con.execute(f"select i, {valid_email_sql('address')} from t").fetchall())
    python = {i: is_valid_email(a) for i, (a, _, _) in enumerate(CASES)}
    assert {CASES[i][2]: v for i, v in sql.items()} == {CASES[i][2]: v for i, v in python.items()}
    assert con.execute(f"select {valid_email_sql('null::varchar')}").fetchall() == [(False,)]
    assert not is_valid_email(None)


@pytest.mark.parametrize(
    "raw", [" Ada@Example.COM ", "ada@example.com\n", "   ", "", "\u212aelvin@example.com", None]
)
def test_email_keys_are_normalized_alike(raw):
    con = duckdb.connect()
    (sql,) = con.execute(f"select {email_key_sql('$1::varchar')}", [raw]).fetchone()
    assert sql == email_key(raw)


def test_which_columns_a_sync_sends_as_emails():
    hubspot = SyncSpec("aud", "hubspot", "email", (("firstname", "first_name"),))
    assert email_columns(hubspot) == (EmailColumn("email"),)
    by_id = SyncSpec("aud", "file", "user_id", (("user_id", "user_id"), ("tier", "tier")))
    assert email_columns(by_id) == ()
    with_email = SyncSpec(
        "aud", "file", "user_id", (("contact", "work_email"), ("hs_email_optout", "opt_out"))
    )
    assert email_columns(with_email) == (EmailColumn("work_email", "contact"),)


def test_the_engine_holds_back_exactly_what_the_rule_refuses():
    con = duckdb.connect()
    con.execute("create schema audiences")
    con.execute("create table audiences.aud_x (user_id varchar, email varchar, alt_email varchar)")
    rows = [(f"u{i}", address, None) for i, (address, _, _) in enumerate(CASES) if address]
    con.executemany("insert into audiences.aud_x values (?, ?, ?)", rows)
    spec = SyncSpec("aud_x", "file", "user_id", (("user_id", "user_id"), ("email", "email")))
    frame = read_audience(con, spec).frame.set_index("key")
    for user_id, address, _ in rows:
        reason = frame.loc[user_id, "invalid_reason"]
        assert pd.isna(reason) is is_valid_email(address), (address, reason)
        if not pd.isna(reason):
            assert reason == INVALID_EMAIL_REASON
    # an email key is judged as sent: trimmed and lower-cased
    by_email = SyncSpec("aud_x", "hubspot", "email", ())
    keyed = read_audience(con, by_email).frame
    counts = Counter(email_key(a) for _, a, _ in rows)
    assert counts["ada@example.com"] == 3  # " ada@", "ada@ " and "ada@" are one contact
    once = {key for key, n in counts.items() if n == 1}
    assert set(keyed.loc[keyed["invalid_reason"].isna(), "key"]) == {
        key for key in once if is_valid_email(key)
    }
    assert set(keyed.loc[keyed["invalid_reason"] == INVALID_EMAIL_REASON, "key"]) == {
        key for key in once if key and not is_valid_email(key)
    }


def test_a_sync_without_emails_sends_every_row():
    con = duckdb.connect()
    con.execute("create schema audiences")
    con.execute(
        "create table audiences.aud_x as select * from (values ('u1', 'üñîçødé@exämple.com'), "
        "('u2', 'ada@example.com\n')) t(user_id, email)"
    )
    spec = SyncSpec("aud_x", "file", "user_id", (("user_id", "user_id"),))
    assert read_audience(con, spec).frame["invalid_reason"].isna().all()
