"""argon2id password hashing for the identity service, with bounded memory.

Each hash or verification holds the hash's memory cost (64 MiB by default) for its whole
run, so N at once take N times that: with five candidates activating or logging in
together, identity peaked at 437 MiB. ``PasswordHashing`` lets at most ``concurrency``
run at once (in threads, so the event loop keeps answering); the others wait their
turn, which on a machine with as many cores costs little throughput.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from typing import Any, TypeVar

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from services.common.settings import Settings

T = TypeVar("T")


def hasher_from(settings: Settings) -> PasswordHasher:
    """An argon2id hasher with the configured cost (argon2-cffi's defaults unless set)."""
    return PasswordHasher(
        time_cost=settings.password_hash_time_cost,
        memory_cost=settings.password_hash_memory_kib,
        parallelism=settings.password_hash_parallelism,
    )


class PasswordHashing:
    """Hash and verify off the event loop, at most ``concurrency`` at a time."""

    def __init__(self, hasher: PasswordHasher, concurrency: int) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be 1 or more")
        self._hasher = hasher
        self._slots = asyncio.Semaphore(concurrency)

    async def _bounded(self, work: Callable[..., T], *args: str) -> T:
        """``work(*args)`` in a thread once a slot is free. The slot is held until the
        thread ends, even if the caller is cancelled meanwhile (a gRPC deadline): a
        thread cannot be stopped, and its hash still holds its memory."""
        await self._slots.acquire()
        try:
            running = asyncio.get_running_loop().run_in_executor(
                None, functools.partial(work, *args)
            )
        except BaseException:
            self._slots.release()
            raise
        running.add_done_callback(self._release)
        return await asyncio.shield(running)

    def _release(self, done: asyncio.Future[Any]) -> None:
        self._slots.release()
        if not done.cancelled():
            done.exception()  # retrieved: a cancelled caller's failure is not logged

    async def hash(self, password: str) -> str:
        return await self._bounded(self._hasher.hash, password)

    async def verify(self, stored: str, password: str) -> bool:
        """True when ``password`` matches ``stored``; False on a mismatch or a bad hash."""
        try:
            return await self._bounded(self._hasher.verify, stored, password)
        except (VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, stored: str) -> bool:
        """True when ``stored`` was made with other parameters than the current ones."""
        return self._hasher.check_needs_rehash(stored)

    def hash_now(self, password: str) -> str:
        """Blocking, unbounded: only before serving (the decoy hash at start-up)."""
        return self._hasher.hash(password)
