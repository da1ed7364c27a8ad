"""``python -m services.support``: the contact centre's and operators' actions on
``settings.support_address``.

It connects to Temporal at start-up (retrying while it starts): it lists journeys from
Temporal visibility and delivers cancellations to them; it asks identity for accounts.
"""

from __future__ import annotations

from services.common.service_main import Built, ServiceContext, run_service
from services.support.server import IdentityAccounts, build, definition


async def build_definition(context: ServiceContext) -> Built:
    updater = await context.journey_updater()
    accounts = IdentityAccounts(context.clients)
    servicer, engine = await build(context.settings, updater, await context.temporal(), accounts)
    return [definition(servicer)], [engine.dispose]


if __name__ == "__main__":
    run_service("support", build_definition)
