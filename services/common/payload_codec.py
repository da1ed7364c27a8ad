"""Workflow payloads encrypted at rest in Temporal: AES-256-GCM, one data converter.

Every Temporal client and worker of the project builds its converter with
``data_converter(settings)``: the pydantic converter plus ``EncryptionCodec``. The
Temporal server (its database, its UI, ``temporal workflow show``) then only ever holds
ciphertext: an operator reads payloads through the codec server
(``python -m services.codec_server``), which holds the key.

Each encrypted payload is ``encoding: binary/encrypted`` with the key's id in
``encryption-key-id``; its data is ``nonce (12 bytes) || AES-GCM(serialised Payload)``,
the key id being authenticated as associated data. Keys rotate by adding a new current
key (``payload_key`` / ``payload_key_id``) and keeping the old ones in
``payload_previous_keys`` until no history needs them. A payload that is not encrypted
(histories recorded before encryption) decodes as it is, so old journeys still replay.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import os
from collections.abc import Mapping, Sequence
from functools import lru_cache

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from temporalio.api.common.v1 import Payload
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.converter import DataConverter, PayloadCodec

from services.common.settings import DEV_PAYLOAD_KEY, Settings

ENCODING = b"binary/encrypted"
KEY_ID_METADATA = "encryption-key-id"
NONCE_BYTES = 12


class PayloadKeyError(ValueError):
    """A payload key is malformed, or a payload names a key this process does not hold."""


def decode_key(text: str) -> bytes:
    try:
        key = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise PayloadKeyError("a payload key must be base64") from error
    if len(key) != 32:
        raise PayloadKeyError(f"a payload key must be 32 bytes (AES-256), not {len(key)}")
    return key


class EncryptionCodec(PayloadCodec):
    """AES-256-GCM with the current key; any known key (by id) to decrypt."""

    def __init__(self, key_id: str, key: bytes, previous: Mapping[str, bytes] | None = None):
        if not key_id:
            raise PayloadKeyError("a payload key id must not be empty")
        self.key_id = key_id
        self._ciphers = {kid: AESGCM(k) for kid, k in (previous or {}).items()}
        self._ciphers[key_id] = AESGCM(key)

    @classmethod
    def from_settings(cls, settings: Settings) -> EncryptionCodec:
        previous = {kid: decode_key(k) for kid, k in settings.payload_previous_keys.items()}
        return cls(settings.payload_key_id, decode_key(settings.payload_key), previous)

    def encrypt(self, payload: Payload) -> Payload:
        nonce = os.urandom(NONCE_BYTES)
        key_id = self.key_id.encode()
        sealed = self._ciphers[self.key_id].encrypt(nonce, payload.SerializeToString(), key_id)
        return Payload(
            metadata={"encoding": ENCODING, KEY_ID_METADATA: key_id}, data=nonce + sealed
        )

    def decrypt(self, payload: Payload) -> Payload:
        if payload.metadata.get("encoding") != ENCODING:
            return payload  # recorded before encryption: as it is
        key_id = payload.metadata.get(KEY_ID_METADATA, b"")
        cipher = self._ciphers.get(key_id.decode(errors="replace"))
        if cipher is None:
            raise PayloadKeyError(f"unknown payload key id {key_id!r}")
        nonce, sealed = payload.data[:NONCE_BYTES], payload.data[NONCE_BYTES:]
        decoded = Payload()
        decoded.ParseFromString(cipher.decrypt(nonce, sealed, key_id))
        return decoded

    async def encode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.encrypt(p) for p in payloads]

    async def decode(self, payloads: Sequence[Payload]) -> list[Payload]:
        return [self.decrypt(p) for p in payloads]


def data_converter(settings: Settings | None = None) -> DataConverter:
    """The pydantic converter with payload encryption: for every Temporal client/worker.

    ``None`` means the development settings (tests, replay). In production the
    development key is refused here, so a misconfigured process stops at start-up.
    """
    settings = settings or Settings()
    if settings.environment == "production" and settings.payload_key == DEV_PAYLOAD_KEY:
        raise PayloadKeyError("PERMIS_PAYLOAD_KEY must be set in production (32 random bytes)")
    return _converter(
        settings.payload_key_id,
        settings.payload_key,
        tuple(sorted(settings.payload_previous_keys.items())),
    )


@lru_cache(maxsize=8)
def _converter(key_id: str, key: str, previous: tuple[tuple[str, str], ...]) -> DataConverter:
    codec = EncryptionCodec(key_id, decode_key(key), {k: decode_key(v) for k, v in previous})
    return dataclasses.replace(pydantic_data_converter, payload_codec=codec)
