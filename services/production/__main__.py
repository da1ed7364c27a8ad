"""``python -m services.production``: title production and delivery on
``settings.production_address``.

It connects to Temporal at start-up (retrying while it starts), because the partners'
events and the contact centre's resend requests are signalled to the delivery journey.
"""

from __future__ import annotations

from services.common.service_main import Built, ServiceContext, run_service
from services.production.server import build, definition


async def build_definition(context: ServiceContext) -> Built:
    servicer, engine = await build(context.settings, await context.journey_updater())
    return [definition(servicer)], [engine.dispose]


if __name__ == "__main__":
    run_service("production", build_definition)
