"""gRPC channels and stubs to the services, built the same way by every caller."""

from __future__ import annotations

import grpc

from permis.ctn.v1 import ctn_pb2_grpc
from permis.documents.v1 import documents_pb2_grpc
from permis.identity.v1 import identity_pb2_grpc
from permis.instruction.v1 import instruction_pb2_grpc
from permis.photocode.v1 import photocode_pb2_grpc
from permis.production.v1 import production_pb2_grpc
from permis.support.v1 import support_pb2_grpc
from services.common.auth import CredentialsInterceptor, Principal, TokenSource
from services.common.grpc_server import server_options
from services.common.observability import TracingClientInterceptor
from services.common.settings import Settings


def open_channel(
    address: str, settings: Settings, principal: Principal | None = None
) -> grpc.aio.Channel:
    """A channel whose calls carry the trace context and, when a principal is given, a
    service token of that principal (signed with ``settings.service_secret``)."""
    interceptors: list[grpc.aio.ClientInterceptor] = [TracingClientInterceptor()]
    if principal is not None:
        tokens = TokenSource(
            principal, settings.service_secret, ttl_seconds=settings.service_token_ttl_seconds
        )
        interceptors.append(CredentialsInterceptor(tokens))
    return grpc.aio.insecure_channel(
        address, options=server_options(settings.grpc_max_message_bytes), interceptors=interceptors
    )


class ServiceClients:
    """One channel per service, opened lazily and shared by a process; every call
    carries a token of ``principal``, the one the process acts as (the gateway as
    ``gateway``, the worker as ``worker``...). Without one, calls carry no credentials
    and any service enforcing access refuses them."""

    def __init__(self, settings: Settings, principal: Principal | None = None) -> None:
        self._settings = settings
        self.principal = principal
        self._channels: dict[str, grpc.aio.Channel] = {}

    def _channel(self, address: str) -> grpc.aio.Channel:
        if address not in self._channels:
            self._channels[address] = open_channel(address, self._settings, self.principal)
        return self._channels[address]

    @property
    def identity(self) -> identity_pb2_grpc.IdentityServiceStub:
        return identity_pb2_grpc.IdentityServiceStub(self._channel(self._settings.identity_address))

    @property
    def photocode(self) -> photocode_pb2_grpc.PhotoCodeServiceStub:
        return photocode_pb2_grpc.PhotoCodeServiceStub(
            self._channel(self._settings.photocode_address)
        )

    @property
    def documents(self) -> documents_pb2_grpc.DocumentServiceStub:
        return documents_pb2_grpc.DocumentServiceStub(
            self._channel(self._settings.documents_address)
        )

    @property
    def ctn(self) -> ctn_pb2_grpc.PreCheckServiceStub:
        return ctn_pb2_grpc.PreCheckServiceStub(self._channel(self._settings.ctn_address))

    @property
    def instruction(self) -> instruction_pb2_grpc.InstructionServiceStub:
        return instruction_pb2_grpc.InstructionServiceStub(
            self._channel(self._settings.instruction_address)
        )

    @property
    def production(self) -> production_pb2_grpc.ProductionServiceStub:
        return production_pb2_grpc.ProductionServiceStub(
            self._channel(self._settings.production_address)
        )

    @property
    def support(self) -> support_pb2_grpc.SupportServiceStub:
        return support_pb2_grpc.SupportServiceStub(self._channel(self._settings.support_address))

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
