"""``python -m services.identity``: the identity gRPC service."""

from __future__ import annotations

from services.common.service_main import Built, ServiceContext, run_service
from services.identity.server import build


async def build_definition(context: ServiceContext) -> Built:
    definition, engine = await build(context.settings)
    return [definition], [engine.dispose]


if __name__ == "__main__":
    run_service("identity", build_definition)
