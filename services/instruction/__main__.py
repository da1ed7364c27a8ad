"""``python -m services.instruction``: the DDT queue on ``settings.instruction_address``.

It connects to Temporal at start-up (retrying while it starts), because decisions are
delivered to the running journey; it asks the document service for download links.
"""

from __future__ import annotations

from services.common.service_main import Built, ServiceContext, run_service
from services.instruction.server import TemporalJourneyLookup, build, definition


async def build_definition(context: ServiceContext) -> Built:
    updater = await context.journey_updater()
    # The channel to the document service connects lazily: it may start after us.
    servicer, engine = await build(
        context.settings,
        updater,
        context.clients.documents,
        TemporalJourneyLookup(await context.temporal()),
    )
    return [definition(servicer)], [engine.dispose]


if __name__ == "__main__":
    run_service("instruction", build_definition)
