"""A gRPC server run by ``services.common.grpc_server.serve`` with one slow method.

    python -m tests.shutdown_targets.slow_grpc <address> <grace seconds> <call seconds>

Serves ``permis.ctn.v1.PreCheckService`` whose ``GetResult`` takes ``<call seconds>``:
long enough for the test to send SIGTERM while a call is in flight. Prints ``started
<request number>`` when a call begins and ``finished <request number>`` when it
returns, so the test knows where the call stands.
"""

from __future__ import annotations

import asyncio
import sys

import grpc

from permis.ctn.v1 import ctn_pb2, ctn_pb2_grpc
from services.common.grpc_server import ServiceDefinition, serve

FULL_NAME = "permis.ctn.v1.PreCheckService"


class SlowPreCheck(ctn_pb2_grpc.PreCheckServiceServicer):
    def __init__(self, call_seconds: float) -> None:
        self._call_seconds = call_seconds

    async def GetResult(
        self, request: ctn_pb2.GetResultRequest, context: grpc.aio.ServicerContext
    ) -> ctn_pb2.PreCheckResult:
        print(f"started {request.request_number}", flush=True)
        await asyncio.sleep(self._call_seconds)
        print(f"finished {request.request_number}", flush=True)
        return ctn_pb2.PreCheckResult(
            request_number=request.request_number, compliant=True, decided_by="automatique"
        )


async def main(address: str, grace_seconds: float, call_seconds: float) -> None:
    servicer = SlowPreCheck(call_seconds)
    definition = ServiceDefinition(
        FULL_NAME,
        lambda server: ctn_pb2_grpc.add_PreCheckServiceServicer_to_server(servicer, server),
    )

    async def stopped() -> None:
        print("stopped", flush=True)

    await serve(
        [definition],
        address,
        max_message_bytes=4 * 1024 * 1024,
        grace_seconds=grace_seconds,
        service_secret=None,  # a bare target for the shutdown behaviour, not access
        on_stop=stopped,
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], float(sys.argv[2]), float(sys.argv[3])))
