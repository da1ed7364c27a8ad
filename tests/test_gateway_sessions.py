"""The gateway's memory of identity's session checks (services/gateway/sessions.py)."""

from __future__ import annotations

import pytest

from permis.identity.v1 import identity_pb2
from services.common.errors import ErrorCode, PermisError
from services.gateway.sessions import SessionCache


class Identity:
    """Stands for identity's VerifySession: accepts the tokens it was given, counts calls."""

    def __init__(self, accepted: set[str]) -> None:
        self.accepted = accepted
        self.calls: list[str] = []

    async def verify(self, token: str) -> identity_pb2.Account:
        self.calls.append(token)
        if token not in self.accepted:
            raise PermisError(ErrorCode.NOT_AUTHENTICATED)
        return identity_pb2.Account(account_id=f"account-of-{token}")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_an_accepted_token_is_asked_once_per_delay() -> None:
    identity, clock = Identity({"a"}), Clock()
    cache = SessionCache(identity.verify, ttl=10, clock=clock)
    assert (await cache.account("a")).account_id == "account-of-a"
    clock.now += 9.9
    assert (await cache.account("a")).account_id == "account-of-a"
    assert identity.calls == ["a"]
    clock.now += 0.2  # past the delay: identity is asked again
    await cache.account("a")
    assert identity.calls == ["a", "a"]


async def test_a_refused_token_is_never_remembered() -> None:
    identity = Identity(set())
    cache = SessionCache(identity.verify, ttl=10, clock=Clock())
    for _ in range(2):
        with pytest.raises(PermisError) as refused:
            await cache.account("forged")
        assert refused.value.code is ErrorCode.NOT_AUTHENTICATED
    assert identity.calls == ["forged", "forged"] and len(cache) == 0


async def test_revocation_after_the_delay_and_at_once_on_forget_or_clear() -> None:
    identity, clock = Identity({"a", "b"}), Clock()
    cache = SessionCache(identity.verify, ttl=10, clock=clock)
    await cache.account("a")
    await cache.account("b")
    identity.accepted.clear()  # identity revoked both sessions
    cache.forget("a")  # logged out through this gateway
    with pytest.raises(PermisError):
        await cache.account("a")
    assert (await cache.account("b")).account_id == "account-of-b"  # within the delay
    cache.clear()  # a password reset through this gateway
    with pytest.raises(PermisError):
        await cache.account("b")


async def test_capacity_drops_the_oldest_and_zero_delay_disables() -> None:
    identity = Identity({"a", "b", "c"})
    cache = SessionCache(identity.verify, ttl=10, capacity=2, clock=Clock())
    for token in ("a", "b", "c"):
        await cache.account(token)
    assert len(cache) == 2
    await cache.account("a")  # dropped: asked again
    assert identity.calls == ["a", "b", "c", "a"]
    uncached = SessionCache(identity.verify, ttl=0, clock=Clock())
    await uncached.account("a")
    await uncached.account("a")
    assert identity.calls[-2:] == ["a", "a"] and len(uncached) == 0
