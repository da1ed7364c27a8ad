"""The production service: its rules as tables, then the gRPC service on SQLite and
PostgreSQL signalling a stand-in delivery journey on the real Temporal dev server.

The partners' simulator, played against this same service, is tested in
``tests/test_partner_simulator.py``.
"""

from __future__ import annotations

import asyncio
import itertools
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from temporalio import workflow
from temporalio.client import Client, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import UnsandboxedWorkflowRunner, Worker

from deploy.local import processes
from permis.production.v1 import production_pb2, production_pb2_grpc
from services.common.errors import ErrorCode, PermisError
from services.common.grpc_server import start_server
from services.common.journey_updates import TemporalJourneyUpdater
from services.common.settings import Settings
from services.production import rules
from services.production.server import ProductionServicer, build, definition
from workflows.ids import new_request_number
from workflows.models import PartnerEventSignal, ResendRequested

TASK_QUEUE = f"production-tests-{uuid.uuid4().hex[:8]}"
NOW = datetime(2026, 3, 5, 9, 30, tzinfo=UTC)

MANUFACTURED = production_pb2.PARTNER_EVENT_TYPE_MANUFACTURED
POSTED = production_pb2.PARTNER_EVENT_TYPE_POSTED
PICKUP_NOTICE_LEFT = production_pb2.PARTNER_EVENT_TYPE_PICKUP_NOTICE_LEFT
DELIVERED = production_pb2.PARTNER_EVENT_TYPE_DELIVERED
COLLECTED = production_pb2.PARTNER_EVENT_TYPE_COLLECTED
RETURNED = production_pb2.PARTNER_EVENT_TYPE_RETURNED


# ---- rules: the state machine ----------------------------------------------------------

# Written out independently of rules.TRANSITIONS: every move the notice allows.
ALLOWED: dict[tuple[str, str], str] = {
    ("ordered", "manufactured"): "manufactured",
    ("manufactured", "posted"): "posted",
    ("posted", "delivered"): "delivered",
    ("posted", "pickup_notice_left"): "awaiting_pickup",
    ("awaiting_pickup", "collected"): "delivered",
    ("awaiting_pickup", "returned"): "returned",
    ("returned", "resend_requested"): "resend_requested",
    ("resend_requested", "shipped_again"): "posted",
    ("returned", "destroyed"): "destroyed",
    ("resend_requested", "destroyed"): "destroyed",
}
REFUSED = [
    (state, event)
    for state, event in itertools.product(rules.STATES, rules.EVENTS)
    if (state, event) not in ALLOWED
]


def test_the_tables_cover_every_state_and_event() -> None:
    assert len(rules.STATES) == 8 and len(rules.EVENTS) == 9
    assert len(ALLOWED) + len(REFUSED) == 72
    assert set(rules.STATE_LABELS) == set(rules.STATES)
    assert set(rules.EVENT_LABELS) == set(rules.EVENTS)
    assert set(rules.PARTNER_OF) == set(rules.PARTNER_EVENTS)


@pytest.mark.parametrize(("state", "event"), list(ALLOWED))
def test_every_allowed_move(state: str, event: str) -> None:
    # A card being posted has a tracking number, except just after a re-shipment.
    assert (
        rules.next_state(state, event, tracking_number="LP12345678901FR") == ALLOWED[(state, event)]
    )


@pytest.mark.parametrize(("state", "event"), REFUSED)
def test_every_other_move_is_refused(state: str, event: str) -> None:
    with pytest.raises(PermisError) as refused:
        rules.next_state(state, event, tracking_number="LP12345678901FR")
    assert refused.value.code is ErrorCode.TITLE_EVENT_OUT_OF_ORDER
    assert refused.value.grpc_status is grpc.StatusCode.FAILED_PRECONDITION
    assert refused.value.details == {"state": state, "event": event}
    assert rules.STATE_LABELS[state] in refused.value.message


def test_a_card_shipped_again_takes_its_new_tracking_number_once() -> None:
    assert rules.next_state("posted", "posted", tracking_number="") == "posted"
    with pytest.raises(PermisError):
        rules.next_state("posted", "posted", tracking_number="LP12345678901FR")
    # Its other moves do not wait for the number.
    assert rules.next_state("posted", "delivered", tracking_number="") == "delivered"


@pytest.mark.parametrize(
    ("state", "after", "shipments", "expected"),
    [
        ("manufactured", "posted", 0, 1),
        ("resend_requested", "posted", 1, 2),
        ("posted", "posted", 2, 2),  # the new tracking number of a re-shipment
        ("posted", "delivered", 1, 1),
        ("ordered", "manufactured", 0, 0),
    ],
)
def test_shipments_count_the_handovers_to_the_post(
    state: str, after: str, shipments: int, expected: int
) -> None:
    assert rules.shipments_after(state, after, shipments) == expected


@pytest.mark.parametrize(
    ("state", "outcome"),
    [
        ("returned", rules.RECORD),
        ("resend_requested", rules.REPEAT),
        ("destroyed", ErrorCode.TITLE_DESTROYED),
        *[
            (state, ErrorCode.TITLE_NOT_RETURNED)
            for state in ("ordered", "manufactured", "posted", "awaiting_pickup", "delivered")
        ],
    ],
)
def test_resend_only_from_returned(state: str, outcome: str | ErrorCode) -> None:
    if isinstance(outcome, ErrorCode):
        with pytest.raises(PermisError) as refused:
            rules.resend_outcome(state)
        assert refused.value.code is outcome
        assert refused.value.grpc_status is grpc.StatusCode.FAILED_PRECONDITION
    else:
        assert rules.resend_outcome(state) == outcome


@pytest.mark.parametrize(
    ("state", "shipments", "attempt", "outcome"),
    [
        ("resend_requested", 1, 1, rules.RECORD),
        ("resend_requested", 2, 2, rules.RECORD),
        ("posted", 2, 1, rules.REPEAT),  # attempt 1 done: posted twice
        ("delivered", 2, 1, rules.REPEAT),
        ("resend_requested", 2, 1, rules.REPEAT),  # the second resend waits; 1 was done
        ("destroyed", 3, 2, rules.REPEAT),
        ("resend_requested", 1, 2, ErrorCode.TITLE_EVENT_OUT_OF_ORDER),  # skips attempt 1
        ("returned", 1, 1, ErrorCode.TITLE_EVENT_OUT_OF_ORDER),  # nobody asked for it
        ("awaiting_pickup", 1, 1, ErrorCode.TITLE_EVENT_OUT_OF_ORDER),
        ("resend_requested", 1, 0, ErrorCode.INVALID_FIELD),
        ("resend_requested", 1, -1, ErrorCode.INVALID_FIELD),
    ],
)
def test_ship_again_is_idempotent_per_attempt(
    state: str, shipments: int, attempt: int, outcome: str | ErrorCode
) -> None:
    if isinstance(outcome, ErrorCode):
        with pytest.raises(PermisError) as refused:
            rules.ship_again_outcome(state, shipments, attempt)
        assert refused.value.code is outcome
    else:
        assert rules.ship_again_outcome(state, shipments, attempt) == outcome


@pytest.mark.parametrize(
    ("state", "outcome"),
    [
        ("returned", rules.RECORD),
        ("resend_requested", rules.RECORD),
        ("destroyed", rules.REPEAT),
        *[
            (state, ErrorCode.TITLE_EVENT_OUT_OF_ORDER)
            for state in ("ordered", "manufactured", "posted", "awaiting_pickup", "delivered")
        ],
    ],
)
def test_destroy_only_an_unclaimed_card(state: str, outcome: str | ErrorCode) -> None:
    if isinstance(outcome, ErrorCode):
        with pytest.raises(PermisError) as refused:
            rules.destroy_outcome(state)
        assert refused.value.code is outcome
    else:
        assert rules.destroy_outcome(state) == outcome


# ---- rules: what partners send ---------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("la-poste:2603ABCDEFGH:1:posted", "la-poste:2603ABCDEFGH:1:posted"),
        ("  evt_42.b/3  ", "evt_42.b/3"),
        ("", ErrorCode.MISSING_FIELDS),
        ("#resend:2603ABCDEFGH:1", ErrorCode.INVALID_FIELD),  # our own lines' namespace
        ("é", ErrorCode.INVALID_FIELD),
        ("a b", ErrorCode.INVALID_FIELD),
        ("x" * 101, ErrorCode.INVALID_FIELD),
    ],
)
def test_event_ids(raw: str, expected: str | ErrorCode) -> None:
    if isinstance(expected, ErrorCode):
        with pytest.raises(PermisError) as refused:
            rules.check_event_id(raw)
        assert refused.value.code is expected
    else:
        assert rules.check_event_id(raw) == expected


@pytest.mark.parametrize(
    ("event", "raw", "expected"),
    [
        ("manufactured", "", "imprimerie"),
        ("manufactured", "imprimerie", "imprimerie"),
        ("posted", "", "la-poste"),
        ("returned", " la-poste ", "la-poste"),
        ("manufactured", "la-poste", ErrorCode.INVALID_FIELD),
        ("delivered", "imprimerie", ErrorCode.INVALID_FIELD),
        ("collected", "chronopost", ErrorCode.INVALID_FIELD),
    ],
)
def test_partners(event: str, raw: str, expected: str | ErrorCode) -> None:
    if isinstance(expected, ErrorCode):
        with pytest.raises(PermisError) as refused:
            rules.check_partner(event, raw)
        assert refused.value.code is expected
    else:
        assert rules.check_partner(event, raw) == expected


@pytest.mark.parametrize(
    ("event", "raw", "current", "expected"),
    [
        ("posted", "LP12345678901FR", "", "LP12345678901FR"),
        ("posted", " lp12345678901fr ", "", "LP12345678901FR"),
        ("posted", "LP99999999999FR", "", "LP99999999999FR"),
        ("posted", "", "", ErrorCode.MISSING_FIELDS),
        ("posted", "LP-123", "", ErrorCode.INVALID_FIELD),
        ("delivered", "", "LP12345678901FR", ""),
        ("delivered", "LP12345678901FR", "LP12345678901FR", ""),
        ("delivered", "LP10000000000FR", "LP12345678901FR", ErrorCode.INVALID_FIELD),
        ("manufactured", "", "", ""),
    ],
)
def test_tracking_numbers(event: str, raw: str, current: str, expected: str | ErrorCode) -> None:
    if isinstance(expected, ErrorCode):
        with pytest.raises(PermisError) as refused:
            rules.check_tracking_number(event, raw, current)
        assert refused.value.code is expected
        assert refused.value.details["field"] == "tracking_number"
    else:
        assert rules.check_tracking_number(event, raw, current) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("", NOW),
        ("2026-03-01T08:00:00+01:00", datetime(2026, 3, 1, 7, 0, tzinfo=UTC)),
        ("2026-03-05T09:30:00Z", NOW),
        ("2026-03-05T09:34:59+00:00", NOW + timedelta(minutes=4, seconds=59)),  # clock skew
        ("2026-03-05T09:36:00+00:00", ErrorCode.INVALID_FIELD),  # in the future
        ("2026-03-01T08:00:00", ErrorCode.INVALID_FIELD),  # no offset
        ("hier", ErrorCode.INVALID_FIELD),
    ],
)
def test_occurred_at(raw: str, expected: datetime | ErrorCode) -> None:
    if isinstance(expected, ErrorCode):
        with pytest.raises(PermisError) as refused:
            rules.check_occurred_at(raw, NOW)
        assert refused.value.code is expected
        assert refused.value.details == {"field": "occurred_at"}
    else:
        moment = rules.check_occurred_at(raw, NOW)
        assert moment == expected and moment.tzinfo == UTC


def test_order_fields_and_paging_rules() -> None:
    assert rules.check_neph(" 260369010001 ") == "260369010001"
    for bad, code in [
        ("", ErrorCode.MISSING_FIELDS),
        ("26036901000", ErrorCode.INVALID_FIELD),
        ("26036901000A", ErrorCode.INVALID_FIELD),
    ]:
        with pytest.raises(PermisError) as refused:
            rules.check_neph(bad)
        assert refused.value.code is code
    assert rules.check_text("  12  rue   de la Paix ", "address_line", 50) == "12 rue de la Paix"
    with pytest.raises(PermisError):
        rules.check_text("x" * 51, "address_line", 50)
    assert rules.check_destruction_reason("") == rules.DEFAULT_DESTRUCTION_REASON
    assert len(rules.check_destruction_reason("x" * 1000)) == rules.MAX_REASON
    assert rules.check_state_filter("") is None
    assert rules.check_state_filter("returned") == "returned"
    with pytest.raises(PermisError):
        rules.check_state_filter("lost")
    moment = datetime(2026, 3, 5, 9, 30, 12, 345678, tzinfo=UTC)
    assert rules.decode_page_token(rules.encode_page_token(moment, "2603ABCDEFGH")) == (
        moment,
        "2603ABCDEFGH",
    )
    for bad in ["???", "bm90IGpzb24", "WzEsMl0"]:
        with pytest.raises(PermisError) as refused:
            rules.decode_page_token(bad)
        assert refused.value.code is ErrorCode.INVALID_FIELD
    assert (rules.page_size(0), rules.page_size(10), rules.page_size(10_000)) == (50, 10, 500)


# ---- a stand-in delivery journey on the real Temporal dev server -----------------------


@workflow.defn(name="ProductionTestJourney")
class DeliveryJourney:
    """Notes every signal the production service sends, in arrival order, until told to
    finish; it recognises a repeated partner event by its id, like the real journey."""

    @workflow.init
    def __init__(self) -> None:
        self.received: list[str] = []
        self.event_ids: set[str] = set()
        self.done = False

    @workflow.run
    async def run(self) -> list[str]:
        await workflow.wait_condition(lambda: self.done)
        return self.received

    @workflow.signal
    def partner_event(self, event: PartnerEventSignal) -> None:
        assert event.occurred_at.tzinfo is not None
        if event.event_id in self.event_ids:
            return  # a repeat: at-least-once delivery
        self.event_ids.add(event.event_id)
        self.received.append(
            f"{event.type.value}|{event.event_id}|{event.tracking_number}|{event.partner}"
        )

    @workflow.signal
    def resend_requested(self, request: ResendRequested) -> None:
        self.received.append(f"resend_requested|{request.agent_id}")

    @workflow.signal
    def finish(self) -> None:
        self.done = True


@pytest.fixture(scope="module")
async def journey_worker(temporal_client: Client) -> AsyncIterator[None]:
    async with Worker(
        temporal_client,
        task_queue=TASK_QUEUE,
        workflows=[DeliveryJourney],
        workflow_runner=UnsandboxedWorkflowRunner(),
    ):
        yield


async def start_journey(client: Client, request_number: str) -> WorkflowHandle[Any, list[str]]:
    return await client.start_workflow(
        DeliveryJourney.run,
        id=f"production-test-{request_number}-{uuid.uuid4().hex[:6]}",
        task_queue=TASK_QUEUE,
        execution_timeout=timedelta(minutes=5),
    )


async def received_by(handle: WorkflowHandle[Any, list[str]]) -> list[str]:
    """Everything the journey was told, in order (it finishes after the last signal)."""
    await handle.signal(DeliveryJourney.finish)
    return await handle.result()


def order_fields(number: str, workflow_id: str) -> dict[str, object]:
    return {
        "request_number": number,
        "workflow_id": workflow_id,
        "neph": "260369010042",
        "category": "B",
        "family_name": "Martin",
        "given_names": "Camille",
        "address_line": "12 rue de la République, 69002 Lyon",
        "first_licence": True,
    }


def order_request(
    number: str, workflow_id: str, **overrides: object
) -> production_pb2.OrderTitleRequest:
    fields = order_fields(number, workflow_id) | overrides
    return production_pb2.OrderTitleRequest(**fields)  # type: ignore[arg-type]


@dataclass
class Running:
    stub: production_pb2_grpc.ProductionServiceStub
    servicer: ProductionServicer
    temporal: Client

    async def order(self) -> tuple[str, WorkflowHandle[Any, list[str]]]:
        """A running journey and its ordered card."""
        number = new_request_number(datetime.now(UTC))
        handle = await start_journey(self.temporal, number)
        await self.stub.OrderTitle(order_request(number, handle.id))
        return number, handle

    async def report(
        self,
        number: str,
        kind: int,
        event_id: str = "",
        *,
        tracking_number: str = "",
        occurred_at: str = "",
        partner: str = "",
    ) -> production_pb2.Title:
        name = production_pb2.PartnerEventType.Name(kind).removeprefix("PARTNER_EVENT_TYPE_")
        return await self.stub.RecordPartnerEvent(
            production_pb2.PartnerEvent(
                event_id=event_id or f"{number}-{name.lower()}",
                request_number=number,
                type=kind,
                tracking_number=tracking_number,
                occurred_at=occurred_at,
                partner=partner,
            )
        )

    async def get(self, number: str) -> production_pb2.Title:
        return await self.stub.GetTitle(production_pb2.GetTitleRequest(request_number=number))

    async def returned(self, number: str) -> production_pb2.Title:
        """Made, posted, a pickup notice left, never collected: back at the producer."""
        await self.report(number, MANUFACTURED)
        await self.report(number, POSTED, tracking_number="LP00000000001FR")
        await self.report(number, PICKUP_NOTICE_LEFT)
        return await self.report(number, RETURNED)


@pytest.fixture
async def service(
    database_url: str, temporal_client: Client, journey_worker: None
) -> AsyncIterator[Running]:
    servicer, engine = await build(
        Settings(database_url=database_url), TemporalJourneyUpdater(temporal_client)
    )
    server, port = await start_server([definition(servicer)], "127.0.0.1:0")
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield Running(production_pb2_grpc.ProductionServiceStub(channel), servicer, temporal_client)
    finally:
        await channel.close()
        await server.stop(5)
        await engine.dispose()


def error_of(error: grpc.aio.AioRpcError) -> PermisError:
    permis = PermisError.from_rpc_error(error)
    assert permis is not None, error
    return permis


async def unreachable_updater() -> TemporalJourneyUpdater:
    """A Temporal client on a port nobody listens on: every signal fails as an outage."""
    client = await Client.connect(
        f"127.0.0.1:{processes.free_port()}", lazy=True, data_converter=pydantic_data_converter
    )
    return TemporalJourneyUpdater(client)


# ---- orders ---------------------------------------------------------------------------


async def test_order_is_idempotent_and_kept(service: Running) -> None:
    number = new_request_number(datetime.now(UTC))
    request = order_request(number, "title-delivery-x", first_licence=False, category="A2")

    first, *again = await asyncio.gather(*(service.stub.OrderTitle(request) for _ in range(3)))
    later = await service.stub.OrderTitle(order_request(number, "another-journey"))

    assert all(title == first for title in [*again, later])
    assert (first.state, first.workflow_id, first.neph, first.category) == (
        "ordered",
        "title-delivery-x",
        "260369010042",
        "A2",
    )
    assert (first.family_name, first.given_names, first.address_line, first.first_licence) == (
        "Martin",
        "Camille",
        "12 rue de la République, 69002 Lyon",
        False,
    )
    assert (first.tracking_number, first.shipments, list(first.events)) == ("", 0, [])
    assert datetime.fromisoformat(first.ordered_at).tzinfo is not None
    assert await service.get(number) == first

    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await service.get(new_request_number(datetime.now(UTC)))
    assert unknown.value.code() is grpc.StatusCode.NOT_FOUND
    assert error_of(unknown.value).code is ErrorCode.TITLE_NOT_FOUND


@pytest.mark.parametrize(
    ("overrides", "code", "field"),
    [
        ({"request_number": "2603-bad"}, ErrorCode.INVALID_FIELD, "request_number"),
        ({"workflow_id": " "}, ErrorCode.MISSING_FIELDS, "workflow_id"),
        ({"neph": ""}, ErrorCode.MISSING_FIELDS, "neph"),
        ({"neph": "2603690100"}, ErrorCode.INVALID_FIELD, "neph"),
        ({"category": "Z"}, ErrorCode.INVALID_FIELD, "category"),
        ({"family_name": ""}, ErrorCode.MISSING_FIELDS, "family_name"),
        ({"address_line": "x" * 501}, ErrorCode.INVALID_FIELD, "address_line"),
    ],
)
async def test_an_incomplete_order_is_refused(
    service: Running, overrides: dict[str, object], code: ErrorCode, field: str
) -> None:
    number = new_request_number(datetime.now(UTC))
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await service.stub.OrderTitle(
            production_pb2.OrderTitleRequest(**(order_fields(number, "wf") | overrides))  # type: ignore[arg-type]
        )
    assert (error_of(refused.value).code, error_of(refused.value).details["field"]) == (
        code,
        field,
    )
    with pytest.raises(grpc.aio.AioRpcError):
        await service.get(number)


# ---- the partners' events, told to the journey in order --------------------------------


async def test_delivered_at_home_each_event_told_in_order(service: Running) -> None:
    number, handle = await service.order()

    made = await service.report(
        number, MANUFACTURED, "imp-1", occurred_at="2026-03-01T08:00:00+01:00"
    )
    posted = await service.report(number, POSTED, "lp-1", tracking_number="LP12345678901FR")
    delivered = await service.report(number, DELIVERED, "lp-2", partner="la-poste")

    assert (made.state, posted.state, delivered.state) == ("manufactured", "posted", "delivered")
    assert (delivered.tracking_number, delivered.shipments) == ("LP12345678901FR", 1)
    assert [(e.type, e.partner, e.tracking_number) for e in delivered.events] == [
        (MANUFACTURED, "imprimerie", ""),
        (POSTED, "la-poste", "LP12345678901FR"),
        (DELIVERED, "la-poste", "LP12345678901FR"),
    ]
    assert delivered.events[0].occurred_at == "2026-03-01T07:00:00+00:00"
    assert await service.get(number) == delivered
    assert await received_by(handle) == [
        "manufactured|imp-1||imprimerie",
        "posted|lp-1|LP12345678901FR|la-poste",
        "delivered|lp-2|LP12345678901FR|la-poste",
    ]
    journal = await service.servicer.store.events(number)
    assert all(line.delivered_at is not None and not line.delivery_error for line in journal)


async def test_collected_at_the_post_office(service: Running) -> None:
    number, handle = await service.order()
    await service.report(number, MANUFACTURED)
    await service.report(number, POSTED, tracking_number="LP12345678901FR")

    waiting = await service.report(number, PICKUP_NOTICE_LEFT)
    collected = await service.report(number, COLLECTED, tracking_number="LP12345678901FR")

    assert (waiting.state, collected.state) == ("awaiting_pickup", "delivered")
    assert [line.split("|")[0] for line in await received_by(handle)] == [
        "manufactured",
        "posted",
        "pickup_notice_left",
        "collected",
    ]


async def test_returned_then_resent_by_the_contact_centre_then_delivered(
    service: Running,
) -> None:
    number, handle = await service.order()
    returned = await service.returned(number)
    assert (returned.state, returned.shipments) == ("returned", 1)
    resend = production_pb2.RequestResendRequest(request_number=number, agent_id="ccc-agent-7")

    asked = await service.stub.RequestResend(resend)
    again = await service.stub.RequestResend(
        production_pb2.RequestResendRequest(request_number=number, agent_id="ccc-agent-8")
    )

    assert asked.state == again.state == "resend_requested"
    assert again == asked  # asking twice changes nothing (and tells the journey once)
    ship = production_pb2.ShipAgainRequest(request_number=number, attempt=1)
    shipped, *repeats = await asyncio.gather(*(service.stub.ShipAgain(ship) for _ in range(3)))
    assert all(title == shipped for title in repeats)
    assert (shipped.state, shipped.tracking_number, shipped.shipments) == ("posted", "", 2)

    reposted = await service.report(
        number, POSTED, "lp-2-posted", tracking_number="LP22222222222FR"
    )
    assert (reposted.state, reposted.tracking_number, reposted.shipments) == (
        "posted",
        "LP22222222222FR",
        2,
    )
    with pytest.raises(grpc.aio.AioRpcError) as twice:  # the new number is taken once
        await service.report(number, POSTED, "lp-2-again", tracking_number="LP33333333333FR")
    assert error_of(twice.value).code is ErrorCode.TITLE_EVENT_OUT_OF_ORDER
    delivered = await service.report(number, DELIVERED, "lp-2-delivered")
    assert delivered.state == "delivered"
    assert await service.stub.ShipAgain(ship) == delivered  # a late retry: unchanged

    with pytest.raises(grpc.aio.AioRpcError) as not_returned:
        await service.stub.RequestResend(resend)
    assert not_returned.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error_of(not_returned.value).code is ErrorCode.TITLE_NOT_RETURNED
    told = await received_by(handle)
    assert [line.split("|")[0] for line in told] == [
        "manufactured",
        "posted",
        "pickup_notice_left",
        "returned",
        "resend_requested",
        "posted",
        "delivered",
    ]
    assert told[4] == "resend_requested|ccc-agent-7"
    assert told[5] == "posted|lp-2-posted|LP22222222222FR|la-poste"
    kinds = [line.kind for line in await service.servicer.store.events(number)]
    assert kinds == [
        "manufactured",
        "posted",
        "pickup_notice_left",
        "returned",
        "resend_requested",
        "shipped_again",
        "posted",
        "delivered",
    ]


async def test_an_unclaimed_card_is_destroyed_once(service: Running) -> None:
    number, _ = await service.order()
    await service.returned(number)
    destroy = production_pb2.DestroyTitleRequest(request_number=number, reason="")

    destroyed = await service.stub.DestroyTitle(destroy)
    again = await service.stub.DestroyTitle(destroy)

    assert destroyed.state == "destroyed" and again == destroyed
    journal = await service.servicer.store.events(number)
    assert (journal[-1].kind, journal[-1].detail) == ("destroyed", rules.DEFAULT_DESTRUCTION_REASON)
    with pytest.raises(grpc.aio.AioRpcError) as too_late:
        await service.stub.RequestResend(
            production_pb2.RequestResendRequest(request_number=number, agent_id="ccc-1")
        )
    assert error_of(too_late.value).code is ErrorCode.TITLE_DESTROYED
    with pytest.raises(grpc.aio.AioRpcError) as no_more:
        await service.report(number, COLLECTED)
    assert error_of(no_more.value).code is ErrorCode.TITLE_EVENT_OUT_OF_ORDER

    # A resend asked just before the journey's 6 months ran out: destroyed all the same.
    other, _ = await service.order()
    await service.returned(other)
    await service.stub.RequestResend(
        production_pb2.RequestResendRequest(request_number=other, agent_id="ccc-1")
    )
    late = await service.stub.DestroyTitle(
        production_pb2.DestroyTitleRequest(request_number=other, reason="Délai de 6 mois écoulé")
    )
    assert late.state == "destroyed"
    # A delivered card is never destroyed.
    third, _ = await service.order()
    await service.report(third, MANUFACTURED)
    await service.report(third, POSTED, tracking_number="LP12345678901FR")
    await service.report(third, DELIVERED)
    with pytest.raises(grpc.aio.AioRpcError) as delivered:
        await service.stub.DestroyTitle(production_pb2.DestroyTitleRequest(request_number=third))
    assert error_of(delivered.value).code is ErrorCode.TITLE_EVENT_OUT_OF_ORDER


async def test_a_repeated_event_id_returns_the_card_unchanged(service: Running) -> None:
    number, handle = await service.order()
    first, *concurrent = await asyncio.gather(
        *(service.report(number, MANUFACTURED, "imp-7") for _ in range(4))
    )
    assert all(title == first for title in concurrent)
    posted = await service.report(number, POSTED, "lp-7", tracking_number="LP12345678901FR")

    # A late retry of an earlier event: out of order as news, but a repeat.
    assert await service.report(number, MANUFACTURED, "imp-7") == posted
    assert await service.report(number, POSTED, "lp-7", tracking_number="LP12345678901FR") == posted

    with pytest.raises(grpc.aio.AioRpcError) as reused:
        await service.report(number, DELIVERED, "lp-7")
    assert error_of(reused.value).code is ErrorCode.INVALID_FIELD
    assert error_of(reused.value).details == {"field": "event_id"}
    assert len(await service.servicer.store.events(number)) == 2
    assert [line.split("|")[1] for line in await received_by(handle)] == ["imp-7", "lp-7"]


async def test_events_that_do_not_fit_are_refused_and_not_recorded(service: Running) -> None:
    number, handle = await service.order()

    for kind in (POSTED, PICKUP_NOTICE_LEFT, DELIVERED, COLLECTED, RETURNED):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await service.report(number, kind, tracking_number="LP12345678901FR")
        assert refused.value.code() is grpc.StatusCode.FAILED_PRECONDITION
        error = error_of(refused.value)
        assert error.code is ErrorCode.TITLE_EVENT_OUT_OF_ORDER
        assert error.details["state"] == "ordered"
        assert "commandé" in error.message

    bad_inputs = [
        (dict(kind=production_pb2.PARTNER_EVENT_TYPE_UNSPECIFIED), ErrorCode.INVALID_FIELD),
        (dict(kind=MANUFACTURED, partner="la-poste"), ErrorCode.INVALID_FIELD),
        (dict(kind=MANUFACTURED, occurred_at="2999-01-01T00:00:00+00:00"), ErrorCode.INVALID_FIELD),
        (dict(kind=MANUFACTURED, event_id="avec espace"), ErrorCode.INVALID_FIELD),
    ]
    for arguments, code in bad_inputs:
        kind = arguments.pop("kind")
        with pytest.raises(grpc.aio.AioRpcError) as invalid:
            await service.report(number, kind, **arguments)  # type: ignore[arg-type]
        assert error_of(invalid.value).code is code
    await service.report(number, MANUFACTURED)
    with pytest.raises(grpc.aio.AioRpcError) as untracked:
        await service.report(number, POSTED)
    assert error_of(untracked.value).code is ErrorCode.MISSING_FIELDS
    with pytest.raises(grpc.aio.AioRpcError) as unknown:
        await service.report(new_request_number(datetime.now(UTC)), MANUFACTURED)
    assert error_of(unknown.value).code is ErrorCode.TITLE_NOT_FOUND

    assert (await service.get(number)).state == "manufactured"
    assert [line.kind for line in await service.servicer.store.events(number)] == ["manufactured"]
    assert [line.split("|")[0] for line in await received_by(handle)] == ["manufactured"]


async def test_two_racing_outcomes_only_one_wins(service: Running) -> None:
    number, handle = await service.order()
    await service.report(number, MANUFACTURED)
    await service.report(number, POSTED, tracking_number="LP12345678901FR")

    outcomes = await asyncio.gather(
        service.report(number, DELIVERED),
        service.report(number, PICKUP_NOTICE_LEFT),
        return_exceptions=True,
    )

    won = [o for o in outcomes if isinstance(o, production_pb2.Title)]
    lost = [o for o in outcomes if isinstance(o, grpc.aio.AioRpcError)]
    assert len(won) == 1 and len(lost) == 1, outcomes
    assert error_of(lost[0]).code is ErrorCode.TITLE_EVENT_OUT_OF_ORDER
    final = await service.get(number)
    assert final.state == won[0].state
    assert len(final.events) == 3
    assert len(await received_by(handle)) == 3


# ---- delivery to the journey when Temporal or the journey is not there ----------------


async def test_temporal_outage_keeps_the_event_and_the_retry_delivers_in_order(
    service: Running,
) -> None:
    number, handle = await service.order()
    working = service.servicer.updater
    service.servicer.updater = await unreachable_updater()

    with pytest.raises(grpc.aio.AioRpcError) as outage:
        await service.report(number, MANUFACTURED, "imp-1")
    assert outage.value.code() is grpc.StatusCode.UNAVAILABLE
    assert error_of(outage.value).code is ErrorCode.SERVICE_UNAVAILABLE
    # Recorded all the same: the card moved, the next event is accepted.
    assert (await service.get(number)).state == "manufactured"
    with pytest.raises(grpc.aio.AioRpcError):
        await service.report(number, POSTED, "lp-1", tracking_number="LP12345678901FR")
    journal = await service.servicer.store.events(number)
    assert [(line.kind, line.delivered_at, line.delivery_error) for line in journal] == [
        ("manufactured", None, "service_unavailable"),
        ("posted", None, ""),  # not tried: the earlier one had to go first
    ]

    service.servicer.updater = working
    retried = await service.report(number, POSTED, "lp-1", tracking_number="LP12345678901FR")

    assert retried.state == "posted"
    journal = await service.servicer.store.events(number)
    assert all(line.delivered_at is not None and not line.delivery_error for line in journal)
    # The retry of the first one finds it delivered: nothing signalled twice.
    await service.report(number, MANUFACTURED, "imp-1")
    assert await received_by(handle) == [
        "manufactured|imp-1||imprimerie",
        "posted|lp-1|LP12345678901FR|la-poste",
    ]


async def test_a_resend_request_survives_an_outage(service: Running) -> None:
    number, handle = await service.order()
    await service.returned(number)
    working = service.servicer.updater
    service.servicer.updater = await unreachable_updater()
    resend = production_pb2.RequestResendRequest(request_number=number, agent_id="ccc-agent-1")

    with pytest.raises(grpc.aio.AioRpcError) as outage:
        await service.stub.RequestResend(resend)
    assert error_of(outage.value).code is ErrorCode.SERVICE_UNAVAILABLE
    assert (await service.get(number)).state == "resend_requested"

    service.servicer.updater = working
    assert (await service.stub.RequestResend(resend)).state == "resend_requested"
    assert (await received_by(handle))[-1] == "resend_requested|ccc-agent-1"


async def test_a_journey_that_has_ended_does_not_stop_the_partners(service: Running) -> None:
    number, handle = await service.order()
    assert await received_by(handle) == []  # the journey is over

    returned = await service.returned(number)

    assert returned.state == "returned"  # the partners' facts are kept
    journal = await service.servicer.store.events(number)
    assert journal[0].delivery_error == "journey_not_waiting"
    assert all(line.delivered_at is None for line in journal)
    # Nobody would ship the card again: the contact centre is told.
    with pytest.raises(grpc.aio.AioRpcError) as ended:
        await service.stub.RequestResend(
            production_pb2.RequestResendRequest(request_number=number, agent_id="ccc-agent-1")
        )
    assert ended.value.code() is grpc.StatusCode.FAILED_PRECONDITION
    error = error_of(ended.value)
    assert error.code is ErrorCode.JOURNEY_NOT_WAITING
    assert "terminée" in error.message
    assert error.details["workflow_id"] == handle.id


# ---- listing --------------------------------------------------------------------------


async def test_titles_page_by_state_oldest_first(service: Running) -> None:
    numbers = []
    for _ in range(7):
        number = new_request_number(datetime.now(UTC))
        await service.stub.OrderTitle(order_request(number, f"wf-{number}"))
        numbers.append(number)
    # Journeys that do not exist: the events are kept all the same.
    for number in numbers[:2]:
        await service.report(number, MANUFACTURED)

    async def all_pages(state: str, size: int) -> tuple[list[str], int]:
        seen: list[str] = []
        token, pages = "", 0
        while True:
            page = await service.stub.ListTitles(
                production_pb2.ListTitlesRequest(state=state, page_size=size, page_token=token)
            )
            pages += 1
            assert len(page.titles) <= size
            assert all(title.state == state for title in page.titles if state)
            seen += [title.request_number for title in page.titles]
            token = page.next_page_token
            if not token:
                return seen, pages

    assert await all_pages("ordered", 2) == (numbers[2:], 3)
    assert await all_pages("", 3) == (numbers, 3)
    assert await all_pages("manufactured", 50) == (numbers[:2], 1)
    assert await all_pages("delivered", 5) == ([], 1)
    page = await service.stub.ListTitles(production_pb2.ListTitlesRequest(state="manufactured"))
    assert [len(title.events) for title in page.titles] == [1, 1]
    for bad in (
        production_pb2.ListTitlesRequest(state="perdu"),
        production_pb2.ListTitlesRequest(page_token="garbage!"),
    ):
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await service.stub.ListTitles(bad)
        assert error_of(refused.value).code is ErrorCode.INVALID_FIELD
