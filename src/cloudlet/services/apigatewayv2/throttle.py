"""Token buckets for stage and route throttling (``ThrottlingRateLimit`` / ``ThrottlingBurstLimit``)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class TokenBucket:
    rate: float
    burst: float
    tokens: float
    updated: float

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False


class Throttler:
    """One bucket per key (api, stage, route); a bucket is rebuilt when its limits change."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[tuple[str, ...], TokenBucket] = {}

    def allow(self, key: tuple[str, ...], rate: float | None, burst: int | None) -> bool:
        """False when the request must be refused with 429."""
        if rate is None and burst is None:
            return True
        rate_value = float(rate) if rate is not None else float("inf")
        burst_value = float(burst) if burst is not None else max(rate_value, 1.0)
        if rate_value <= 0 or burst_value <= 0:
            return False
        if rate_value == float("inf"):
            return True
        now = self.clock()
        bucket = self._buckets.get(key)
        if bucket is None or bucket.rate != rate_value or bucket.burst != burst_value:
            bucket = self._buckets[key] = TokenBucket(rate_value, burst_value, burst_value, now)
        return bucket.take(now)
