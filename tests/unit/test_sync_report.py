"""`recur sync`'s table: a sync's previous run is never shown as this command's (issue 13,
item 13)."""

from __future__ import annotations

from orchestration.sync_report import latest_runs, ran_since
from syncs.state import StateStore, utcnow


def test_runs_from_before_the_command_are_marked_stale_with_their_old_error():
    with StateStore(":memory:") as state:
        old = state.start_run("aud_a_to_hubspot", "aud_a", "hubspot", dry_run=False)
        state.finish_run(old, "skipped", {}, error="HUBSPOT_ACCESS_TOKEN is not set")
        since = utcnow()
        assert ran_since(state, ["aud_a_to_hubspot"], since) == 0
        text = latest_runs(state, ["aud_a_to_hubspot"], since)
        row, note = text.splitlines()[1:]
        assert row.split()[:2] == ["aud_a_to_hubspot", "stale"]
        assert note.strip().startswith("not run now: the figures are from its last run")
        assert note.endswith("(skipped), which said: HUBSPOT_ACCESS_TOKEN is not set")
        new = state.start_run("aud_a_to_hubspot", "aud_a", "hubspot", dry_run=False)
        state.finish_run(new, "success", {"audience_rows": 3})
        assert ran_since(state, ["aud_a_to_hubspot"], since) == 1
        current = latest_runs(state, ["aud_a_to_hubspot"], since).splitlines()
        assert current[1].split()[:3] == ["aud_a_to_hubspot", "success", "3"] and len(current) == 2
