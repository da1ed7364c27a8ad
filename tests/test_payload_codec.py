"""The payload codec: AES-256-GCM round trip, key rotation, tampering, old payloads."""

from __future__ import annotations

import base64
import os

import pytest
from cryptography.exceptions import InvalidTag
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter

from services.common.payload_codec import (
    ENCODING,
    KEY_ID_METADATA,
    EncryptionCodec,
    PayloadKeyError,
    data_converter,
)
from services.common.settings import Settings


def key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def plain(text: str = '{"name":"Dupont"}') -> Payload:
    return Payload(metadata={"encoding": b"json/plain"}, data=text.encode())


async def test_round_trip_hides_the_content_and_names_the_key() -> None:
    codec = EncryptionCodec.from_settings(Settings(payload_key=key(), payload_key_id="k1"))
    (sealed,) = await codec.encode([plain()])
    assert sealed.metadata["encoding"] == ENCODING
    assert sealed.metadata[KEY_ID_METADATA] == b"k1"
    assert b"Dupont" not in sealed.SerializeToString()
    assert await codec.decode([sealed]) == [plain()]
    # A fresh nonce each time: the same payload never gives the same ciphertext.
    assert (await codec.encode([plain()]))[0].data != sealed.data


async def test_unencrypted_payloads_decode_as_they_are() -> None:
    codec = EncryptionCodec.from_settings(Settings())
    assert await codec.decode([plain()]) == [plain()]


async def test_rotation_keeps_reading_old_payloads() -> None:
    old, new = key(), key()
    (sealed,) = await EncryptionCodec.from_settings(
        Settings(payload_key=old, payload_key_id="2025")
    ).encode([plain()])
    rotated = EncryptionCodec.from_settings(
        Settings(payload_key=new, payload_key_id="2026", payload_previous_keys={"2025": old})
    )
    assert await rotated.decode([sealed]) == [plain()]
    assert (await rotated.encode([plain()]))[0].metadata[KEY_ID_METADATA] == b"2026"
    # Without the old key, the payload is refused rather than misread.
    forgot = EncryptionCodec.from_settings(Settings(payload_key=new, payload_key_id="2026"))
    with pytest.raises(PayloadKeyError):
        await forgot.decode([sealed])


async def test_tampering_is_detected() -> None:
    codec = EncryptionCodec.from_settings(Settings(payload_key=key(), payload_key_id="k1"))
    (sealed,) = await codec.encode([plain()])
    flipped = Payload(
        metadata=sealed.metadata, data=sealed.data[:-1] + bytes([sealed.data[-1] ^ 1])
    )
    with pytest.raises(InvalidTag):
        await codec.decode([flipped])


def test_bad_keys_are_refused() -> None:
    with pytest.raises(PayloadKeyError):
        EncryptionCodec.from_settings(Settings(payload_key=base64.b64encode(b"short").decode()))
    with pytest.raises(PayloadKeyError):
        EncryptionCodec.from_settings(Settings(payload_key="not base64 !"))


def test_development_key_is_refused_in_production() -> None:
    production = Settings(
        environment="production",
        session_secret="s" * 40,
        service_secret="t" * 40,
        s3_secret_key="real-secret",
    )
    with pytest.raises(PayloadKeyError):
        data_converter(production)
    assert data_converter(production.model_copy(update={"payload_key": key()})) is not None


async def test_data_converter_is_pydantic_plus_encryption() -> None:
    converter = data_converter(Settings())
    assert converter is data_converter(Settings())  # one per key set, shared
    assert converter.payload_converter_class is pydantic_data_converter.payload_converter_class
    (payload,) = await converter.encode([{"a": 1}])
    assert payload.metadata["encoding"] == ENCODING
    assert await converter.decode([payload], [dict]) == [{"a": 1}]
