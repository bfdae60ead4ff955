"""Run-failure alerts to a Slack-compatible incoming webhook (``POST {"text": ...}``).

Plain Python, no Dagster: the run-failure sensor (``defs/automation/sensors.py``) gathers what
failed and calls :func:`failure_text` and :class:`Webhook`. The webhook URL is a secret, so it is
read from ``RECUR_ALERT_WEBHOOK_URL`` when sending and never appears in a message, a log line or
an exception; the standard library's urllib is used because it logs nothing (urllib3 logs the
request path, which for Slack is the secret).

Example::

    text = failure_text("ingest_mixpanel", "8c1f...", [("raw__mixpanel_events", "ValueError: x")])
    Webhook.from_env().post(text)
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.request
from collections.abc import Sequence

from orchestration.environment import ALERT_WEBHOOK_ENV

MAX_STEPS = 10  # a run of 60 dbt models can fail 60 steps; the first ten say enough


class AlertError(Exception):
    """The webhook did not take the alert. The message never holds the URL."""


def first_line(text: str | None) -> str:
    """The first non-empty line of an error message, at most 300 characters."""
    for line in (text or "").splitlines():
        if line.strip():
            return line.strip()[:300]
    return "(no message)"


def failure_text(
    job: str,
    run_id: str,
    steps: Sequence[tuple[str, str]],
    link: str,
    partition: str | None = None,
    run_error: str | None = None,
) -> str:
    """The alert: the job and run, each failed step with its error's first line, and a link."""
    where = f" (partition {partition})" if partition else ""
    lines = [f"Recur run failed: job {job}{where}, run {run_id}"]
    for step, error in steps[:MAX_STEPS]:
        lines.append(f"- {step}: {first_line(error)}")
    if len(steps) > MAX_STEPS:
        lines.append(f"- and {len(steps) - MAX_STEPS} more failed steps")
    if not steps:
        lines.append(f"- no step failed; the run did: {first_line(run_error)}")
    lines.append(link)
    return "\n".join(lines)


class Webhook:
    """A Slack-compatible incoming webhook."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self._url = url
        self.timeout = timeout

    @classmethod
    def from_env(cls) -> Webhook | None:
        """The webhook of ``RECUR_ALERT_WEBHOOK_URL``, or None when it is not set."""
        url = os.environ.get(ALERT_WEBHOOK_ENV, "").strip()
        return cls(url) if url else None

    def __repr__(self) -> str:  # never show the URL, even in a debugger or a traceback's locals
        return "Webhook(<RECUR_ALERT_WEBHOOK_URL>)"

    def post(self, text: str) -> None:
        """Send ``{"text": text}``; raise :class:`AlertError` unless the webhook answered 2xx."""
        request = urllib.request.Request(
            self._url,
            data=json.dumps({"text": text}).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        problem = None
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            problem = f"answered HTTP {exc.code}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            problem = f"could not be reached ({type(reason).__name__})"
        else:
            if not 200 <= status < 300:
                problem = f"answered HTTP {status}"
        if problem:  # raised outside the except block, so no chained exception carries the URL
            raise AlertError(f"the alert webhook ({ALERT_WEBHOOK_ENV}) {problem}")
