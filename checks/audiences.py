"""Suites on each synced audience: not empty, valid emails, no sudden jump in size.

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
from checks.suite import Sources, Suite, between, matches, not_null
from checks.thresholds import Thresholds
from syncs.audience import EMAIL_PATTERN
from syncs.spec import specs_from_manifest

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


def emails_suite(audience: Audience, t: Thresholds) -> Suite:
    """Every member has each match key its syncs use, and every email column holds valid
    addresses (blocking: HubSpot refuses a whole batch for one bad address)."""

    def read(sources: Sources) -> pd.DataFrame:
        columns = sources.query(f"describe {audience.relation}")["column_name"].tolist()
        emails = [c for c in columns if "email" in c.lower()]
        ids = [c for c in ("user_id", *audience.match_keys) if c in columns and c not in emails]
        select = [f'"{c}"' for c in dict.fromkeys(ids)] + [
            f'nullif(trim(cast("{c}" as varchar)), \'\') as "{c}"' for c in emails
        ]
        return sources.query(
            f"select {', '.join(select) or 'null as _none'} from {audience.relation} order by 1"
        )

    def expectations(frame: pd.DataFrame):
        expects = [
            not_null(key, f"every member has a value in {key} (a sync's match key)")
            for key in audience.match_keys
            if key in frame.columns
        ]
        expects += [
            matches(column, EMAIL_PATTERN, f"{column} is a valid email address")
            for column in frame.columns
            if "email" in column.lower()
        ]
        return expects

    return Suite(
        name="audience_emails_valid",
        asset=audience.asset,
        severity="blocking",
        description=(
            f"Every member of {audience.relation} has its match key(s) "
            f"({', '.join(audience.match_keys)}) and only valid email addresses "
            "(syncs.audience.EMAIL_PATTERN, the rule the syncs apply)."
        ),
        query=read,
        expectations=expectations,
    )


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
    return [not_empty_suite(audience, t), emails_suite(audience, t), size_change_suite(audience, t)]


def suites_for(audiences: Sequence[Audience], t: Thresholds) -> list[Suite]:
    return [s for a in audiences for s in audience_suites(a, t)]
