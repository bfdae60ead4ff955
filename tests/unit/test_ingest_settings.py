"""The ingestion settings (issue 11, items 5 and 9): read once, validated where read, shared by the
loader and the quality checks."""

from __future__ import annotations

import warnings
from datetime import date, datetime

import pytest

from checks.thresholds import Thresholds
from sources.errors import SettingError
from sources.loader import load_partition
from sources.settings import IngestSettings
from tests.conftest import amplitude_line, mixpanel_line, write_amplitude_day, write_mixpanel_day


def test_defaults_are_2000_01_01_and_utc():
    assert IngestSettings.from_env({}) == IngestSettings(date(2000, 1, 1), "UTC")
    assert Thresholds.from_env({}).earliest_event == date(2000, 1, 1)


def test_one_earliest_day_for_the_loader_and_the_checks():
    env = {"RECUR_EARLIEST_EVENT": "1990-01-01", "RECUR_MIXPANEL_TIMEZONE": "America/Los_Angeles"}
    settings = IngestSettings.from_env(env)
    assert settings == IngestSettings(date(1990, 1, 1), "America/Los_Angeles")
    assert Thresholds.from_env(env).earliest_event == date(1990, 1, 1)


@pytest.mark.parametrize("value", ["1997-13-01", "19970101", "1997-1-1", "yesterday"])
def test_a_bad_earliest_day_names_the_variable_and_the_form(value):
    message = f"RECUR_EARLIEST_EVENT='{value}' is not a date (YYYY-MM-DD"
    with pytest.raises(SettingError, match=message.replace("(", r"\(")):
        IngestSettings.from_env({"RECUR_EARLIEST_EVENT": value})
    with pytest.raises(SettingError, match="RECUR_EARLIEST_EVENT"):
        Thresholds.from_env({"RECUR_EARLIEST_EVENT": value})


def test_the_checks_old_name_is_a_deprecated_alias():
    with pytest.warns(FutureWarning, match="rename it to RECUR_EARLIEST_EVENT"):
        assert Thresholds.from_env({"RECUR_CHECK_EARLIEST_EVENT": "2010-01-01"}).earliest_event == (
            date(2010, 1, 1)
        )
    with pytest.warns(FutureWarning):
        old = IngestSettings.from_env({"RECUR_CHECK_EARLIEST_EVENT": "2010-01-01"})
    assert old.earliest_event == date(2010, 1, 1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        both = {"RECUR_EARLIEST_EVENT": "2010-01-01", "RECUR_CHECK_EARLIEST_EVENT": "2010-01-01"}
        assert IngestSettings.from_env(both).earliest_event == date(2010, 1, 1)
    with pytest.raises(SettingError, match="differ: unset RECUR_CHECK_EARLIEST_EVENT"):
        IngestSettings.from_env(
            {"RECUR_EARLIEST_EVENT": "1990-01-01", "RECUR_CHECK_EARLIEST_EVENT": "2010-01-01"}
        )


def test_an_unknown_time_zone_names_the_variable_and_the_closest_zone():
    with pytest.raises(SettingError) as error:
        IngestSettings.from_env({"RECUR_MIXPANEL_TIMEZONE": "America/Los_Angles"})
    assert str(error.value).startswith(
        "RECUR_MIXPANEL_TIMEZONE='America/Los_Angles' is not a time zone (an IANA name"
    )
    assert "did you mean America/Los_Angeles" in str(error.value)
    # SQL text is not a zone either; values only ever reach SQL as bound parameters.
    with pytest.raises(SettingError, match="RECUR_MIXPANEL_TIMEZONE"):
        IngestSettings.from_env({"RECUR_MIXPANEL_TIMEZONE": "UTC'); drop table raw.quarantine; --"})
    with pytest.raises(SettingError, match="mixpanel_timezone='Mars/Olympus'"):
        IngestSettings(mixpanel_timezone="Mars/Olympus")
    assert IngestSettings.from_env({"RECUR_MIXPANEL_TIMEZONE": "utc"}).mixpanel_timezone == "UTC"


def test_amplitude_follows_the_earliest_day_too(warehouse, tmp_path):
    line = amplitude_line(event_time="1997-06-01 12:00:00.000000", uuid="old")
    write_amplitude_day(tmp_path, "1997-06-01", {12: [line]})
    day = date(1997, 6, 1)
    assert load_partition(warehouse, tmp_path, "amplitude", day).quarantined == 1
    reason = warehouse.execute("select reason from raw.quarantine").fetchone()[0]
    assert reason.startswith("event time 1997-06-01 12:00:00 is before 2000-01-01")
    settings = IngestSettings(earliest_event=date(1990, 1, 1))
    result = load_partition(warehouse, tmp_path, "amplitude", day, force=True, settings=settings)
    assert (result.loaded, result.quarantined) == (1, 0)
    assert warehouse.execute("select event_at from raw.amplitude_events").fetchone() == (
        datetime(1997, 6, 1, 12),
    )


def test_the_events_check_uses_the_loaders_earliest_day(tmp_path):
    """A 1997 event loaded under RECUR_EARLIEST_EVENT=1990-01-01 passes the blocking
    events_valid check read from the same environment, and fails it under the default."""
    from checks import Sources, run_suite
    from checks.raw import events_suite
    from sources.warehouse import connect, ensure_raw_schema

    env = {"RECUR_EARLIEST_EVENT": "1990-01-01"}
    path = tmp_path / "warehouse.duckdb"
    write_mixpanel_day(
        tmp_path, "1997-06-01", [mixpanel_line(time=865166400, distinct_id="u1")]
    )  # 1997-06-01 12:00 UTC
    with connect(path) as con:
        ensure_raw_schema(con)
        load_partition(
            con, tmp_path, "mixpanel", date(1997, 6, 1), settings=IngestSettings.from_env(env)
        )
    sources = Sources(path, tmp_path / "state.duckdb")
    assert run_suite(events_suite("mixpanel", Thresholds.from_env(env)), sources).passed
    assert not run_suite(events_suite("mixpanel", Thresholds.from_env({})), sources).passed
