"""The rate-limit pacer is one budget for every thread that sends to the same account."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

from syncs.pacing import RateLimiter


def most_in_any_window(stamps: list[float], interval: float) -> int:
    stamps = sorted(stamps)
    return max(sum(1 for t in stamps[i:] if t - s < interval) for i, s in enumerate(stamps))


def test_eight_threads_never_exceed_the_window_together():
    limiter = RateLimiter(5, 0.3)
    sent: list[float] = []
    lock = threading.Lock()

    def send(_):
        stamp = limiter.acquire()
        with lock:
            sent.append(time.monotonic())
        time.sleep(0.01)  # the request's round trip
        limiter.answered(stamp)

    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(send, range(20)))
    # 20 requests at 5 per 0.3 s: the last 15 wait for three windows to roll
    assert time.monotonic() - started >= 0.9
    assert most_in_any_window(sent, 0.3) <= 5


def test_a_waiting_thread_does_not_hold_up_answers():
    limiter = RateLimiter(1, 0.5)
    first = limiter.acquire()
    waiter = threading.Thread(target=limiter.acquire)
    waiter.start()  # waits ~0.55 s for the window to roll
    time.sleep(0.05)
    started = time.monotonic()
    limiter.answered(first)  # re-stamping must not wait for the sleeping thread
    limiter.observe({"X-HubSpot-RateLimit-Remaining": "3"})
    assert time.monotonic() - started < 0.05
    waiter.join()


def test_a_request_keeps_its_slot_from_its_answer_or_the_send_slack_whichever_is_first():
    """The server counts a request when it arrives: an answer 1.5 s later does not mean it was
    counted 1.5 s late, but a busy client may send up to ``send_slack`` after stamping."""
    clock = [0.0]
    limiter = RateLimiter(
        3, 10.0, clock=lambda: clock[0], sleep=lambda s: clock.append(clock.pop() + s)
    )
    slow, _unanswered, quick = limiter.acquire(), limiter.acquire(), limiter.acquire()
    clock[0] = 0.1
    limiter.answered(quick)  # answered within the slack: counted by its answer, 0.1
    clock[0] = 1.5
    limiter.answered(slow)  # answered after 1.5 s: counted at 0 + send_slack = 0.25 at most
    assert limiter.acquire() == 10.05  # the unanswered request's slot frees first
    assert limiter.acquire() == 10.15  # then quick's, from its answer
    assert limiter.acquire() == 10.3  # then slow's, from the send slack, not from its answer
    assert round(limiter.last_wait, 2) == 0.15
