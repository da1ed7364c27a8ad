"""A small in-process rate limiter (token buckets) for unauthenticated endpoints.

One gateway replica keeps its own buckets; behind several replicas the limit is per
replica, which still caps guessing. docs/OPERATIONS.md says where to move it (ingress).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from dataclasses import dataclass

from services.common.errors import ErrorCode, PermisError


@dataclass
class Bucket:
    tokens: float
    updated: float


class RateLimiter:
    """``capacity`` calls at once, refilled at ``per_minute`` calls a minute, per key."""

    def __init__(self, capacity: int, per_minute: float, max_keys: int = 100_000) -> None:
        self.capacity = capacity
        self.rate = per_minute / 60.0
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()

    def take(self, key: str, now: float | None = None) -> None:
        """Spend one token for ``key`` or raise RATE_LIMITED with the wait in seconds."""
        moment = time.monotonic() if now is None else now
        bucket = self._buckets.pop(key, None) or Bucket(float(self.capacity), moment)
        bucket.tokens = min(self.capacity, bucket.tokens + (moment - bucket.updated) * self.rate)
        bucket.updated = moment
        self._buckets[key] = bucket  # most recent last: the oldest are forgotten first
        while len(self._buckets) > self.max_keys:
            self._buckets.popitem(last=False)
        if bucket.tokens < 1:
            wait = (1 - bucket.tokens) / self.rate
            raise PermisError(ErrorCode.RATE_LIMITED, details={"retry_after": f"{wait:.0f}"})
        bucket.tokens -= 1
