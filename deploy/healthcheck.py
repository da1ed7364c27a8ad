"""Is a process ready? The gRPC standard health check, or an HTTP GET for the gateway.

    python -m deploy.healthcheck identity:50051            # gRPC Check(service="") is SERVING
    python -m deploy.healthcheck identity:50051 --service permis.identity.v1.IdentityService
    python -m deploy.healthcheck http://gateway:8000/healthz

Exit 0 when ready, 1 otherwise: the shape Docker healthchecks and probes expect. The
local launcher uses the same functions, so both judge readiness the same way.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import grpc
import httpx
from grpc_health.v1 import health_pb2, health_pb2_grpc


async def grpc_serving(address: str, service: str = "", within: float = 2.0) -> bool:
    """True when the server at ``address`` reports SERVING for ``service`` ("" = whole server)."""
    async with grpc.aio.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        try:
            response = await stub.Check(
                health_pb2.HealthCheckRequest(service=service), timeout=within
            )
        except grpc.aio.AioRpcError:
            return False
    return bool(response.status == health_pb2.HealthCheckResponse.SERVING)


async def http_ok(url: str, within: float = 2.0) -> bool:
    """True when a GET on ``url`` answers 2xx."""
    async with httpx.AsyncClient(timeout=within) as client:
        try:
            response = await client.get(url)
        except httpx.HTTPError:
            return False
    return response.is_success


async def check(target: str, service: str = "", within: float = 2.0) -> bool:
    if target.startswith(("http://", "https://")):
        return await http_ok(target, within)
    return await grpc_serving(target, service, within)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("target", help="host:port of a gRPC server, or an http(s):// URL")
    parser.add_argument("--service", default="", help="gRPC service to check (default: server)")
    parser.add_argument("--timeout", type=float, default=2.0)
    args = parser.parse_args(argv)
    ready = asyncio.run(check(args.target, args.service, args.timeout))
    print(f"{args.target}: {'ready' if ready else 'NOT ready'}")
    return 0 if ready else 1


if __name__ == "__main__":
    sys.exit(main())
