"""The export-API clients against the sandbox servers, over real HTTP on 127.0.0.1.

Every retry path runs through real sockets; sleeps are recorded instead of slept (except in the
one test about pacing), so the whole module runs in a couple of seconds.
"""

from __future__ import annotations

import gzip
import io
import json
import socket
import time
import zipfile
from collections.abc import Callable, Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
import requests

from sandbox.servers import (
    SANDBOX_API_KEY,
    SANDBOX_PROJECT_ID,
    SANDBOX_SECRET,
    SANDBOX_SECRET_KEY,
    SANDBOX_USERNAME,
    AmplitudeServer,
    MixpanelServer,
)
from sandbox.servers.amplitude import EXPORT_PATH as AMPLITUDE_EXPORT
from sandbox.servers.mixpanel import ENGAGE_PATH
from sandbox.servers.mixpanel import EXPORT_PATH as MIXPANEL_EXPORT
from sources.amplitude_api import AmplitudeExportClient
from sources.errors import (
    AuthenticationError,
    ExportAPIError,
    IncompleteExportError,
    RateLimitedError,
)
from sources.http import RetryPolicy
from sources.mixpanel_api import MixpanelExportClient

DAY = date(2024, 6, 10)
GZ_DAY = date(2024, 6, 11)  # its source file is .jsonl.gz
EMPTY_DAY = date(2024, 6, 12)  # no file at all
TODAY = date(2024, 6, 20)
PROJECT = "187520"
ATTEMPTS = 4
BASE_DELAY = 0.01


# ------------------------------------------------------------------------------ fixtures


def _mixpanel_line(n: int, day: date) -> str:
    start = int(datetime(day.year, day.month, day.day, 9).timestamp())
    props = {"time": start + n, "distinct_id": f"user-{n % 7}", "$insert_id": f"ins-{day}-{n}"}
    if n == 3:
        props["note"] = "a value with an escaped\nline break"
    return json.dumps({"event": "Purchase" if n % 5 == 0 else "Viewed", "properties": props})


def _amplitude_member(day: date, hour: int, part: int, events: int = 3) -> tuple[str, bytes]:
    lines = [
        json.dumps(
            {
                "event_type": "Viewed",
                "uuid": f"{day}-{hour}-{part}-{n}",
                "user_id": f"user-{n}",
                "server_upload_time": f"{day} {hour:02d}:05:00.000000",
            }
        )
        for n in range(events)
    ]
    name = f"{PROJECT}_{day.isoformat()}_{hour}#{part}.json.gz"
    return name, gzip.compress(("\n".join(lines) + "\n").encode(), mtime=0)


def _write_zip(path: Path, members: list[tuple[str, bytes]]) -> None:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members:
            archive.writestr(name, data)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    """A tiny export folder in the generator's layout: what the servers serve."""
    root = tmp_path / "source"
    mixpanel = root / "mixpanel"
    mixpanel.mkdir(parents=True)
    # 60 lines (> 1,400 bytes, so the server gzips the transfer).
    (mixpanel / f"{DAY}.jsonl").write_text(
        "".join(_mixpanel_line(n, DAY) + "\n" for n in range(60))
    )
    gz_lines = "".join(_mixpanel_line(n, GZ_DAY) + "\n" for n in range(5))
    (mixpanel / f"{GZ_DAY}.jsonl.gz").write_bytes(gzip.compress(gz_lines.encode()))

    amplitude = root / "amplitude"
    amplitude.mkdir()
    _write_zip(
        amplitude / f"{PROJECT}_{DAY}.zip",
        [
            _amplitude_member(DAY, 0, 1),
            _amplitude_member(DAY, 17, 1),
            _amplitude_member(DAY, 17, 2),
        ],
    )
    _write_zip(amplitude / f"{PROJECT}_{GZ_DAY}.zip", [_amplitude_member(GZ_DAY, 3, 1)])
    return root


def _write_profiles(root: Path, count: int, page_sizes: list[int]) -> list[str]:
    """``count`` profiles split into source pages of ``page_sizes`` (not 1000: re-chunking)."""
    folder = root / "mixpanel" / "profiles"
    folder.mkdir(parents=True, exist_ok=True)
    ids = [f"user-{n:05d}" for n in range(count)]
    start = 0
    for page, size in enumerate(page_sizes):
        results = [
            {"$distinct_id": i, "$properties": {"$email": f"{i}@example.com"}}
            for i in ids[start : start + size]
        ]
        start += size
        payload = {"page": page, "page_size": 1000, "session_id": "gen", "status": "ok"}
        payload |= {"total": count, "results": results}
        (folder / f"page-{page:04d}.json").write_text(json.dumps(payload))
    assert start == count
    return ids


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """The export folder the clients write into."""
    return tmp_path / "out"


@pytest.fixture
def sleeps() -> list[float]:
    """Delays the clients asked for, recorded instead of slept."""
    return []


@pytest.fixture
def mixpanel_server(source: Path) -> Iterator[MixpanelServer]:
    with MixpanelServer(source, today=TODAY, max_per_second=None) as server:
        yield server


@pytest.fixture
def amplitude_server(source: Path) -> Iterator[AmplitudeServer]:
    with AmplitudeServer(source) as server:
        yield server


def _retry() -> RetryPolicy:
    return RetryPolicy(max_attempts=ATTEMPTS, base_delay=BASE_DELAY, max_delay=1.0)


@pytest.fixture
def mixpanel_client(
    mixpanel_server: MixpanelServer, sleeps: list[float]
) -> Callable[..., MixpanelExportClient]:
    def make(**overrides: object) -> MixpanelExportClient:
        args: dict[str, object] = {
            "username": SANDBOX_USERNAME,
            "secret": SANDBOX_SECRET,
            "project_id": SANDBOX_PROJECT_ID,
            "export_url": mixpanel_server.url,
            "query_url": mixpanel_server.url,
            "retry": _retry(),
            "sleep": sleeps.append,
            "seed": 7,
            "today": lambda: TODAY,
            "max_queries_per_second": None,
        }
        return MixpanelExportClient(**(args | overrides))  # type: ignore[arg-type]

    return make


@pytest.fixture
def amplitude_client(
    amplitude_server: AmplitudeServer, sleeps: list[float]
) -> Callable[..., AmplitudeExportClient]:
    def make(**overrides: object) -> AmplitudeExportClient:
        args: dict[str, object] = {
            "api_key": SANDBOX_API_KEY,
            "secret_key": SANDBOX_SECRET_KEY,
            "base_url": amplitude_server.url,
            "retry": _retry(),
            "sleep": sleeps.append,
            "seed": 7,
            "today": lambda: TODAY,
        }
        return AmplitudeExportClient(**(args | overrides))  # type: ignore[arg-type]

    return make


def _statuses(server: MixpanelServer | AmplitudeServer, path: str) -> list[int]:
    return [record.status for record in server.calls(path)]


def _visible_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# ------------------------------------------------------------------------------ Mixpanel events


def test_mixpanel_day_is_saved_gzipped_with_the_source_bytes(
    source, out, mixpanel_server, mixpanel_client
):
    path = mixpanel_client().download_day(DAY, out)

    assert path == out / "mixpanel" / f"{DAY}.jsonl.gz"
    assert gzip.decompress(path.read_bytes()) == (source / "mixpanel" / f"{DAY}.jsonl").read_bytes()
    assert len(gzip.decompress(path.read_bytes()).splitlines()) == 60
    assert _visible_files(out / "mixpanel") == [f"{DAY}.jsonl.gz"]  # no temp file left behind
    assert _statuses(mixpanel_server, MIXPANEL_EXPORT) == [200]


def test_mixpanel_gzip_source_day_round_trips(source, out, mixpanel_client):
    path = mixpanel_client().download_day(GZ_DAY, out)

    expected = gzip.decompress((source / "mixpanel" / f"{GZ_DAY}.jsonl.gz").read_bytes())
    assert gzip.decompress(path.read_bytes()) == expected
    assert len(expected.splitlines()) == 5


def test_mixpanel_download_replaces_the_plain_file_of_the_same_day(out, mixpanel_client):
    (out / "mixpanel").mkdir(parents=True)
    (out / "mixpanel" / f"{DAY}.jsonl").write_text("stale\n")

    mixpanel_client().download_day(DAY, out)

    assert _visible_files(out / "mixpanel") == [f"{DAY}.jsonl.gz"]


def test_mixpanel_empty_day_returns_none_and_writes_nothing(out, mixpanel_server, mixpanel_client):
    assert mixpanel_client().download_day(EMPTY_DAY, out) is None
    assert _visible_files(out / "mixpanel") == []
    assert _statuses(mixpanel_server, MIXPANEL_EXPORT) == [200]


def test_mixpanel_429_is_retried_after_retry_after(out, mixpanel_server, mixpanel_client, sleeps):
    mixpanel_server.script(MIXPANEL_EXPORT, [429])

    path = mixpanel_client().download_day(DAY, out)

    assert path is not None and path.exists()
    assert _statuses(mixpanel_server, MIXPANEL_EXPORT) == [429, 200]
    assert sleeps == [0.0]  # the scripted Retry-After: 0 wins over backoff


def test_mixpanel_500_is_retried_with_jittered_backoff(
    out, mixpanel_server, mixpanel_client, sleeps
):
    mixpanel_server.script(MIXPANEL_EXPORT, [500])

    path = mixpanel_client().download_day(DAY, out)

    assert path is not None and path.exists()
    assert _statuses(mixpanel_server, MIXPANEL_EXPORT) == [500, 200]
    assert len(sleeps) == 1 and BASE_DELAY * 0.5 <= sleeps[0] <= BASE_DELAY


def test_a_connection_cut_mid_body_is_retried_and_never_written_half(
    source, out, mixpanel_server, mixpanel_client
):
    mixpanel_server.cut_connection(1)

    path = mixpanel_client().download_day(DAY, out)

    assert gzip.decompress(path.read_bytes()) == (source / "mixpanel" / f"{DAY}.jsonl").read_bytes()
    assert len(mixpanel_server.calls(MIXPANEL_EXPORT)) == 2
    assert _visible_files(out / "mixpanel") == [f"{DAY}.jsonl.gz"]


def test_retries_are_bounded_and_back_off_exponentially(
    out, mixpanel_server, mixpanel_client, sleeps
):
    mixpanel_server.script(MIXPANEL_EXPORT, [503] * 10)

    with pytest.raises(ExportAPIError) as raised:
        mixpanel_client().download_day(DAY, out)

    assert raised.value.status == 503
    assert f"after {ATTEMPTS} attempts" in str(raised.value)
    assert "/api/2.0/export" in str(raised.value)
    assert _statuses(mixpanel_server, MIXPANEL_EXPORT) == [503] * ATTEMPTS
    assert len(sleeps) == ATTEMPTS - 1
    for attempt, delay in enumerate(sleeps):
        ceiling = BASE_DELAY * 2**attempt
        assert ceiling * 0.5 <= delay <= ceiling
    assert _visible_files(out / "mixpanel") == []


def test_wrong_credentials_raise_authentication_error_without_the_secret(
    out, mixpanel_server, mixpanel_client
):
    client = mixpanel_client(secret="wrong-secret-Xq9")

    with pytest.raises(AuthenticationError) as raised:
        client.download_day(DAY, out)

    message = str(raised.value)
    assert raised.value.status == 401
    assert "MIXPANEL_SERVICE_ACCOUNT_USERNAME" in message
    assert "wrong-secret-Xq9" not in message and "wrong-secret-Xq9" not in repr(client)
    assert _statuses(mixpanel_server, MIXPANEL_EXPORT) == [401]  # not retried


def test_wrong_project_id_is_refused_like_wrong_credentials(out, mixpanel_client):
    with pytest.raises(AuthenticationError):
        mixpanel_client(project_id="999").download_day(DAY, out)


def test_legacy_project_secret_authenticates_without_project_id(source, out, sleeps):
    with MixpanelServer(source, today=TODAY, project_secret="legacy-s3cret") as server:
        client = MixpanelExportClient(
            None,
            "legacy-s3cret",
            None,
            server.url,
            server.url,
            today=lambda: TODAY,
            sleep=sleeps.append,
        )
        assert client.download_day(DAY, out) is not None
        assert "project_id" not in server.calls(MIXPANEL_EXPORT)[0].params
        assert "legacy-s3cret" not in repr(client)


def test_terminated_early_once_is_re_requested(source, out, mixpanel_server, mixpanel_client):
    mixpanel_server.terminate_early(1)

    path = mixpanel_client().download_day(DAY, out)

    assert gzip.decompress(path.read_bytes()) == (source / "mixpanel" / f"{DAY}.jsonl").read_bytes()
    assert b"terminated early" not in gzip.decompress(path.read_bytes())
    assert _statuses(mixpanel_server, MIXPANEL_EXPORT) == [200, 200]


def test_always_terminated_early_raises_incomplete_export(out, mixpanel_server, mixpanel_client):
    mixpanel_server.terminate_early(100)

    with pytest.raises(IncompleteExportError) as raised:
        mixpanel_client(incomplete_attempts=3).download_day(DAY, out)

    assert DAY.isoformat() in str(raised.value)
    assert len(mixpanel_server.calls(MIXPANEL_EXPORT)) == 3
    assert _visible_files(out / "mixpanel") == []


def test_a_day_not_yet_over_is_refused_before_any_request(out, mixpanel_server, mixpanel_client):
    for day in (TODAY, date(2024, 6, 25)):
        with pytest.raises(ExportAPIError, match="has not ended"):
            mixpanel_client().download_day(day, out)
    assert mixpanel_server.requests == []


def test_server_400_to_date_later_than_today_is_quoted(out, mixpanel_server, mixpanel_client):
    # A client whose clock runs ahead of the server's (the Airbyte time-zone bug).
    client = mixpanel_client(today=lambda: date(2024, 6, 30))

    with pytest.raises(ExportAPIError) as raised:
        client.download_day(date(2024, 6, 21), out)

    assert raised.value.status == 400
    assert "to_date cannot be later than today" in str(raised.value)
    assert _statuses(mixpanel_server, MIXPANEL_EXPORT) == [400]  # a 400 is not retried


def test_connection_refused_is_retried_then_reported(out, sleeps):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    client = MixpanelExportClient(
        "u",
        "s",
        1,
        f"http://127.0.0.1:{port}",
        retry=_retry(),
        sleep=sleeps.append,
        today=lambda: TODAY,
        max_queries_per_second=None,
    )

    with pytest.raises(ExportAPIError, match="ConnectionError") as raised:
        client.download_day(DAY, out)

    assert raised.value.status is None
    assert len(sleeps) == ATTEMPTS - 1


def test_client_pacing_keeps_under_three_per_second(source, out):
    with MixpanelServer(source, today=TODAY, max_per_second=3) as server:
        client = MixpanelExportClient(
            SANDBOX_USERNAME, SANDBOX_SECRET, SANDBOX_PROJECT_ID, server.url, today=lambda: TODAY
        )
        started = time.monotonic()
        for _ in range(4):
            client.download_day(GZ_DAY, out)
        elapsed = time.monotonic() - started

    assert _statuses(server, MIXPANEL_EXPORT) == [200] * 4  # never a 429
    assert elapsed >= 1.0


def test_hourly_budget_429_with_a_long_retry_after_fails_fast(source, out, sleeps):
    with MixpanelServer(source, today=TODAY, max_per_second=None, max_per_hour=2) as server:
        client = MixpanelExportClient(
            SANDBOX_USERNAME,
            SANDBOX_SECRET,
            SANDBOX_PROJECT_ID,
            server.url,
            retry=RetryPolicy(max_attempts=ATTEMPTS, max_retry_after=60),
            sleep=sleeps.append,
            today=lambda: TODAY,
            max_queries_per_second=None,
        )
        client.download_day(DAY, out)
        client.download_day(DAY, out)
        with pytest.raises(RateLimitedError, match="retry after"):
            client.download_day(DAY, out)

    assert _statuses(server, MIXPANEL_EXPORT) == [200, 200, 429]
    assert sleeps == []


def test_mixpanel_server_gzips_large_bodies_only_when_asked(mixpanel_server):
    url = f"{mixpanel_server.url}{MIXPANEL_EXPORT}"
    auth = (SANDBOX_USERNAME, SANDBOX_SECRET)

    def encoding(day: date, accept: str) -> str | None:
        params = {"from_date": day, "to_date": day, "project_id": SANDBOX_PROJECT_ID}
        response = requests.get(url, params=params, auth=auth, headers={"Accept-Encoding": accept})
        assert response.status_code == 200
        return response.headers.get("Content-Encoding")

    assert encoding(DAY, "gzip") == "gzip"  # ~6 KB
    assert encoding(DAY, "identity") is None
    assert encoding(GZ_DAY, "gzip") is None  # < 1,400 bytes


def test_clients_build_from_environment_variables(out, mixpanel_server, amplitude_server):
    mixpanel = MixpanelExportClient.from_env(
        {
            "MIXPANEL_SERVICE_ACCOUNT_USERNAME": SANDBOX_USERNAME,
            "MIXPANEL_SERVICE_ACCOUNT_SECRET": SANDBOX_SECRET,
            "MIXPANEL_PROJECT_ID": SANDBOX_PROJECT_ID,
            "MIXPANEL_EXPORT_URL": mixpanel_server.url,
            "MIXPANEL_QUERY_URL": mixpanel_server.url,
        },
        today=lambda: TODAY,
    )
    amplitude = AmplitudeExportClient.from_env(
        {
            "AMPLITUDE_API_KEY": SANDBOX_API_KEY,
            "AMPLITUDE_SECRET_KEY": SANDBOX_SECRET_KEY,
            "AMPLITUDE_BASE_URL": amplitude_server.url,
        },
        today=lambda: TODAY,
    )

    assert mixpanel.download_day(DAY, out) is not None
    assert amplitude.download_day(DAY, out) is not None
    with pytest.raises(AuthenticationError, match="MIXPANEL_SERVICE_ACCOUNT_SECRET"):
        MixpanelExportClient.from_env({})
    with pytest.raises(AuthenticationError, match="AMPLITUDE_SECRET_KEY"):
        AmplitudeExportClient.from_env({"AMPLITUDE_API_KEY": "k"})


# ------------------------------------------------------------------------------ Mixpanel profiles


def test_engage_pages_through_2500_profiles_with_the_session_id(
    source, out, mixpanel_server, mixpanel_client
):
    ids = _write_profiles(source, 2500, [700, 1800])

    pages = mixpanel_client().download_profiles(out)

    assert [p.name for p in pages] == ["page-0000.json", "page-0001.json", "page-0002.json"]
    payloads = [json.loads(p.read_text()) for p in pages]
    assert [len(p["results"]) for p in payloads] == [1000, 1000, 500]
    assert [r["$distinct_id"] for p in payloads for r in p["results"]] == ids
    calls = mixpanel_server.calls(ENGAGE_PATH)
    assert [c.method for c in calls] == ["POST"] * 3
    assert [c.params.get("page") for c in calls] == ["0", "1", "2"]
    assert "session_id" not in calls[0].params
    assert {c.params["session_id"] for c in calls[1:]} == {payloads[0]["session_id"]}


def test_engage_error_mid_way_restarts_from_page_zero(
    source, out, mixpanel_server, mixpanel_client
):
    _write_profiles(source, 2500, [1000, 1000, 500])
    mixpanel_server.script(ENGAGE_PATH, [200, 400])  # page 1 of the first pass fails

    pages = mixpanel_client().download_profiles(out)

    assert len(pages) == 3
    assert [c.params.get("page") for c in mixpanel_server.calls(ENGAGE_PATH)] == [
        "0",
        "1",
        "0",
        "1",
        "2",
    ]
    assert [c.status for c in mixpanel_server.calls(ENGAGE_PATH)] == [200, 400, 200, 200, 200]


def test_engage_replaces_the_previous_pages_as_a_set(source, out, mixpanel_client):
    _write_profiles(source, 10, [10])
    stale = out / "mixpanel" / "profiles"
    stale.mkdir(parents=True)
    for n in range(5):
        (stale / f"page-{n:04d}.json").write_text("{}")

    pages = mixpanel_client().download_profiles(out)

    assert _visible_files(stale) == ["page-0000.json"]
    assert len(json.loads(pages[0].read_text())["results"]) == 10
    assert _visible_files(out / "mixpanel") == ["profiles"]  # no staging folder left behind


def test_engage_failing_every_pass_keeps_the_old_pages(
    source, out, mixpanel_server, mixpanel_client
):
    _write_profiles(source, 1500, [1500])
    old = out / "mixpanel" / "profiles"
    old.mkdir(parents=True)
    (old / "page-0000.json").write_text('{"results": []}')
    mixpanel_server.script(ENGAGE_PATH, [200, 400] * 3)

    with pytest.raises(ExportAPIError, match="restarted from page 0"):
        mixpanel_client(profile_attempts=3).download_profiles(out)

    assert (old / "page-0000.json").read_text() == '{"results": []}'
    assert len(mixpanel_server.calls(ENGAGE_PATH)) == 6


def test_engage_server_refuses_later_pages_without_session(mixpanel_server):
    response = requests.post(
        f"{mixpanel_server.url}{ENGAGE_PATH}",
        params={"project_id": SANDBOX_PROJECT_ID},
        data={"page": 1},
        auth=(SANDBOX_USERNAME, SANDBOX_SECRET),
    )
    assert response.status_code == 400


# ------------------------------------------------------------------------------ Amplitude


def _members(zip_path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(zip_path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def test_amplitude_day_is_saved_with_the_source_members(
    source, out, amplitude_server, amplitude_client
):
    path = amplitude_client().download_day(DAY, out)

    assert path == out / "amplitude" / f"{PROJECT}_{DAY}.zip"
    assert _members(path) == _members(source / "amplitude" / f"{PROJECT}_{DAY}.zip")
    assert len(_members(path)) == 3
    assert _statuses(amplitude_server, AMPLITUDE_EXPORT) == [200]
    assert amplitude_server.calls(AMPLITUDE_EXPORT)[0].params == {
        "start": "20240610T00",
        "end": "20240610T23",
    }
    assert _visible_files(out / "amplitude") == [f"{PROJECT}_{DAY}.zip"]


def test_amplitude_zip_named_after_the_configured_project(out, amplitude_client):
    path = amplitude_client(project_id=42).download_day(DAY, out)
    assert path.name == f"42_{DAY}.zip"


def test_amplitude_404_means_no_data(out, amplitude_server, amplitude_client):
    assert amplitude_client().download_day(EMPTY_DAY, out) is None
    assert _statuses(amplitude_server, AMPLITUDE_EXPORT) == [404]
    assert _visible_files(out / "amplitude") == []


def test_amplitude_504_is_retried(out, amplitude_server, amplitude_client):
    amplitude_server.script(AMPLITUDE_EXPORT, [504])

    assert amplitude_client().download_day(DAY, out) is not None
    assert _statuses(amplitude_server, AMPLITUDE_EXPORT) == [504, 200]


def test_amplitude_429_then_success(out, amplitude_server, amplitude_client):
    amplitude_server.script(AMPLITUDE_EXPORT, [429])

    assert amplitude_client().download_day(DAY, out) is not None
    assert _statuses(amplitude_server, AMPLITUDE_EXPORT) == [429, 200]


def test_amplitude_wrong_key_raises_authentication_error_without_the_secret(
    out, amplitude_server, amplitude_client
):
    client = amplitude_client(secret_key="not-the-key-7Hk")

    with pytest.raises(AuthenticationError) as raised:
        client.download_day(DAY, out)

    assert "AMPLITUDE_API_KEY" in str(raised.value)
    assert "not-the-key-7Hk" not in str(raised.value) and "not-the-key-7Hk" not in repr(client)
    assert _statuses(amplitude_server, AMPLITUDE_EXPORT) == [401]


def test_amplitude_corrupt_zip_is_refused_and_not_written(source, out, sleeps):
    class CorruptAmplitude(AmplitudeServer):
        def export_zip(self, start: datetime, end: datetime) -> bytes | None:
            good = super().export_zip(start, end) or b""
            return good[: len(good) // 2]  # the central directory is missing

    with CorruptAmplitude(source) as server:
        client = AmplitudeExportClient(
            SANDBOX_API_KEY,
            SANDBOX_SECRET_KEY,
            server.url,
            sleep=sleeps.append,
            today=lambda: TODAY,
        )
        with pytest.raises(ExportAPIError, match=DAY.isoformat()):
            client.download_day(DAY, out)

    assert _visible_files(out / "amplitude") == []


def test_amplitude_server_enforces_the_range_rules(amplitude_server):
    def status(start: str, end: str) -> int:
        response = requests.get(
            f"{amplitude_server.url}{AMPLITUDE_EXPORT}",
            params={"start": start, "end": end},
            auth=(SANDBOX_API_KEY, SANDBOX_SECRET_KEY),
        )
        return response.status_code

    assert status("20240610T17", "20240610T17") == 200
    assert status("20240610T18", "20240610T23") == 404  # no member in those hours
    assert status("20240610T23", "20240610T00") == 400  # start after end
    assert status("20230101T00", "20240610T00") == 400  # more than 365 days
    assert status("2024-06-10", "20240610T23") == 400  # malformed


def test_amplitude_server_returns_only_the_hours_asked(amplitude_server):
    response = requests.get(
        f"{amplitude_server.url}{AMPLITUDE_EXPORT}",
        params={"start": "20240610T17", "end": "20240611T23"},
        auth=(SANDBOX_API_KEY, SANDBOX_SECRET_KEY),
    )
    names = sorted(zipfile.ZipFile(io.BytesIO(response.content)).namelist())
    assert names == [
        f"{PROJECT}_2024-06-10_17#1.json.gz",
        f"{PROJECT}_2024-06-10_17#2.json.gz",
        f"{PROJECT}_2024-06-11_3#1.json.gz",
    ]
