"""Settings from the environment are parsed where they are read (issue 13, items 3 and 11): a
bad value stops the command with an error that names the variable and the accepted form."""

from __future__ import annotations

from datetime import date

import pytest

from orchestration import environment
from sources.errors import SettingError


@pytest.mark.parametrize(
    "value",
    [
        "2026-13-01",
        "2026-02-30",
        "2026-02-14 12:00:00",
        "2026-02-14T00:00",
        "14/02/2026",
        "2026-02-14' as date) --",
        "yesterday",
    ],
)
def test_recur_as_of_must_be_a_day(monkeypatch, value):
    monkeypatch.setenv("RECUR_AS_OF", value)
    with pytest.raises(SettingError, match=r"RECUR_AS_OF=.* is not a date \(YYYY-MM-DD"):
        environment.as_of()


def test_recur_as_of_is_a_day_or_unset(monkeypatch):
    monkeypatch.setenv("RECUR_AS_OF", "2024-02-29")
    assert environment.as_of() == date(2024, 2, 29)
    monkeypatch.setenv("RECUR_AS_OF", "")
    assert environment.as_of() is None
