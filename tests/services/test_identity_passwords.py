"""Identity's password hashing: argon2id parameters from Settings, never below OWASP's
minimum, at most ``password_hash_concurrency`` hashes at once (each holds its memory),
and hashes made with other parameters still verify and are upgraded at login."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator

import grpc
import pytest
from argon2 import PasswordHasher, extract_parameters
from pydantic import ValidationError

from permis.identity.v1 import identity_pb2, identity_pb2_grpc
from services.common import migrations
from services.common.db import make_engine, make_sessionmaker
from services.common.grpc_server import start_server
from services.common.settings import Settings
from services.identity.passwords import PasswordHashing, hasher_from
from services.identity.server import definition
from services.identity.storage import AccountStore

SECRET = "a-test-secret-of-more-than-32-characters"
PASSWORD = "correct horse battery"


def light_hasher(time_cost: int = 1) -> PasswordHasher:
    """Cheap parameters for the tests (Settings would refuse them; a hasher is injected)."""
    return PasswordHasher(time_cost=time_cost, memory_cost=8192, parallelism=1)


class SlowHasher(PasswordHasher):
    """Counts the hashes running at once, each taking ``seconds``."""

    def __init__(self, seconds: float) -> None:
        super().__init__(time_cost=1, memory_cost=8192, parallelism=1)
        self.seconds = seconds
        self.running = 0
        self.most = 0
        self.finished = 0
        self._lock = threading.Lock()

    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        with self._lock:
            self.running += 1
            self.most = max(self.most, self.running)
        time.sleep(self.seconds)
        with self._lock:
            self.running -= 1
            self.finished += 1
        return super().hash(password, salt=salt)


def test_defaults_are_argon2_cffi_s_and_the_hasher_uses_them() -> None:
    settings = Settings()
    parameters = extract_parameters(hasher_from(settings).hash(PASSWORD))
    assert (parameters.memory_cost, parameters.time_cost, parameters.parallelism) == (
        settings.password_hash_memory_kib,
        settings.password_hash_time_cost,
        settings.password_hash_parallelism,
    )
    default = PasswordHasher()
    assert (default.memory_cost, default.time_cost, default.parallelism) == (65536, 3, 4)
    assert settings.password_hash_memory_kib == default.memory_cost
    assert settings.password_hash_concurrency >= 1


@pytest.mark.parametrize(
    "weak",
    [
        {"password_hash_memory_kib": 8192},
        {"password_hash_memory_kib": 19 * 1024, "password_hash_time_cost": 1},
        {"password_hash_time_cost": 0},
        {"password_hash_parallelism": 0},
        {"password_hash_concurrency": 0},
    ],
)
def test_settings_refuse_hashing_below_owasp_s_minimum(weak: dict[str, int]) -> None:
    with pytest.raises(ValidationError):
        Settings(**weak)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "accepted",
    [
        {"password_hash_memory_kib": 19 * 1024, "password_hash_time_cost": 2},
        {"password_hash_memory_kib": 46 * 1024, "password_hash_time_cost": 1},
    ],
)
def test_settings_accept_owasp_s_minimum(accepted: dict[str, int]) -> None:
    Settings(**accepted)  # type: ignore[arg-type]


async def test_at_most_concurrency_hashes_run_at_once() -> None:
    hasher = SlowHasher(0.05)
    hashing = PasswordHashing(hasher, concurrency=2)
    hashes = await asyncio.gather(*(hashing.hash(PASSWORD) for _ in range(8)))
    assert hasher.most == 2
    assert all([await hashing.verify(h, PASSWORD) for h in hashes])
    assert not await hashing.verify(hashes[0], "wrong password, long enough")
    assert not await hashing.verify("not an argon2 hash", PASSWORD)


async def test_a_cancelled_caller_keeps_its_slot_until_its_hash_ends() -> None:
    """A gRPC deadline cancels the handler, not the thread: the next hash must wait."""
    hasher = SlowHasher(0.3)
    hashing = PasswordHashing(hasher, concurrency=1)
    first = asyncio.ensure_future(hashing.hash(PASSWORD))
    await asyncio.sleep(0.05)
    first.cancel()
    await hashing.hash(PASSWORD)
    assert hasher.most == 1
    assert hasher.finished == 2


@pytest.fixture
async def engine_url(database_url: str) -> AsyncIterator[str]:
    engine = make_engine(database_url)
    await migrations.upgrade(engine, "identity")
    await engine.dispose()
    yield database_url


async def test_a_hash_with_older_parameters_verifies_and_is_upgraded_at_login(
    engine_url: str,
) -> None:
    engine = make_engine(engine_url)
    sessions = make_sessionmaker(engine)
    settings = Settings(session_secret=SECRET)
    old, new = light_hasher(), light_hasher(time_cost=2)

    async def serve(hasher: PasswordHasher) -> tuple[grpc.aio.Server, grpc.aio.Channel]:
        server, port = await start_server(
            [definition(sessions, settings, hasher=hasher)], "127.0.0.1:0"
        )
        return server, grpc.aio.insecure_channel(f"127.0.0.1:{port}")

    try:
        server, channel = await serve(old)
        account = await identity_pb2_grpc.IdentityServiceStub(channel).CreateAccount(
            identity_pb2.CreateAccountRequest(
                email="jeanne.rehash@exemple.fr",
                given_names="Jeanne",
                family_name="Martin",
                birth_date="2001-04-17",
                password=PASSWORD,
            )
        )
        await channel.close()
        await server.stop(None)

        server, channel = await serve(new)  # parameters changed, as after a new setting
        await identity_pb2_grpc.IdentityServiceStub(channel).Authenticate(
            identity_pb2.AuthenticateRequest(login=account.identifier, password=PASSWORD)
        )
        await channel.close()
        await server.stop(None)

        row = await AccountStore(sessions).by_id(account.account_id)
        assert row is not None
        assert extract_parameters(row.password_hash).time_cost == 2
        assert not new.check_needs_rehash(row.password_hash)
    finally:
        await engine.dispose()
