"""Photo codes: pure rules, and the real gRPC service on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import grpc
import pytest

from permis.photocode.v1 import photocode_pb2, photocode_pb2_grpc
from services.common import migrations
from services.common.db import make_engine, make_sessionmaker
from services.common.errors import ErrorCode, PermisError
from services.common.grpc_server import start_server
from services.common.settings import Settings
from services.photocode import rules
from services.photocode.server import definition

BOOTH = "CABINE-TEST-0042"
T0 = datetime(2025, 8, 31, 9, 30, tzinfo=UTC)
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(64))
GIF = b"GIF89a" + bytes(32)
PDF = b"%PDF-1.7\n" + bytes(32)


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def refusal(call: pytest.ExceptionInfo[grpc.aio.AioRpcError]) -> PermisError:
    error = PermisError.from_rpc_error(call.value)
    assert error is not None, call.value
    return error


# ---- pure rules -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (JPEG, "image/jpeg"),
        (PNG, "image/png"),
        (GIF, None),
        (PDF, None),
        (b"", None),
        (b"\xff\xd8", None),
    ],
)
def test_sniff_image_by_magic_bytes(data: bytes, expected: str | None) -> None:
    assert rules.sniff_image(data) == expected


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", ErrorCode.EMPTY_FILE),
        (GIF, ErrorCode.UNSUPPORTED_FILE_TYPE),
        (JPEG + bytes(1000), ErrorCode.FILE_TOO_LARGE),
    ],
)
def test_check_image_refusals(data: bytes, code: ErrorCode) -> None:
    with pytest.raises(PermisError) as caught:
        rules.check_image(data, "photo", max_bytes=1000)
    assert caught.value.code is code
    assert caught.value.details == {"field": "photo"}


@pytest.mark.parametrize(
    ("issued", "expires"),
    [
        (datetime(2025, 1, 15, 8, tzinfo=UTC), datetime(2025, 7, 15, 8, tzinfo=UTC)),
        (datetime(2025, 8, 31, 8, tzinfo=UTC), datetime(2026, 2, 28, 8, tzinfo=UTC)),
        (datetime(2023, 8, 31, 8, tzinfo=UTC), datetime(2024, 2, 29, 8, tzinfo=UTC)),
        (datetime(2025, 12, 31, 8, tzinfo=UTC), datetime(2026, 6, 30, 8, tzinfo=UTC)),
        (datetime(2025, 7, 1, 0, tzinfo=UTC), datetime(2026, 1, 1, 0, tzinfo=UTC)),
    ],
)
def test_codes_are_valid_six_calendar_months(issued: datetime, expires: datetime) -> None:
    assert rules.expiry_of(issued) == expires


def test_code_format_and_normalisation() -> None:
    codes = {rules.new_code() for _ in range(200)}
    assert len(codes) == 200
    assert all(rules.is_well_formed(c) for c in codes)
    assert rules.normalise_code(" abcd-efgh ijkl-mnop-qrst-uv ") == "ABCDEFGHIJKLMNOPQRSTUV"
    assert not rules.is_well_formed("ABCDEFGHIJKLMNOPQRSTU")  # 21
    assert not rules.is_well_formed("ABCDEFGHIJKLMNOPQRSTU_")


@pytest.mark.parametrize(
    ("consumed_by", "now", "state"),
    [
        (None, T0 - timedelta(microseconds=1), rules.CodeState.USABLE),
        (None, T0, rules.CodeState.EXPIRED),
        (None, T0 + timedelta(days=1), rules.CodeState.EXPIRED),
        ("2506ABCDEFGH", T0 - timedelta(days=1), rules.CodeState.USED),
        ("2506ABCDEFGH", T0 + timedelta(days=1), rules.CodeState.USED),
    ],
)
def test_code_state(consumed_by: str | None, now: datetime, state: rules.CodeState) -> None:
    # The code expires at T0: valid strictly before that instant.
    assert rules.state_of(consumed_by, T0, now) is state


# ---- the gRPC service -----------------------------------------------------------------


@dataclass
class PhotoCodes:
    stub: photocode_pb2_grpc.PhotoCodeServiceStub
    clock: Clock

    async def issue(self) -> photocode_pb2.PhotoCode:
        return await self.stub.IssueCode(
            photocode_pb2.IssueCodeRequest(booth_id=BOOTH, photo=JPEG, signature=PNG)
        )

    async def consume(self, code: str, request_number: str) -> photocode_pb2.PhotoCode:
        return await self.stub.ConsumeCode(
            photocode_pb2.ConsumeCodeRequest(code=code, request_number=request_number)
        )


@pytest.fixture
async def photocodes(database_url: str) -> AsyncIterator[PhotoCodes]:
    engine = make_engine(database_url)
    await migrations.upgrade(engine, "photocode")
    clock = Clock(T0)
    settings = Settings(approved_booths=[BOOTH, "CABINE-DEMO-0001"], max_upload_bytes=4096)
    server, port = await start_server(
        [definition(make_sessionmaker(engine), settings, clock=clock)], "127.0.0.1:0"
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield PhotoCodes(photocode_pb2_grpc.PhotoCodeServiceStub(channel), clock)
    finally:
        await channel.close()
        await server.stop(None)
        await engine.dispose()


async def test_issue_check_and_portrait(photocodes: PhotoCodes) -> None:
    code = await photocodes.issue()
    assert rules.is_well_formed(code.code)
    assert code.booth_id == BOOTH
    assert datetime.fromisoformat(code.issued_at) == T0
    assert datetime.fromisoformat(code.expires_at) == datetime(2026, 2, 28, 9, 30, tzinfo=UTC)
    assert code.consumed_by == "" and code.consumed_at == ""
    assert code.photo_sha256 == hashlib.sha256(JPEG).hexdigest()

    typed = "-".join(code.code[i : i + 4] for i in range(0, 22, 4)).lower()
    checked = await photocodes.stub.CheckCode(photocode_pb2.CheckCodeRequest(code=typed))
    assert checked == code

    portrait = await photocodes.stub.GetPortrait(photocode_pb2.CheckCodeRequest(code=code.code))
    assert (portrait.code, portrait.photo, portrait.signature) == (code.code, JPEG, PNG)
    assert (portrait.photo_content_type, portrait.signature_content_type) == (
        "image/jpeg",
        "image/png",
    )
    # Two codes for the same pictures are still two codes.
    assert (await photocodes.issue()).code != code.code


@pytest.mark.parametrize(
    ("booth", "photo", "signature", "status", "code"),
    [
        (
            "CABINE-PIRATE",
            JPEG,
            PNG,
            grpc.StatusCode.PERMISSION_DENIED,
            ErrorCode.BOOTH_NOT_APPROVED,
        ),
        ("", JPEG, PNG, grpc.StatusCode.PERMISSION_DENIED, ErrorCode.BOOTH_NOT_APPROVED),
        (BOOTH, GIF, PNG, grpc.StatusCode.INVALID_ARGUMENT, ErrorCode.UNSUPPORTED_FILE_TYPE),
        (BOOTH, JPEG, PDF, grpc.StatusCode.INVALID_ARGUMENT, ErrorCode.UNSUPPORTED_FILE_TYPE),
        (BOOTH, JPEG, b"", grpc.StatusCode.INVALID_ARGUMENT, ErrorCode.EMPTY_FILE),
        (
            BOOTH,
            PNG + bytes(5000),
            JPEG,
            grpc.StatusCode.INVALID_ARGUMENT,
            ErrorCode.FILE_TOO_LARGE,
        ),
    ],
)
async def test_issue_refusals(
    photocodes: PhotoCodes,
    booth: str,
    photo: bytes,
    signature: bytes,
    status: grpc.StatusCode,
    code: ErrorCode,
) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await photocodes.stub.IssueCode(
            photocode_pb2.IssueCodeRequest(booth_id=booth, photo=photo, signature=signature)
        )
    assert caught.value.code() == status
    assert refusal(caught).code is code


async def test_unknown_codes(photocodes: PhotoCodes) -> None:
    for code in ("A" * 22, "trop court", ""):
        for call in (
            photocodes.stub.CheckCode(photocode_pb2.CheckCodeRequest(code=code)),
            photocodes.stub.GetPortrait(photocode_pb2.CheckCodeRequest(code=code)),
            photocodes.consume(code, "2506ABCDEFGH"),
        ):
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
            assert caught.value.code() == grpc.StatusCode.NOT_FOUND
            assert refusal(caught).code is ErrorCode.PHOTO_CODE_UNKNOWN


async def test_consume_once_and_retry_for_the_same_request(photocodes: PhotoCodes) -> None:
    code = (await photocodes.issue()).code
    photocodes.clock.now = T0 + timedelta(days=3)
    spent = await photocodes.consume(code.lower(), "2509AAAAAAAA")
    assert spent.consumed_by == "2509AAAAAAAA"
    assert datetime.fromisoformat(spent.consumed_at) == T0 + timedelta(days=3)

    # The workflow retries: same request, same answer, even once the code has expired.
    photocodes.clock.now = T0 + timedelta(days=400)
    assert await photocodes.consume(code, "2509AAAAAAAA") == spent

    for call in (
        photocodes.consume(code, "2509BBBBBBBB"),
        photocodes.stub.CheckCode(photocode_pb2.CheckCodeRequest(code=code)),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert refusal(caught).code is ErrorCode.PHOTO_CODE_USED
    # The portrait stays available for the attestation and the title.
    portrait = await photocodes.stub.GetPortrait(photocode_pb2.CheckCodeRequest(code=code))
    assert portrait.photo == JPEG


async def test_expired_codes_cannot_be_checked_or_spent(photocodes: PhotoCodes) -> None:
    code = await photocodes.issue()
    photocodes.clock.now = datetime.fromisoformat(code.expires_at) - timedelta(seconds=1)
    await photocodes.stub.CheckCode(photocode_pb2.CheckCodeRequest(code=code.code))
    photocodes.clock.now = datetime.fromisoformat(code.expires_at)
    for call in (
        photocodes.stub.CheckCode(photocode_pb2.CheckCodeRequest(code=code.code)),
        photocodes.consume(code.code, "2603AAAAAAAA"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await call
        assert caught.value.code() == grpc.StatusCode.FAILED_PRECONDITION
        assert refusal(caught).code is ErrorCode.PHOTO_CODE_EXPIRED


async def test_consume_needs_a_request_number(photocodes: PhotoCodes) -> None:
    code = (await photocodes.issue()).code
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await photocodes.consume(code, "  ")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refusal(caught).code is ErrorCode.INVALID_FIELD
    # The refused call did not spend the code.
    await photocodes.stub.CheckCode(photocode_pb2.CheckCodeRequest(code=code))


async def test_concurrent_consumers_exactly_one_wins(photocodes: PhotoCodes) -> None:
    for _ in range(3):
        code = (await photocodes.issue()).code
        requests = [f"2509RACE{n:04d}" for n in range(10)]
        results = await asyncio.gather(
            *(photocodes.consume(code, number) for number in requests), return_exceptions=True
        )
        winners = [r for r in results if isinstance(r, photocode_pb2.PhotoCode)]
        losers = [r for r in results if isinstance(r, grpc.aio.AioRpcError)]
        assert len(winners) == 1, results
        assert len(losers) == 9, results
        assert {PermisError.from_rpc_error(e).code for e in losers} == {  # type: ignore[union-attr]
            ErrorCode.PHOTO_CODE_USED
        }
        winner = winners[0].consumed_by
        assert winner in requests
        # The stored state agrees, and only the winner may repeat its call.
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await photocodes.stub.CheckCode(photocode_pb2.CheckCodeRequest(code=code))
        assert refusal(caught).code is ErrorCode.PHOTO_CODE_USED
        assert (await photocodes.consume(code, winner)).consumed_by == winner
