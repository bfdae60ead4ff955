"""Suites on each synced audience (not empty, no sudden jump in size) and on each sync that sends
emails (few enough invalid addresses).

The audiences are the ones with sync declarations in the dbt manifest (``meta.recur.syncs``).
An audience may tune its size rule next to its syncs, for audiences that swing by design (a
24-hour cart window)::

    config:
      meta:
        recur:
          quality: {max_size_change: 3.0, min_previous_size: 50}   # or max_size_change: null
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from checks.errors import CheckError
from checks.suite import Reader, Sources, Suite, between, plain
from checks.thresholds import Thresholds
from syncs.emails import (
    EmailColumn,
    email_columns,
    email_key_sql,
    sql_literal,
    valid_email_sql,
)
from syncs.spec import SyncSpec, specs_from_manifest

#: The per-sync check's name (a check on ``syncs/<name>``, run by the sync's own step).
SYNC_EMAILS_CHECK = "emails_valid"

#: Sync runs whose audience_rows count as "delivered" (dry runs and skipped or failed runs never do).
DELIVERED_STATUSES = ("success", "partial", "unchanged")


@dataclass(frozen=True)
class Audience:
    """A synced audience: its table, the match keys its syncs use, and its size-rule overrides
    (None: the :class:`Thresholds` default; ``max_size_change`` False: no size rule)."""

    schema: str
    name: str
    match_keys: tuple[str, ...]
    max_size_change: float | bool | None = None
    min_previous_size: int | None = None

    @property
    def relation(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def asset(self) -> tuple[str, str]:
        return (self.schema, self.name)


def audiences_from_manifest(manifest: Mapping[str, Any]) -> list[Audience]:
    """Every audience with at least one sync declared, in name order."""
    keys: dict[tuple[str, str], list[str]] = {}
    for spec in specs_from_manifest(manifest):
        keys.setdefault((spec.schema, spec.audience), [])
        if spec.match_key not in keys[(spec.schema, spec.audience)]:
            keys[(spec.schema, spec.audience)].append(spec.match_key)
    overrides = {}
    for node in manifest.get("nodes", {}).values():
        if node.get("resource_type") != "model":
            continue
        meta = (node.get("config") or {}).get("meta") or node.get("meta") or {}
        quality = (meta.get("recur") or {}).get("quality")
        if quality is not None:
            overrides[(node.get("schema"), node["name"])] = _overrides(node["name"], quality)
    return [
        Audience(schema, name, tuple(match_keys), **overrides.get((schema, name), {}))
        for (schema, name), match_keys in sorted(keys.items(), key=lambda kv: kv[0][1])
    ]


def _overrides(model: str, quality: Any) -> dict[str, Any]:
    where = f"model {model}, meta.recur.quality"
    if not isinstance(quality, Mapping):
        raise CheckError(f"{where}: must be a mapping, e.g. {{max_size_change: 1.0}}")
    unknown = set(quality) - {"max_size_change", "min_previous_size"}
    if unknown:
        raise CheckError(
            f"{where}: unknown keys {sorted(unknown)}; allowed: max_size_change, min_previous_size"
        )
    out: dict[str, Any] = {}
    if "max_size_change" in quality:
        value = quality["max_size_change"]
        if value in (None, False):
            out["max_size_change"] = False
        elif isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            out["max_size_change"] = float(value)
        else:
            raise CheckError(f"{where}: max_size_change must be a share > 0 (1.0 = 100%) or null")
    if "min_previous_size" in quality:
        value = quality["min_previous_size"]
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise CheckError(f"{where}: min_previous_size must be a whole number >= 0")
        out["min_previous_size"] = value
    return out


def not_empty_suite(audience: Audience, t: Thresholds) -> Suite:
    """The audience has members (warning: an empty audience can be right, e.g. nobody to win
    back yet; with a list sync it empties the list)."""
    return Suite(
        name="audience_not_empty",
        asset=audience.asset,
        severity="warning",
        description=f"{audience.relation} has at least one member.",
        query=f"select count(*) as members from {audience.relation}",
        expectations=lambda frame: [between("members", "the audience has members", min_value=1)],
    )


def sync_emails_suite(spec: SyncSpec, t: Thresholds) -> Suite | None:
    """The email addresses ``spec`` sends are valid for all but ``max_invalid_email_share`` of
    the audience's members (blocking that sync only). None when the sync sends no email (a file
    keyed by ``user_id``): then no email rule applies to it.

    The addresses are read as the sync sends them (an email match key trimmed and lower-cased,
    other email fields as they are) and judged by :func:`syncs.emails.is_valid_email`, the rule
    the engine applies in SQL; a member without an email match key counts as invalid. Below the
    share the sync runs and holds the invalid rows back with their reason; above it, a join or an
    import has likely gone wrong, and nothing is sent. The frame is one summary row: members,
    invalid, invalid_share, the threshold and the first ``t.examples`` invalid members.
    """
    columns = email_columns(spec)
    if not columns:
        return None
    max_share = t.max_invalid_email_share

    def read(sources: Sources) -> pd.DataFrame:
        with sources.queries() as query:
            return summarize(query)

    def summarize(query: Reader) -> pd.DataFrame:
        present = set(query(f"describe {spec.relation}")["column_name"])
        missing = [c.column for c in columns if c.column not in present]
        if missing:
            raise CheckError(
                f"{spec.name}: {spec.relation} has no column(s) {', '.join(missing)} "
                "(named in the sync's match_key/fields)"
            )
        keys = {c.column for c in columns if c.is_key}
        ids = [c for c in dict.fromkeys(("user_id", spec.match_key)) if c in present - keys]
        values = [
            f"{email_key_sql(_q(c.column)) if c.is_key else f'cast({_q(c.column)} as varchar)'}"
            f" as {_q(_label(c))}"
            for c in columns
        ]
        # Each member's first problem, judged in SQL by the engine's own rule (valid_email_sql)
        problems = []
        for c in columns:
            value = _q(_label(c))
            if c.is_key:
                problems.append(f"when {value} is null then {sql_literal('no ' + c.column)}")
            problems.append(
                f"when coalesce({value}, '') <> '' and not {valid_email_sql(value)} "
                f"then {sql_literal(_label(c) + ' is not a valid address')}"
            )
        rows = (
            f"select *, case {' '.join(problems)} end as problem from ("
            f"select {', '.join([*(_q(c) for c in ids), *values])} from {spec.relation})"
        )
        # Counted in DuckDB; only the examples are read (an audience can have millions).
        counts = query(f"select count(*), count(problem) from ({rows})")
        invalid = query(
            f"select * from ({rows}) where problem is not null order by "
            f"{', '.join(str(i + 1) for i in range(len(ids) + len(values)))} "
            f"limit {int(t.examples)}"
        )
        total, count = (int(n) for n in counts.iloc[0])
        return email_summary(spec, total, count, invalid, max_share)

    def expectations(frame: pd.DataFrame):
        members = int(frame["members"].iloc[0]) if len(frame) else 0
        if members < t.min_members_for_email_share:
            return [
                between(
                    "invalid_share",
                    f"fewer than {t.min_members_for_email_share} members: invalid addresses are "
                    "held back, the share does not block",
                    0.0,
                    1.0,
                )
            ]
        return [
            between(
                "invalid_share",
                f"at most {max_share:.1%} of the members have an invalid email address",
                0.0,
                max_share,
            )
        ]

    sent = ", ".join(_label(c) for c in columns)
    return Suite(
        name=SYNC_EMAILS_CHECK,
        asset=("syncs", spec.name),
        severity="blocking",
        description=(
            f"At most {max_share:.1%} of {spec.relation}'s members have an invalid or missing "
            f"address in what {spec.name} sends ({sent}; syncs/emails.py, the rule the engine "
            "applies); the others sync and the invalid ones are held back with their reason."
        ),
        query=read,
        expectations=expectations,
        params={
            "max_invalid_email_share": max_share,
            "min_members_for_email_share": t.min_members_for_email_share,
        },
    )


def _q(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def _label(column: EmailColumn) -> str:
    return column.column if column.is_key else f"{column.field} <- {column.column}"


def email_summary(
    spec: SyncSpec, members: int, invalid: int, examples: pd.DataFrame, max_share: float
) -> pd.DataFrame:
    """One row: how many of the audience's ``members`` have an address the sync would hold back
    (``invalid``), their share, and ``examples`` of them (a column per email the sync sends,
    named by :func:`_label`, and the ``problem`` that makes the sync hold the member back)."""
    return pd.DataFrame(
        {
            "sync": [spec.name],
            "members": [members],
            "invalid": [invalid],
            "invalid_share": [invalid / members if members else 0.0],
            "max_invalid_share": [max_share],
            "examples": [plain(examples.to_dict("records"))],
        }
    ).astype({"invalid_share": "float64"})


def sync_suites(specs: Sequence[SyncSpec], t: Thresholds) -> list[Suite]:
    """The per-sync suites (today: the email rule, for the syncs that send emails)."""
    return [s for spec in specs if (s := sync_emails_suite(spec, t)) is not None]


def size_change_suite(audience: Audience, t: Thresholds) -> Suite:
    """The audience's size is within ``max_audience_change`` of its size at the last delivered
    sync of any of its syncs (blocking: a join gone wrong empties a list or floods a CRM).
    No history, or a previous size under ``min_previous_audience``: nothing to compare."""
    max_change = audience.max_size_change
    if max_change is None:
        max_change = t.max_audience_change
    min_previous = (
        audience.min_previous_size
        if audience.min_previous_size is not None
        else t.min_previous_audience
    )

    def read(sources: Sources) -> pd.DataFrame:
        members = int(sources.query(f"select count(*) from {audience.relation}").iloc[0, 0])
        last = sources.state_query(
            f"""select sync, audience_rows, finished_at from runs
                where audience = ? and not dry_run
                  and status in ({", ".join(f"'{s}'" for s in DELIVERED_STATUSES)})
                  and audience_rows is not null
                order by started_at desc, run_id desc limit 1""",
            [audience.name],
        )
        previous = None if last is None or last.empty else last.iloc[0]
        before = None if previous is None else int(previous["audience_rows"])
        compared = before is not None and before >= min_previous and max_change is not False
        return pd.DataFrame(
            {
                "audience": [audience.relation],
                "members": [members],
                "last_delivered_members": [before],
                "last_delivered_by": [None if previous is None else previous["sync"]],
                "last_delivered_at": [None if previous is None else previous["finished_at"]],
                "change": [members / before - 1 if compared else float("nan")],
            }
        ).astype({"change": "float64"})

    def expectations(frame: pd.DataFrame):
        if max_change is False:
            return []
        return [
            between(
                "change",
                f"the size changed by at most {max_change:.0%} since the last delivered sync",
                -max_change,
                max_change,
            )
        ]

    rule = (
        "no size rule (meta.recur.quality.max_size_change: null)"
        if max_change is False
        else f"within ±{max_change:.0%} of its size at the last delivered sync (when that was at "
        f"least {min_previous})"
    )
    return Suite(
        name="audience_size_stable",
        asset=audience.asset,
        severity="blocking",
        description=f"{audience.relation}'s size is {rule}.",
        query=read,
        expectations=expectations,
        params={"max_size_change": max_change, "min_previous_size": min_previous},
    )


def audience_suites(audience: Audience, t: Thresholds) -> list[Suite]:
    """The suites on the audience table. Email validity is judged per sync (sync_emails_suite):
    only the syncs that send emails depend on it."""
    return [not_empty_suite(audience, t), size_change_suite(audience, t)]


def suites_for(audiences: Sequence[Audience], t: Thresholds) -> list[Suite]:
    return [s for a in audiences for s in audience_suites(a, t)]
