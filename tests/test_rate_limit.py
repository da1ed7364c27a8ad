"""The gateway's token buckets (pure: the clock is passed in)."""

from __future__ import annotations

import pytest

from services.common.errors import ErrorCode, PermisError
from services.gateway.rate_limit import RateLimiter


def test_capacity_then_refusal_then_refill() -> None:
    limiter = RateLimiter(capacity=3, per_minute=6)  # one token every 10 s
    for _ in range(3):
        limiter.take("a", now=0.0)
    with pytest.raises(PermisError) as refused:
        limiter.take("a", now=1.0)
    assert refused.value.code is ErrorCode.RATE_LIMITED
    assert refused.value.details["retry_after"] == "9"
    limiter.take("b", now=1.0)  # other keys are independent
    limiter.take("a", now=11.0)  # refilled


def test_forgets_the_oldest_keys() -> None:
    limiter = RateLimiter(capacity=1, per_minute=1, max_keys=2)
    limiter.take("a", now=0.0)
    limiter.take("b", now=0.0)
    limiter.take("c", now=0.0)
    limiter.take("a", now=0.0)  # "a" was forgotten: a fresh bucket
    with pytest.raises(PermisError):
        limiter.take("c", now=0.0)
