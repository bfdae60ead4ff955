"""Pace requests by the destination's own signals instead of running into its rate limit.

HubSpot allows a number of requests per rolling window (190 per 10 s for Professional private
apps) and says so on every answer: ``X-HubSpot-RateLimit-Max``, ``-Remaining`` and
``-Interval-Milliseconds``. :class:`RateLimiter` keeps the times of its own recent requests,
learns the window from those headers, and waits before a request that would exceed it. When the
destination reports fewer requests left than our own count says (another app shares the
budget), it waits for our oldest request to leave the window.

One limiter is the single budget of every thread sending to the same account: a sync with
several batches in flight shares it between its workers, and a thread waiting for room does not
hold the lock, so answers arriving meanwhile re-stamp their requests before it looks again.
"""

from __future__ import annotations

import bisect
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping


class RateLimiter:
    """A rolling-window pacer.

    >>> clock = [0.0]
    >>> limiter = RateLimiter(2, 10.0, clock=lambda: clock[0], sleep=lambda s: clock.append(
    ...     clock.pop() + s))
    >>> [limiter.acquire() for _ in range(3)]  # the third waits for the first to age out
    [0.0, 0.0, 10.05]
    >>> limiter.last_wait
    10.05
    """

    #: Extra wait after the oldest request leaves the window: the server stamps a request a
    #: little after we send it, so leaving at exactly +interval would risk a 429.
    margin = 0.05

    def __init__(
        self,
        limit: int | None,
        interval: float,
        *,
        headroom: int = 0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.limit = limit
        self.interval = interval
        self.headroom = headroom
        self._clock = clock
        self._sleep = sleep
        self._sent: deque[float] = deque()
        self._blocked_until = 0.0
        self._lock = threading.Lock()
        self._local = threading.local()

    @property
    def last_wait(self) -> float:
        """Seconds this thread's latest :meth:`acquire` waited."""
        return getattr(self._local, "last_wait", 0.0)

    def acquire(self) -> float:
        """Wait until one more request fits the window and record it; returns the time it was
        recorded at (pass it to :meth:`answered`). The seconds waited are in ``last_wait``."""
        waited = 0.0
        while True:
            with self._lock:
                now = self._clock()
                while self._sent and now - self._sent[0] >= self.interval:
                    self._sent.popleft()
                wait = max(0.0, self._blocked_until - now)
                if self.limit is not None and len(self._sent) >= max(1, self.limit - self.headroom):
                    wait = max(wait, self._sent[0] + self.interval + self.margin - now)
                if wait <= 0:
                    self._sent.append(now)
                    self._local.last_wait = waited
                    return now
            self._sleep(wait)  # outside the lock: other threads' answers still get recorded
            waited += wait

    #: How long after we stamp a request the server has counted it, at most. A request is
    #: re-stamped when its answer comes, or at ``sent_at + send_slack`` when the answer is later:
    #: the server counts a request on arrival and spends the rest of its latency answering, so
    #: waiting for slow answers (HubSpot takes 0.2-1.5 s) would stretch every window by a round
    #: trip. The slack covers a busy client's delay between stamping and sending.
    send_slack = 0.25

    def answered(self, sent_at: float) -> None:
        """Re-stamp a request with when the server counted it, at the latest: its answer's time,
        or ``send_slack`` after it was sent, whichever came first. Our window must not free its
        slot earlier than the server's does (under load the gap exceeds the margin)."""
        with self._lock:
            now = min(self._clock(), sent_at + self.send_slack)
            try:
                index = len(self._sent) - 1 - list(reversed(self._sent)).index(sent_at)
            except ValueError:
                return  # already aged out
            del self._sent[index]
            bisect.insort(self._sent, now)

    def observe(self, headers: Mapping[str, str] | None) -> None:
        """Learn the window and what is left of it from an answer's headers."""
        if not headers:
            return
        lowered = {k.lower(): v for k, v in headers.items()}
        limit = _int(lowered.get("x-hubspot-ratelimit-max"))
        interval_ms = _int(lowered.get("x-hubspot-ratelimit-interval-milliseconds"))
        remaining = _int(lowered.get("x-hubspot-ratelimit-remaining"))
        with self._lock:
            if limit:
                self.limit = limit
            if interval_ms:
                self.interval = interval_ms / 1000
            if remaining is not None and remaining <= self.headroom:
                now = self._clock()
                oldest = self._sent[0] if self._sent else now
                self._blocked_until = max(self._blocked_until, oldest + self.interval + self.margin)

    def observe_window(
        self, *, limit: int | None, remaining: int | None, reset_in: float | None
    ) -> None:
        """Learn from an API that counts requests in fixed windows and says when the current one
        ends (Braze: ``X-RateLimit-Limit``, ``-Remaining``, ``-Reset``): ``limit`` requests per
        window, ``remaining`` left in it, ``reset_in`` seconds until it starts again. With no
        room left (``remaining`` at most the headroom) nothing is sent before the reset.

        >>> clock = [100.0]
        >>> limiter = RateLimiter(3000, 3.0, clock=lambda: clock[0])
        >>> limiter.observe_window(limit=10, remaining=0, reset_in=1.5)
        >>> limiter.limit, round(limiter._blocked_until - clock[0], 2)
        (10, 1.55)
        """
        with self._lock:
            if limit:
                self.limit = limit
            if remaining is not None and remaining <= self.headroom and reset_in is not None:
                until = self._clock() + max(0.0, reset_in) + self.margin
                self._blocked_until = max(self._blocked_until, until)

    def wait_hint(self) -> float:
        """Seconds until the window has room again (for a 429 without ``Retry-After``)."""
        with self._lock:
            now = self._clock()
            if not self._sent:
                return 0.0
            return max(0.0, self._sent[0] + self.interval + self.margin - now)


def _int(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


_shared: dict[str, RateLimiter] = {}
_shared_lock = threading.Lock()


def shared_limiter(account: str, limit: int, interval: float, headroom: int) -> RateLimiter:
    """The one pacer of ``account`` (a destination's endpoint) in this process, made with
    ``limit`` requests per ``interval`` seconds on first use: syncs to the same account, one
    after another or side by side, share its budget."""
    with _shared_lock:
        if account not in _shared:
            _shared[account] = RateLimiter(limit, interval, headroom=headroom)
        return _shared[account]
