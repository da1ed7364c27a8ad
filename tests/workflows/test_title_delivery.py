"""The card's delivery journey, on the time-skipping server: the notice's 15 days from the
postman's first visit, then 6 months to ask for a resend, then destruction.

The journey runs under a stand-in title journey (``delivery_parent``), which keeps the
progress signals it receives, as ``TitleWorkflow`` does.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.testing import WorkflowEnvironment

from tests.workflows.delivery_parent import StandInTitleJourney
from tests.workflows.test_inscription_abandon import register_search_attributes
from tests.workflows.title_scenarios import (
    DELIVERY_WORKFLOWS,
    SECOND_TRACKING,
    TRACKING,
    DeliveryHandle,
    FakeTitleServices,
    partner_event,
    resend,
    running_title_worker,
    start_delivery,
    wait_for_delivery,
)
from workflows.delivery import TitleDeliveryWorkflow, add_months
from workflows.models import PartnerEventSignal, PartnerEventType, Stage, StatusChange

MANUFACTURED = PartnerEventType.MANUFACTURED
POSTED = PartnerEventType.POSTED
NOTICE = PartnerEventType.PICKUP_NOTICE_LEFT
DELIVERED = PartnerEventType.DELIVERED
COLLECTED = PartnerEventType.COLLECTED
RETURNED = PartnerEventType.RETURNED


@pytest.fixture
async def env(time_skipping_env: WorkflowEnvironment) -> WorkflowEnvironment:
    await register_search_attributes(time_skipping_env.client)
    return time_skipping_env


def stages(history: list[StatusChange]) -> list[Stage]:
    return [change.stage for change in history]


async def send(child: DeliveryHandle, event: PartnerEventSignal) -> None:
    """What the production service does for each partner event it records."""
    await child.signal(TitleDeliveryWorkflow.partner_event, event)


async def test_delivered_at_home(env: WorkflowEnvironment) -> None:
    fake = FakeTitleServices()
    async with running_title_worker(env.client, fake, workflows=DELIVERY_WORKFLOWS) as queue:
        parent, child = await start_delivery(env.client, queue)
        now = await env.get_current_time()
        await send(child, partner_event(MANUFACTURED, now))
        posted = partner_event(POSTED, now, tracking_number=TRACKING)
        await send(child, posted)
        # The post's retry of the same event changes nothing.
        await send(child, posted)
        sent = await wait_for_delivery(child, lambda view: view.stage is Stage.SENT)
        assert sent.tracking_number == TRACKING
        await send(child, partner_event(DELIVERED, now))
        result = await child.result()
        received = await parent.query(StandInTitleJourney.received)
        await parent.result()

    assert result.stage is Stage.DELIVERED
    assert stages(result.history) == [Stage.IN_PRODUCTION, Stage.SENT, Stage.DELIVERED]
    assert [event.type for event in result.events] == [MANUFACTURED, POSTED, DELIVERED]
    assert result.manufactured_at is not None and result.pickup_deadline is None
    # The parent heard of every change, in order: made, sent, delivered.
    assert [(p.stage, p.manufactured_at is not None) for p in received] == [
        (Stage.IN_PRODUCTION, True),
        (Stage.SENT, True),
        (Stage.DELIVERED, True),
    ]
    assert received[-1] == result
    assert (fake.shipped, fake.destroyed) == ([], [])


async def test_collected_within_the_15_days(env: WorkflowEnvironment) -> None:
    fake = FakeTitleServices()
    async with running_title_worker(env.client, fake, workflows=DELIVERY_WORKFLOWS) as queue:
        parent, child = await start_delivery(env.client, queue)
        now = await env.get_current_time()
        await send(child, partner_event(POSTED, now, tracking_number=TRACKING))
        visit = await env.get_current_time()
        await send(child, partner_event(NOTICE, visit))
        waiting = await wait_for_delivery(child, lambda v: v.stage is Stage.AWAITING_PICKUP)
        assert waiting.first_visit_at is not None
        assert waiting.pickup_deadline == waiting.first_visit_at + timedelta(days=15)
        assert waiting.first_visit_at <= visit

        await env.sleep(timedelta(days=14))
        # A second visit does not move the deadline.
        second = await env.get_current_time()
        await send(child, partner_event(NOTICE, second))
        still = await wait_for_delivery(child, lambda v: len(v.events) == 3)
        assert still.stage is Stage.AWAITING_PICKUP
        assert still.pickup_deadline == waiting.pickup_deadline
        await send(
            child,
            partner_event(COLLECTED, await env.get_current_time()),
        )
        result = await child.result()
        received = await parent.query(StandInTitleJourney.received)

    assert result.stage is Stage.DELIVERED
    assert stages(result.history) == [
        Stage.IN_PRODUCTION,
        Stage.SENT,
        Stage.AWAITING_PICKUP,
        Stage.DELIVERED,
    ]
    assert [p.stage for p in received] == [Stage.SENT, Stage.AWAITING_PICKUP, Stage.DELIVERED]
    assert received[1].pickup_deadline == waiting.pickup_deadline
    assert (fake.shipped, fake.destroyed) == ([], [])


async def test_returned_then_resent_within_6_months_then_delivered(
    env: WorkflowEnvironment,
) -> None:
    fake = FakeTitleServices()
    async with running_title_worker(env.client, fake, workflows=DELIVERY_WORKFLOWS) as queue:
        parent, child = await start_delivery(env.client, queue)
        now = await env.get_current_time()
        await send(child, partner_event(POSTED, now, tracking_number=TRACKING))
        await send(child, partner_event(NOTICE, now))
        waiting = await wait_for_delivery(child, lambda v: v.stage is Stage.AWAITING_PICKUP)

        # Nobody came within the 15 days: the card goes back.
        await env.sleep(timedelta(days=15))
        returned = await wait_for_delivery(child, lambda v: v.stage is Stage.RETURNED)
        assert returned.returned_at == waiting.pickup_deadline
        assert waiting.pickup_deadline is not None
        assert returned.resend_deadline == add_months(waiting.pickup_deadline, 6)
        # The post's own report of the return, later, changes nothing.
        await send(
            child,
            partner_event(RETURNED, await env.get_current_time()),
        )

        # Two months later the candidate calls the contact centre.
        await env.sleep(timedelta(days=60))
        request = resend(await env.get_current_time())
        await child.signal(TitleDeliveryWorkflow.resend_requested, request)
        await child.signal(TitleDeliveryWorkflow.resend_requested, request)  # re-delivered
        again = await wait_for_delivery(child, lambda v: v.stage is Stage.RESEND_REQUESTED)
        assert (again.shipment, again.tracking_number, again.resend_deadline) == (2, "", None)
        assert [(s.request_number, s.attempt) for s in fake.shipped] == [(again.request_number, 1)]

        now = await env.get_current_time()
        await send(
            child,
            partner_event(POSTED, now, tracking_number=SECOND_TRACKING),
        )
        await wait_for_delivery(child, lambda v: v.stage is Stage.SENT)
        await send(child, partner_event(DELIVERED, now))
        result = await child.result()
        received = await parent.query(StandInTitleJourney.received)

    assert result.stage is Stage.DELIVERED
    assert stages(result.history) == [
        Stage.IN_PRODUCTION,
        Stage.SENT,
        Stage.AWAITING_PICKUP,
        Stage.RETURNED,
        Stage.RESEND_REQUESTED,
        Stage.SENT,
        Stage.DELIVERED,
    ]
    assert (result.shipment, result.tracking_number) == (2, SECOND_TRACKING)
    assert len(result.resend_requests) == 1 and len(fake.shipped) == 1
    assert [p.stage for p in received] == stages(result.history)[1:]
    assert received[2].resend_deadline == returned.resend_deadline
    assert fake.destroyed == []


async def test_returned_and_destroyed_after_6_months(env: WorkflowEnvironment) -> None:
    fake = FakeTitleServices()
    async with running_title_worker(env.client, fake, workflows=DELIVERY_WORKFLOWS) as queue:
        parent, child = await start_delivery(env.client, queue)
        now = await env.get_current_time()
        await send(child, partner_event(POSTED, now, tracking_number=TRACKING))
        await send(child, partner_event(NOTICE, now))
        await wait_for_delivery(child, lambda v: v.stage is Stage.AWAITING_PICKUP)
        await env.sleep(timedelta(days=15))
        returned = await wait_for_delivery(child, lambda v: v.stage is Stage.RETURNED)
        assert returned.resend_deadline is not None and returned.returned_at is not None
        assert timedelta(days=181) <= returned.resend_deadline - returned.returned_at
        assert returned.resend_deadline - returned.returned_at <= timedelta(days=184)

        # A day before the 6 months end, the card still waits for a resend request.
        await env.sleep(returned.resend_deadline - await env.get_current_time() - timedelta(days=1))
        assert (await child.query(TitleDeliveryWorkflow.view)).stage is Stage.RETURNED
        assert fake.destroyed == []

        await env.sleep(timedelta(days=2))
        result = await child.result()
        received = await parent.query(StandInTitleJourney.received)
        await parent.result()

    assert result.stage is Stage.DESTROYED
    assert stages(result.history)[-2:] == [Stage.RETURNED, Stage.DESTROYED]
    assert result.history[-1].at >= returned.resend_deadline
    assert [d.request_number for d in fake.destroyed] == [result.request_number]
    assert "aucune demande de réexpédition dans les 6 mois" in fake.destroyed[0].reason
    assert [p.stage for p in received] == [
        Stage.SENT,
        Stage.AWAITING_PICKUP,
        Stage.RETURNED,
        Stage.DESTROYED,
    ]
    assert fake.shipped == []


async def test_post_returns_early_and_a_late_collection_still_counts(
    env: WorkflowEnvironment,
) -> None:
    """The post's ``returned`` ends the 15 days at once; a collection it reports late
    (after the journey's own deadline) is the post's word: delivered."""
    fake = FakeTitleServices()
    async with running_title_worker(env.client, fake, workflows=DELIVERY_WORKFLOWS) as queue:
        _, child = await start_delivery(env.client, queue)
        now = await env.get_current_time()
        await send(child, partner_event(POSTED, now, tracking_number=TRACKING))
        await send(child, partner_event(NOTICE, now))
        await env.sleep(timedelta(days=3))
        back = await env.get_current_time()
        await send(child, partner_event(RETURNED, back))
        returned = await wait_for_delivery(child, lambda v: v.stage is Stage.RETURNED)
        assert returned.returned_at is not None
        assert returned.returned_at <= back and returned.resend_deadline == add_months(
            returned.returned_at, 6
        )
        await send(
            child,
            partner_event(COLLECTED, await env.get_current_time()),
        )
        result = await child.result()
    assert stages(result.history)[-2:] == [Stage.RETURNED, Stage.DELIVERED]
    assert fake.destroyed == []


def test_add_months_keeps_the_day_or_takes_the_last_one() -> None:
    assert add_months(datetime(2025, 11, 26, 9, tzinfo=UTC), 6) == datetime(
        2026, 5, 26, 9, tzinfo=UTC
    )
    assert add_months(datetime(2025, 8, 31, tzinfo=UTC), 6) == datetime(2026, 2, 28, tzinfo=UTC)
    assert add_months(datetime(2027, 8, 31, tzinfo=UTC), 6) == datetime(2028, 2, 29, tzinfo=UTC)
    assert add_months(datetime(2025, 12, 15, tzinfo=UTC), 1) == datetime(2026, 1, 15, tzinfo=UTC)
