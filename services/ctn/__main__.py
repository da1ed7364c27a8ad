"""``python -m services.ctn``: the CTN pre-check gRPC service.

It connects to Temporal at start-up (retrying while it starts), because an agent's
verdict is delivered to the running journey.
"""

from __future__ import annotations

from services.common.service_main import Built, ServiceContext, run_service
from services.ctn.server import build


async def build_definition(context: ServiceContext) -> Built:
    definition, engine = await build(context.settings, await context.journey_updater())
    return [definition], [engine.dispose]


if __name__ == "__main__":
    run_service("ctn", build_definition)
