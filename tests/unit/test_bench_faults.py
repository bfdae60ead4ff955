"""The ingest benchmark's faulty exports (bench/faulty.py): the loader finds exactly the bad and
duplicate lines they were given, so the timed runs exercise quarantine and de-duplication."""

from __future__ import annotations

import json

from bench.faulty import faulty_copy
from sandbox.generate import generate
from sources import layout
from sources.loader import load_days


def test_every_injected_fault_is_quarantined_or_deduplicated(warehouse, tmp_path):
    clean = tmp_path / "clean"
    generate(clean, users=400, days=2, seed=3)
    faulty = faulty_copy(clean, tmp_path / "faulty", ("mixpanel", "amplitude"))
    injected = json.loads((faulty / "faults.json").read_text())
    for source in ("mixpanel", "amplitude"):
        loads = load_days(warehouse, faulty, source, layout.export_days(faulty, source))
        counts = injected[source]
        assert counts["bad"] > 0 and counts["duplicates"] > 0
        assert sum(r.lines_read for r in loads) == counts["lines"]
        assert sum(r.quarantined for r in loads) == counts["bad"]
        assert sum(r.duplicates for r in loads) == counts["duplicates"]
    assert faulty_copy(clean, tmp_path / "faulty", ("mixpanel",)) == faulty  # made once
