"""Who is calling: the session token checked by identity, remembered for a few seconds.

Every candidate call carries a session token that only identity can fully check (the
signature, and that the session was not revoked). Asking identity on each call costs a
gRPC round trip and a database read per request, which dominated the cost of a status
read. The gateway therefore keeps identity's answer for ``session_cache_seconds``
(docs/DECISIONS.md, "Sessions remembered by the gateway"): a logout through this gateway
forgets the token at once, a password reset through it forgets every session; a
revocation made elsewhere (another gateway replica, an operator) takes effect within
that delay.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

from permis.identity.v1 import identity_pb2

Verify = Callable[[str], Awaitable[identity_pb2.Account]]


class SessionCache:
    """Token → account, for ``ttl`` seconds, at most ``capacity`` tokens (oldest out).

    Only successful checks are kept: a refused token is asked again, so the cache never
    makes a wrong token right, and holds only tokens identity accepted. Keys are the
    tokens' SHA-256, so a memory dump does not hand out usable tokens."""

    def __init__(
        self,
        verify: Verify,
        ttl: float,
        capacity: int = 50_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._verify = verify
        self._ttl = ttl
        self._capacity = capacity
        self._clock = clock
        self._entries: OrderedDict[bytes, tuple[float, identity_pb2.Account]] = OrderedDict()

    @staticmethod
    def _key(token: str) -> bytes:
        return hashlib.sha256(token.encode()).digest()

    async def account(self, token: str) -> identity_pb2.Account:
        if self._ttl <= 0:
            return await self._verify(token)
        key = self._key(token)
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return entry[1]
        account = await self._verify(token)  # raises for a refused token
        self._entries[key] = (self._clock() + self._ttl, account)
        self._entries.move_to_end(key)
        while len(self._entries) > self._capacity:
            self._entries.popitem(last=False)
        return account

    def forget(self, token: str) -> None:
        """The session ended here (logout): the next call with it asks identity."""
        self._entries.pop(self._key(token), None)

    def clear(self) -> None:
        """Sessions were closed that this gateway cannot name (a password reset)."""
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
