"""End to end, as a person would see it: `dagster dev` serves the project, a run launched through
the webserver's GraphQL API succeeds, and the asset graph renders in headless Chromium.

Needs Debian's Chromium (``/usr/bin/chromium``), which ``make test`` installs; without it the test
fails rather than skips, so CI cannot pass without running it. The screenshot goes to the test's
temp folder, and to ``docs/img/asset-graph.png`` when that file is missing or
``RECUR_UPDATE_SCREENSHOTS=1`` is set (so ``make test`` leaves the work tree clean).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from sandbox.generate import generate

PROJECT_ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SCREENSHOT = PROJECT_ROOT / "docs" / "img" / "asset-graph.png"
GROUPS = {"ingest", "staging", "intermediate", "core", "analytics", "audiences", "syncs", "reports"}
DAY = "2026-01-01"
# Chromium on a machine without internet: no background connections, no GPU, a sandbox-less root.
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Credentials and webhooks of the caller's shell must not reach the throwaway deployment.
PRIVATE_ENV = (
    "MIXPANEL_SERVICE_ACCOUNT_USERNAME",
    "MIXPANEL_SERVICE_ACCOUNT_SECRET",
    "MIXPANEL_PROJECT_ID",
    "MIXPANEL_API_SECRET",
    "AMPLITUDE_API_KEY",
    "AMPLITUDE_SECRET_KEY",
    "HUBSPOT_ACCESS_TOKEN",
    "HUBSPOT_BASE_URL",
    "RECUR_ALERT_WEBHOOK_URL",
)

LOCATION = {
    "repositoryLocationName": "orchestration.definitions",
    "repositoryName": "__repository__",
}

ADD_PARTITION = """
mutation AddDay($repositorySelector: RepositorySelector!, $partitionsDefName: String!,
                $partitionKey: String!) {
  addDynamicPartition(repositorySelector: $repositorySelector,
                      partitionsDefName: $partitionsDefName, partitionKey: $partitionKey) {
    __typename
    ... on PythonError { message }
  }
}
"""

LAUNCH_RUN = """
mutation LaunchIngest($executionParams: ExecutionParams!) {
  launchRun(executionParams: $executionParams) {
    __typename
    ... on LaunchRunSuccess { run { runId status } }
    ... on PythonError { message }
    ... on RunConfigValidationInvalid { errors { message } }
    ... on PipelineNotFoundError { message }
    ... on InvalidSubsetError { message }
  }
}
"""

RUN_STATUS = """
query RunStatus($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status }
  }
}
"""

MATERIALIZATIONS = """
query Materializations($assetKey: AssetKeyInput!, $partitions: [String!]) {
  assetOrError(assetKey: $assetKey) {
    ... on Asset { assetMaterializations(partitions: $partitions, limit: 1) { runId partition } }
  }
}
"""

ASSET_NODES = """
query AssetGraph {
  assetNodes { assetKey { path } groupName }
}
"""


@dataclass
class DagsterDev:
    url: str
    log: Path

    def graphql(self, query: str, **variables: object) -> dict:
        response = requests.post(
            f"{self.url}/graphql", json={"query": query, "variables": variables}, timeout=60
        )
        response.raise_for_status()
        body = response.json()
        assert "errors" not in body, body["errors"]
        return body["data"]

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop(process: subprocess.Popen) -> None:
    """SIGTERM the process group (dagster dev shuts its webserver, daemon and code server down),
    then SIGKILL whatever of the group is left, run workers included."""
    for sig, wait in ((signal.SIGTERM, 15), (signal.SIGKILL, 5)):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            pass


@pytest.fixture(scope="module")
def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.fail(
            "Chromium is not installed, so the browser test cannot run. Install Debian's "
            "package: `apt-get install -y --no-install-recommends chromium` (`make test` does)."
        )
    return path


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory) -> Iterator[DagsterDev]:
    """`dagster dev` on a free port, over a generated export folder and throwaway state."""
    tmp = tmp_path_factory.mktemp("dagster_dev")
    generate(tmp / "exports", users=200, days=5, seed=1)
    home = tmp / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / ".dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if k not in PRIVATE_ENV}
    env.update(
        DAGSTER_HOME=str(home),
        RECUR_EXPORTS=str(tmp / "exports"),
        RECUR_WAREHOUSE=str(tmp / "warehouse.duckdb"),
        RECUR_STATE=str(tmp / "state.duckdb"),
        DO_NOT_TRACK="1",
        PATH=f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
    )
    port = _free_port()
    log = tmp / "dagster-dev.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [
                str(BIN / "dagster"),
                "dev",
                "-w",
                "workspace.yaml",
                "-h",
                "127.0.0.1",
                "-p",
                str(port),
            ],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so _stop reaches every child
        )
    server = DagsterDev(url=f"http://127.0.0.1:{port}", log=log)
    try:
        deadline = time.monotonic() + 90  # it answers after ~25-35 s (dbt parse included)
        while True:
            if process.poll() is not None:
                pytest.fail(f"dagster dev exited with {process.returncode}:\n{server.log_tail()}")
            try:
                if requests.get(f"{server.url}/server_info", timeout=2).ok:
                    break
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"dagster dev did not answer within 90 s:\n{server.log_tail()}")
            time.sleep(1)
        yield server
    finally:
        _stop(process)


def test_a_run_launched_through_graphql_materializes_a_day(dagster_dev):
    selector = {**LOCATION}
    added = dagster_dev.graphql(
        ADD_PARTITION,
        repositorySelector=selector,
        partitionsDefName="mixpanel_days",
        partitionKey=DAY,
    )["addDynamicPartition"]
    # the new_export_files sensor may have registered the day first
    assert added["__typename"] in {"AddDynamicPartitionSuccess", "DuplicateDynamicPartitionError"}

    launched = dagster_dev.graphql(
        LAUNCH_RUN,
        executionParams={
            "selector": {**LOCATION, "jobName": "ingest_mixpanel"},
            "executionMetadata": {
                "tags": [
                    {"key": "dagster/partition", "value": DAY},
                    # ahead of the runs the sensors queue meanwhile (one run at a time)
                    {"key": "dagster/priority", "value": "10"},
                ]
            },
        },
    )["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", launched
    run_id = launched["run"]["runId"]

    deadline = time.monotonic() + 120
    status = None
    while time.monotonic() < deadline:
        status = dagster_dev.graphql(RUN_STATUS, runId=run_id)["runOrError"]["status"]
        if status in {"SUCCESS", "FAILURE", "CANCELED"}:
            break
        time.sleep(1)
    assert status == "SUCCESS", f"run {run_id} ended {status}:\n{dagster_dev.log_tail()}"

    asset = dagster_dev.graphql(
        MATERIALIZATIONS, assetKey={"path": ["raw", "mixpanel_events"]}, partitions=[DAY]
    )["assetOrError"]
    assert asset["assetMaterializations"] == [{"runId": run_id, "partition": DAY}]


def test_the_asset_graph_holds_every_group(dagster_dev):
    nodes = dagster_dev.graphql(ASSET_NODES)["assetNodes"]
    assert {n["groupName"] for n in nodes} == GROUPS
    keys = {"/".join(n["assetKey"]["path"]) for n in nodes}
    assert {"raw/mixpanel_events", "core/fct_events", "reports/retention_report"} <= keys


def test_the_asset_graph_renders_in_chromium(dagster_dev, chromium, tmp_path):
    from playwright.sync_api import sync_playwright

    # The lineage page with the ingest group open and the others folded: the whole flow fits.
    expanded = quote("global@global:ingest")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_FLAGS)
        try:
            context = browser.new_context(viewport={"width": 1600, "height": 1000})
            # no "join the community" dialog over the graph; the navigation folded
            context.add_init_script(
                "localStorage.setItem('communityNux', '1');"
                "localStorage.setItem('dagster-nav-collapsed', 'true');"
            )
            page = context.new_page()
            page.goto(f"{dagster_dev.url}/asset-groups?expanded={expanded}", timeout=60_000)
            graph = page.locator("svg")
            for name in ("mixpanel_events", "amplitude_events", "mixpanel_profiles"):
                graph.get_by_text(name, exact=True).first.wait_for(timeout=60_000)
            for group in GROUPS - {"ingest"}:  # folded groups are nodes of the graph too
                graph.get_by_text(group, exact=True).first.wait_for(timeout=10_000)
            page.wait_for_load_state("networkidle")
            # hide the asset tree beside the graph, then double-click the background: zoom to fit
            page.locator("button:right-of(input[placeholder^='Jump to'])").first.click()
            page.mouse.dblclick(1500, 140)
            page.wait_for_timeout(2_000)  # the zoom animates; edges and statuses settle
            shot = tmp_path / "asset-graph.png"
            page.screenshot(path=str(shot))
        finally:
            browser.close()
    assert shot.stat().st_size > 20_000  # a rendered graph, not a blank page
    if not SCREENSHOT.exists() or os.environ.get("RECUR_UPDATE_SCREENSHOTS") == "1":
        SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, SCREENSHOT)
