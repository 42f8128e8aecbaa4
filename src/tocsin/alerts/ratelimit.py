"""A per-integration token bucket, so one runaway sender cannot starve the others.

In-process: with N instances the effective limit is N times this. It exists to answer 429
(which senders back off on), not to meter exactly.
"""

from __future__ import annotations

import os
import threading
import time


class TokenBuckets:
    def __init__(self, rate_per_second: float, burst: float) -> None:
        self.rate, self.burst = rate_per_second, burst
        self._buckets: dict[int, tuple[float, float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: int, cost: float = 1.0) -> bool:
        with self._lock:
            tokens, stamp = self._buckets.get(key, (self.burst, time.monotonic()))
            current = time.monotonic()
            tokens = min(self.burst, tokens + (current - stamp) * self.rate)
            allowed = tokens >= cost
            self._buckets[key] = (tokens - cost if allowed else tokens, current)
            return allowed


def from_environment() -> TokenBuckets:
    """TOCSIN_INGEST_RATE requests per second per integration (default 1000), burst twice that."""
    rate = float(os.environ.get("TOCSIN_INGEST_RATE", "1000"))
    return TokenBuckets(rate, float(os.environ.get("TOCSIN_INGEST_BURST", str(rate * 2))))
