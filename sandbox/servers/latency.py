"""How long a sandbox takes to answer: a lognormal latency per request, seeded.

Real APIs answer in a few hundred milliseconds with a long tail; a sandbox on localhost answers
in one. :class:`Latency` gives each request a delay drawn from a lognormal with the given
median and 99th percentile, so a client that sends one request at a time is as slow here as it
would be against the vendor. The draws come from one seeded generator, so a run is repeatable
(up to the order in which concurrent requests draw).

>>> latency = Latency(median=0.4, p99=1.5, seed=7)
>>> round(sorted(latency.sample() for _ in range(10_001))[5_000], 2)
0.4
>>> Latency.parse("0.4:1.5")
Latency(median=0.4, p99=1.5, seed=0)
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import dataclass, field

#: The 99th percentile of the standard normal distribution.
Z99 = 2.3263478740408408


@dataclass
class Latency:
    """A lognormal delay per request: half the requests wait ``median`` seconds or less, 1% wait
    ``p99`` or more (``p99`` = ``median`` makes every delay the median)."""

    median: float
    p99: float
    seed: int = 0
    _rng: random.Random = field(init=False, repr=False, compare=False)
    _lock: threading.Lock = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not (0 < self.median <= self.p99 and math.isfinite(self.p99)):
            raise ValueError(
                f"latency needs 0 < median <= p99 seconds, got median={self.median} p99={self.p99}"
            )
        self._rng = random.Random(self.seed)
        self._lock = threading.Lock()

    @classmethod
    def parse(cls, text: str, seed: int = 0) -> Latency:
        """``"MEDIAN:P99"`` in seconds (``"0.4:1.5"``), or ``"MEDIAN"`` for a fixed delay."""
        median, _, p99 = text.partition(":")
        try:
            return cls(float(median), float(p99 or median), seed)
        except ValueError:
            raise ValueError(
                f"latency {text!r} is not MEDIAN:P99 in seconds (e.g. 0.4:1.5)"
            ) from None

    @property
    def sigma(self) -> float:
        return math.log(self.p99 / self.median) / Z99

    def sample(self) -> float:
        """One request's delay in seconds."""
        with self._lock:
            return self._rng.lognormvariate(math.log(self.median), self.sigma)
