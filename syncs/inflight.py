"""Several batches in flight at once, their answers handled by one thread.

Record APIs answer a batch in a few hundred milliseconds, so one request at a time uses a
fraction of the rate limit (against a sandbox answering after 0.4 s: 174 of 1,900 contacts/s).
:class:`InFlight` sends up to ``limit`` batches at once from a thread pool and hands each answer
to its ``done`` callback *in the thread that submitted it*, so the state file has one writer.
After each round of answers it calls ``flush`` once, before anything new goes out: the engine
commits every batch answered in that round in one transaction (a commit costs ~50 ms, as much
as sending a batch), so at most ``limit`` batches are ever sent and not yet committed.

>>> handled, rounds = [], []
>>> with InFlight(limit=2, flush=lambda: rounds.append(len(handled))) as flight:
...     for n in range(4):
...         flight.submit(lambda n=n: n * n, handled.append)
>>> sorted(handled), rounds[-1]
([0, 1, 4, 9], 4)
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import Any


class InFlight:
    """At most ``limit`` calls running at once; :meth:`submit` blocks (handling answers) while
    that many are out. Leaving the ``with`` block waits for the rest (:meth:`drain`).

    A ``done`` callback may submit more calls (a list addition after its write): they start
    after the round's ``flush``. A call that raises an :class:`Exception` stops the flight: no
    new call starts (later submissions are ignored), the calls still out are waited for and
    handled and ``flush`` runs, so what they delivered is committed; then the first error is
    raised. Anything else (``KeyboardInterrupt``, a crash) is raised at once: the calls still out
    and the answers not flushed are dropped, their rows stay dirty and the next run sends them.
    """

    def __init__(self, limit: int, flush: Callable[[], None] = lambda: None) -> None:
        if limit < 1:
            raise ValueError(f"at least one call must be in flight, got {limit}")
        self.limit = limit
        self.flush = flush
        self._pool = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="sync-batch")
        self._out: dict[Future, Callable[[Any], None]] = {}
        self._queued: deque[tuple[Callable[[], Any], Callable[[Any], None]]] = deque()
        self._handling = False
        self._stopped = False

    def submit(self, call: Callable[[], Any], done: Callable[[Any], None]) -> None:
        """Run ``call()`` in the pool; ``done(result)`` runs here once it answered."""
        if self._stopped:
            return
        self._queued.append((call, done))
        if not self._handling:  # from a done callback: started after the round's flush
            self._start_queued()

    def drain(self) -> None:
        """Wait for every call out (and every call their answers submit), then flush."""
        while self._queued or self._out:
            self._start_queued()
            if self._out:
                self._handle_round()
        self.flush()

    def _start_queued(self) -> None:
        while self._queued:
            if len(self._out) >= self.limit:
                self._handle_round()
                continue
            call, done = self._queued.popleft()
            self._out[self._pool.submit(call)] = done

    def _handle_round(self) -> None:
        """Handle every answer that has come, then flush once."""
        finished, _ = wait(self._out, return_when=FIRST_COMPLETED)
        self._handling = True
        try:
            for future in finished:
                done = self._out.pop(future)
                error = future.exception()
                if error is not None:
                    self._stop(error)
                done(future.result())
        finally:
            self._handling = False
        self.flush()

    def _stop(self, error: BaseException) -> None:
        """After a failed call: handle the answers of the others still out (ignoring their
        errors) and flush, unless it was a crash; then raise ``error``."""
        self._stopped = True
        self._queued.clear()
        if isinstance(error, Exception):
            while self._out:
                finished, _ = wait(self._out, return_when=FIRST_COMPLETED)
                for future in finished:
                    done = self._out.pop(future)
                    if future.exception() is None:
                        done(future.result())
            self._queued.clear()
            self.flush()
        raise error

    def __enter__(self) -> InFlight:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        try:
            if exc_type is None:
                self.drain()
        finally:
            # On an error the calls still out are not waited for (their answers are dropped).
            self._stopped = True
            self._pool.shutdown(wait=exc_type is None, cancel_futures=True)
