"""The partners' simulator against a real production service (gRPC on a free port,
SQLite), whose events reach a stand-in delivery journey on the Temporal dev server."""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from temporalio.client import Client, WorkflowHandle

from deploy.partners import simulator
from deploy.partners.simulator import (
    FINAL_STATE,
    Partners,
    Scenario,
    SimulationError,
    play_partners,
)
from permis.production.v1 import production_pb2, production_pb2_grpc
from services.common.grpc_server import start_server
from services.common.journey_updates import TemporalJourneyUpdater
from services.common.settings import Settings
from services.production.server import ProductionServicer, build, definition
from tests.services.test_production import (
    journey_worker,  # noqa: F401 (the fixture, used by name)
    order_request,
    received_by,
    start_journey,
    unreachable_updater,
)
from workflows.ids import new_request_number

REPO_ROOT = Path(__file__).resolve().parents[1]
QUICK = timedelta(seconds=0.3)  # the post office's 15 days, for tests

EVENTS_OF_SCENARIO = {
    Scenario.DELIVERED: ["manufactured", "posted", "delivered"],
    Scenario.COLLECTED: ["manufactured", "posted", "pickup_notice_left", "collected"],
    Scenario.RETURNED: ["manufactured", "posted", "pickup_notice_left", "returned"],
    Scenario.IN_TRANSIT: ["manufactured", "posted"],
    Scenario.PICKUP_NOTICE: ["manufactured", "posted", "pickup_notice_left"],
}


# ---- what the partners send ------------------------------------------------------------


def test_every_scenario_has_its_events_and_its_final_state() -> None:
    assert set(EVENTS_OF_SCENARIO) == set(Scenario) == set(FINAL_STATE)
    for scenario, names in EVENTS_OF_SCENARIO.items():
        assert [simulator.event_name(k) for k in simulator.events_of(scenario)] == names
        # A card shipped again is already made: the post takes it from there.
        assert [simulator.event_name(k) for k in simulator.events_of(scenario, 2)] == names[1:]


def test_ids_and_tracking_numbers_are_stable_per_shipment() -> None:
    number = "2603K7Q3ZP9A"
    first = simulator.tracking_number(number, 1)
    assert re.fullmatch(r"LP\d{11}FR", first)
    assert simulator.tracking_number(number, 1) == first
    assert simulator.tracking_number(number, 2) != first
    assert simulator.tracking_number("2603K7Q3ZP9B", 1) != first
    posted = simulator.event_id(number, 1, simulator.POSTED)
    assert posted == "la-poste:2603K7Q3ZP9A:1:posted"
    assert simulator.event_id(number, 1, simulator.MANUFACTURED).startswith("imprimerie:")
    ids = {
        simulator.event_id(number, shipment, kind)
        for shipment in (1, 2)
        for kind in simulator.events_of(Scenario.RETURNED, shipment)
    }
    assert len(ids) == 7


# ---- against the service -----------------------------------------------------------------


@dataclass
class Production:
    address: str
    stub: production_pb2_grpc.ProductionServiceStub
    servicer: ProductionServicer
    temporal: Client

    async def order(self) -> tuple[str, WorkflowHandle[Any, list[str]]]:
        number = new_request_number(datetime.now(UTC))
        handle = await start_journey(self.temporal, number)
        await self.stub.OrderTitle(order_request(number, handle.id))
        return number, handle

    async def get(self, number: str) -> production_pb2.Title:
        return await self.stub.GetTitle(production_pb2.GetTitleRequest(request_number=number))

    async def resend(self, number: str, attempt: int = 1) -> production_pb2.Title:
        """What the contact centre and then the journey do for a returned card."""
        await self.stub.RequestResend(
            production_pb2.RequestResendRequest(request_number=number, agent_id="ccc-agent-1")
        )
        return await self.stub.ShipAgain(
            production_pb2.ShipAgainRequest(request_number=number, attempt=attempt)
        )


@pytest.fixture
async def production(
    tmp_path: Path,
    temporal_client: Client,
    journey_worker: None,  # noqa: F811
) -> AsyncIterator[Production]:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'production.db'}")
    servicer, engine = await build(settings, TemporalJourneyUpdater(temporal_client))
    server, port = await start_server([definition(servicer)], "127.0.0.1:0")
    address = f"127.0.0.1:{port}"
    channel = grpc.aio.insecure_channel(address)
    try:
        yield Production(
            address, production_pb2_grpc.ProductionServiceStub(channel), servicer, temporal_client
        )
    finally:
        await channel.close()
        await server.stop(5)
        await engine.dispose()


@pytest.mark.parametrize("scenario", list(Scenario))
async def test_each_scenario_leads_to_its_state(production: Production, scenario: Scenario) -> None:
    number, handle = await production.order()
    said: list[str] = []

    title = await play_partners(
        production.address, number, scenario, pickup_wait=QUICK, say=said.append
    )

    assert title.state == FINAL_STATE[scenario]
    names = [simulator.event_name(e.type) for e in title.events]
    assert names == EVENTS_OF_SCENARIO[scenario]
    assert title.tracking_number == simulator.tracking_number(number, 1)
    assert [e.partner for e in title.events][:2] == ["imprimerie", "la-poste"]
    assert len(said) == len(names) + (scenario is Scenario.RETURNED)  # + the wait
    # Played again (a partner's restart): every event is a repeat.
    assert await play_partners(production.address, number, scenario, pickup_wait=QUICK) == title
    told = await received_by(handle)
    assert [line.split("|")[0] for line in told] == names
    assert [line.split("|")[1] for line in told] == [
        simulator.event_id(number, 1, kind) for kind in simulator.events_of(scenario)
    ]


async def test_the_post_keeps_a_card_its_waiting_time_before_returning_it(
    production: Production,
) -> None:
    number, _ = await production.order()
    await play_partners(production.address, number, Scenario.PICKUP_NOTICE)

    started = asyncio.get_running_loop().time()
    title = await play_partners(
        production.address, number, Scenario.RETURNED, pickup_wait=timedelta(seconds=1.5)
    )

    assert title.state == "returned"
    notice, returned = title.events[2], title.events[3]
    waited = datetime.fromisoformat(returned.occurred_at) - datetime.fromisoformat(
        notice.occurred_at
    )
    assert waited >= timedelta(seconds=1.5)
    assert asyncio.get_running_loop().time() - started < 5


async def test_a_card_shipped_again_gets_a_new_number_and_its_own_scenario(
    production: Production,
) -> None:
    number, handle = await production.order()
    await play_partners(production.address, number, Scenario.RETURNED, pickup_wait=QUICK)
    # The resend is not there yet: the post waits for the card.
    waiting = asyncio.create_task(
        play_partners(production.address, number, Scenario.COLLECTED, shipment=2)
    )
    await asyncio.sleep(0.5)
    assert not waiting.done()

    shipped = await production.resend(number)
    title = await asyncio.wait_for(waiting, 30)

    assert (shipped.state, shipped.shipments) == ("posted", 2)
    assert (title.state, title.shipments) == ("delivered", 2)
    assert title.tracking_number == simulator.tracking_number(number, 2)
    assert title.tracking_number != simulator.tracking_number(number, 1)
    assert [line.split("|")[0] for line in await received_by(handle)] == [
        "manufactured",
        "posted",
        "pickup_notice_left",
        "returned",
        "resend_requested",
        "posted",
        "pickup_notice_left",
        "collected",
    ]


async def test_a_scenario_the_card_cannot_follow_is_a_simulation_error(
    production: Production,
) -> None:
    number, _ = await production.order()
    await play_partners(production.address, number, Scenario.DELIVERED)

    with pytest.raises(SimulationError) as refused:
        await play_partners(production.address, number, Scenario.RETURNED, pickup_wait=QUICK)

    assert refused.value.reason == "title_event_out_of_order"
    assert refused.value.status == "FAILED_PRECONDITION"
    assert "avis de passage" in str(refused.value)
    with pytest.raises(SimulationError) as never_ordered:
        await play_partners(
            production.address,
            new_request_number(datetime.now(UTC)),
            "delivered",
            wait_for_title=0.5,
        )
    assert "commande" in str(never_ordered.value)


async def test_partners_wait_for_the_order_and_retry_through_an_outage(
    production: Production,
) -> None:
    number = new_request_number(datetime.now(UTC))
    handle = await start_journey(production.temporal, number)
    working = production.servicer.updater
    production.servicer.updater = await unreachable_updater()  # Temporal is down
    playing = asyncio.create_task(play_partners(production.address, number, "delivered"))
    await asyncio.sleep(0.3)
    await production.stub.OrderTitle(order_request(number, handle.id))
    await asyncio.sleep(1.0)
    assert not playing.done()  # the printer keeps retrying its event
    assert (await production.get(number)).state == "manufactured"  # recorded all the same

    production.servicer.updater = working
    title = await asyncio.wait_for(playing, 30)

    assert title.state == "delivered"
    assert [line.split("|")[0] for line in await received_by(handle)] == [
        "manufactured",
        "posted",
        "delivered",
    ]


async def test_watching_plays_every_ordered_card_and_every_resent_one(
    production: Production,
) -> None:
    resent, _ = await production.order()
    await play_partners(production.address, resent, Scenario.RETURNED, pickup_wait=QUICK)
    await production.resend(resent)
    numbers = [(await production.order())[0] for _ in range(3)]
    stop = asyncio.Event()

    async with Partners(production.address, poll_interval=0.1) as partners:
        watching = asyncio.create_task(partners.watch(Scenario.DELIVERED, stop))
        try:
            for _ in range(200):
                states = [(await production.get(n)).state for n in [*numbers, resent]]
                if states == ["delivered"] * 4:
                    break
                await asyncio.sleep(0.1)
        finally:
            stop.set()
            await asyncio.wait_for(watching, 10)

    assert states == ["delivered"] * 4
    again = await production.get(resent)
    assert (again.shipments, again.tracking_number) == (2, simulator.tracking_number(resent, 2))


async def test_the_command_plays_one_card_and_says_where_it_is(production: Production) -> None:
    number, _ = await production.order()

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "deploy.partners.simulator",
        "--production",
        production.address,
        "--request",
        number,
        "--scenario",
        "collected",
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)

    assert process.returncode == 0, err.decode()
    lines = out.decode().splitlines()
    assert lines[-1] == f"{number} : delivered"
    assert any("titre retiré au bureau de poste" in line for line in lines)
    assert (await production.get(number)).state == "delivered"

    refused = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "deploy.partners.simulator",
        "--production",
        production.address,
        "--request",
        number,
        "--scenario",
        "returned",
        "--pickup-wait",
        "0",
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(refused.communicate(), 60)
    assert refused.returncode == 1
    assert "title_event_out_of_order" in err.decode()
