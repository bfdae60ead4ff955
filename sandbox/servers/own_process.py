"""The sandbox HubSpot in a process of its own, for runs that time it.

Real HubSpot counts a request against its rate window when the request reaches it. A sandbox
in the client's process reaches that point only when one of its threads gets Python's
interpreter lock, which a sync with 16 batches in flight holds most of the time: on a loaded
machine requests were counted 0.35-0.55 s after they were sent (issue 14's CI failure), so a
client pacing exactly to the limit saw 429s that the real API would not send. In its own
process the sandbox counts a request when it arrives, as HubSpot does.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Any

# The child prints its URL, then the most requests it had open at once whenever a line arrives
# on its stdin; it stops when its stdin closes.
_SERVE = """
import json, sys
from sandbox.servers.hubspot import HubSpotServer
from sandbox.servers.latency import Latency
options = json.loads(sys.argv[1])
latency = options.pop("latency", None)
server = HubSpotServer(**options, latency=Latency.parse(latency) if latency else None)
server.start("127.0.0.1", 0)
print(server.url, flush=True)
for _ in sys.stdin:
    print(server.max_in_flight, flush=True)
"""


class HubSpotProcess:
    """``HubSpotServer(state_path, **options)`` served by a child process (a context manager).

    ``options`` are the server's keyword arguments that travel as JSON (``rate_limit``,
    ``rate_interval``, ``daily_limit``, ...); ``latency`` is given as ``"MEDIAN:P99"``.
    """

    def __init__(self, state_path: Path | None = None, **options: Any) -> None:
        if state_path is not None:
            options["state_path"] = str(state_path)
        self._process = subprocess.Popen(
            [sys.executable, "-c", _SERVE, json.dumps(options)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.url = self._process.stdout.readline().strip()
        if not self.url:
            self.stop()
            raise RuntimeError(f"the sandbox HubSpot process did not start ({options})")

    def max_in_flight(self) -> int:
        """The most requests the server was answering at the same time so far."""
        self._process.stdin.write("\n")
        self._process.stdin.flush()
        return int(self._process.stdout.readline())

    def stop(self) -> None:
        self._process.kill()
        self._process.wait()

    def __enter__(self) -> HubSpotProcess:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
