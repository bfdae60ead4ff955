"""Plan a sync: compare the audience with what the destination confirmed last time.

Pure planning, no sending (:mod:`syncs.engine` does that). Per key:

* **add**: not delivered before, or delivered and since left the audience;
* **change**: a member whose mapped values (fingerprint) differ from the last confirmed ones -
  rows the destination refused last time never got confirmed, so they come back here;
* **remove**: a member who is no longer in the audience (rows held back as invalid are still in
  it: a bad email is not a reason to remove someone);
* plus list work: members not yet confirmed in the static list;
* **held out**: members whose person falls in the sync's holdout are never sent; those not yet
  recorded are recorded as held-out members (with their entry), and when they leave, their exit.
  A member keeps the group they entered with while they stay (a changed share or salt applies to
  people who enter afterwards): a person is never moved between groups mid-stay.
* **capped**: with a frequency cap of N days, people about to enter (in either group, so the
  groups stay comparable) whose person entered a Recur sync and was sent in the last N days are
  deferred: nothing is sent or recorded as membership, and the next run considers them again.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from syncs.audience import Audience
from syncs.state import StateStore, utcnow

SAMPLE_SIZE = 5


@dataclass
class Plan:
    """What a run has to do; frames are empty when there is nothing of that kind."""

    audience_rows: int
    writes: pd.DataFrame  # key, fingerprint, v0.., record_id, operation, needs_list, old_values
    list_only: pd.DataFrame  # key, record_id: in the audience and written, not yet listed
    enters: list[str]  # came back unchanged with nothing to send
    exits: pd.DataFrame  # key, record_id, listed, delete
    invalid: pd.DataFrame  # key, invalid_reason
    unchanged: int
    holdouts: list[str] = field(default_factory=list)  # enter the holdout: recorded, not sent
    held_keys: list[str] = field(default_factory=list)  # every member in the holdout
    capped: pd.DataFrame = field(  # key, reason: entrants deferred by the frequency cap
        default_factory=lambda: pd.DataFrame({"key": [], "reason": []})
    )
    samples: dict[str, Any] = field(default_factory=dict)

    @property
    def added(self) -> int:
        return (
            int((self.writes["operation"] == "add").sum())
            + len(self.enters)
            + int((self.list_only["operation"] == "add").sum())
        )

    @property
    def changed(self) -> int:
        return int((self.writes["operation"] == "change").sum())

    @property
    def removed(self) -> int:
        return len(self.exits)

    @property
    def held_out(self) -> int:
        return len(self.held_keys)

    @property
    def is_empty(self) -> bool:
        """True when nothing needs sending or recording (a re-run with nothing changed)."""
        return (
            self.writes.empty
            and self.list_only.empty
            and not self.enters
            and not self.holdouts
            and self.exits.empty
        )

    def counts(self) -> dict[str, int]:
        return {
            "audience_rows": self.audience_rows,
            "invalid": len(self.invalid),
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "held_out": self.held_out,
            "capped": len(self.capped),
        }


def plan(state: StateStore, audience: Audience, *, mirror: bool, has_list: bool) -> Plan:
    """The plan for ``audience`` against the confirmed state of its sync."""
    spec = audience.spec
    values = ", ".join(f"a.{c}" for c in audience.value_columns)
    with state.registered(audience_rows=audience.frame) as con:
        params = {"sync": spec.name, "has_list": has_list}
        valid = con.execute(
            f"""
            select a.key, a.fingerprint {", " + values if values else ""}, r.record_id,
                   case when r.key is null or not r.member then 'add'
                        when r.fingerprint is distinct from a.fingerprint then 'change'
                        else 'unchanged' end as operation,
                   r.key is null or r.fingerprint is distinct from a.fingerprint as needs_write,
                   $has_list and not coalesce(r.listed, false) as needs_list,
                   coalesce(r.member, false) as was_member,
                   r."values" as old_values,
                   case when r.member then r.held_out else a.held_out end as held_out
            from audience_rows a
            left join records r on r.sync = $sync and r.key = a.key
            where a.invalid_reason is null
            order by a.key
            """,
            params,
        ).df()
        exits = con.execute(
            """
            select r.key, r.record_id, r.listed,
                   $mirror and r.created_by_sync and r.record_id is not null as delete
            from records r
            where r.sync = $sync and r.member
              and r.key not in (select key from audience_rows where key is not null)
            order by r.key
            """,
            {"sync": spec.name, "mirror": mirror},
        ).df()
        capped = (
            _contacted(con, spec.frequency_cap_days, spec.frequency_cap_syncs)
            if spec.frequency_cap_days
            else None
        )
    invalid = audience.frame.loc[
        audience.frame["invalid_reason"].notna(), ["key", "invalid_reason"]
    ]
    if capped is not None:
        capped = capped[capped["key"].isin(valid.loc[~valid["was_member"], "key"])]
        valid = valid[~valid["key"].isin(capped["key"])]
    held = valid[valid["held_out"]]
    valid = valid[~valid["held_out"]].drop(columns=["held_out"])
    writes = valid[valid["needs_write"]].drop(columns=["needs_write"])
    rest = valid[~valid["needs_write"]]
    list_only = rest[rest["needs_list"]][["key", "record_id", "operation"]]
    enters = rest[(~rest["needs_list"]) & (~rest["was_member"])]["key"].tolist()
    unchanged = int(((~rest["needs_list"]) & rest["was_member"]).sum())
    result = Plan(
        audience_rows=len(audience.frame),
        writes=writes.reset_index(drop=True),
        list_only=list_only.reset_index(drop=True),
        enters=enters,
        exits=exits,
        invalid=invalid.reset_index(drop=True),
        unchanged=unchanged,
        holdouts=held.loc[~held["was_member"], "key"].tolist(),
        held_keys=held["key"].tolist(),
    )
    if capped is not None:
        result.capped = capped.reset_index(drop=True)
    result.samples = samples(audience, result)
    return result


def _contacted(con, days: int, syncs: tuple[str, ...] = ()) -> pd.DataFrame:
    """Keys of the registered ``audience_rows`` whose person entered a sync of this state file
    (one of ``syncs``; any when empty) and was sent (not held out) in the last ``days`` days:
    ``key``, ``reason``."""
    return con.execute(
        """
        select a.key,
               'contacted ' || strftime(max(m.event_at), '%Y-%m-%d %H:%M') || ' UTC by '
                   || arg_max(m.sync, m.event_at) || ' (frequency cap: ' || $days || ' days)'
                   as reason
        from (select distinct key, person from audience_rows where key is not null) a
        join people p on p.person = a.person
        join membership_events m on m.sync = p.sync and m.key = p.key
        where m.event = 'entered' and not m.held_out
          and m.event_at >= $now - to_days($days)
          and (len($syncs::varchar[]) = 0 or list_contains($syncs::varchar[], m.sync))
        group by a.key
        order by a.key
        """,
        {"days": days, "now": utcnow(), "syncs": list(syncs)},
    ).df()


def samples(audience: Audience, plan: Plan, size: int = SAMPLE_SIZE) -> dict[str, Any]:
    """A few rows of each kind, with before/after values of changed fields."""
    names = [f.name for f in audience.fields]

    def values(row: pd.Series) -> dict[str, str]:
        return {name: row[f"v{i}"] for i, name in enumerate(names)}

    adds = plan.writes[plan.writes["operation"] == "add"].head(size)
    changes = plan.writes[plan.writes["operation"] == "change"].head(size)
    changed = []
    for _, row in changes.iterrows():
        before = json.loads(row["old_values"]) if isinstance(row["old_values"], str) else {}
        after = values(row)
        changed.append(
            {
                "key": row["key"],
                "fields": {
                    name: {"before": before.get(name), "after": value}
                    for name, value in after.items()
                    if before.get(name) != value
                },
            }
        )
    return {
        "added": [{"key": row["key"], "values": values(row)} for _, row in adds.iterrows()],
        "changed": changed,
        "removed": plan.exits["key"].head(size).tolist(),
        "held_out": plan.holdouts[:size],
        "capped": [
            {"key": row["key"], "reason": row["reason"]}
            for _, row in plan.capped.head(size).iterrows()
        ],
        "invalid": [
            {"key": row["key"], "reason": row["invalid_reason"]}
            for _, row in plan.invalid.head(size).iterrows()
        ],
    }
