"""``python -m services.photocode``: the photo-code gRPC service."""

from __future__ import annotations

from services.common.service_main import Built, ServiceContext, run_service
from services.photocode.server import build


async def build_definition(context: ServiceContext) -> Built:
    definition, engine = await build(context.settings)
    return [definition], [engine.dispose]


if __name__ == "__main__":
    run_service("photocode", build_definition)
