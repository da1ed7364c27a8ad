"""The card's delivery: a child of the title journey, driven only by signals and timers.

Started by ``TitleWorkflow`` once the DDT accepts a title request (id
``delivery-<request number>``, the one the production service signals). It owns the
notice's delivery rules (« En cas d'absence, 15 jours à partir du premier passage du
facteur pour le récupérer à la Poste, ou 6 mois pour redemander l'envoi auprès du Centre
de Contact Citoyens. Au-delà, le titre est détruit et une nouvelle demande doit être
réalisée. »)::

    in_production ─posted─> sent ─delivered─────────────────────────────> delivered
                             │
                             └─pickup_notice_left─> awaiting_pickup ─collected─> delivered
                                                     │  (15 days from the first visit,
                                                     │   or the post's ``returned``)
                                                     └──────────────> returned
    returned ─resend_requested─> ship_again ─> resend_requested ─posted─> sent ...
    returned ─6 months─> destroy_title ─> destroyed

Signals: ``partner_event`` (``PartnerEventSignal``, from the printer and the post through
the production service; a repeated ``event_id`` is ignored) and ``resend_requested``
(``ResendRequested``, the contact centre through the production service). Both are
queued and handled in the order received. Each status change is told to the parent with
the ``delivery_progress`` signal (a ``DeliveryView``); the result is the final view
(delivered or destroyed).

The post's word wins over the clock: a card reported delivered or collected is delivered
whatever the timers said (a late report of a collection within the 15 days).
"""

from __future__ import annotations

import calendar
from datetime import UTC, datetime

from temporalio import workflow
from temporalio.exceptions import ActivityError, FailureError

with workflow.unsafe.imports_passed_through():
    import workflows.ids as ids
    import workflows.messages as messages
    from workflows.activities import JourneyActivities
    from workflows.models import (
        FINAL_DELIVERY_STAGES,
        STAGE_LABELS,
        DeliveryView,
        DestroyTitle,
        Journey,
        PartnerEventSignal,
        PartnerEventType,
        ResendRequested,
        ShipTitleAgain,
        Stage,
        StartDelivery,
        StatusChange,
    )
    from workflows.procedure import GRPC_ACTIVITY_TIMEOUT, MIN_TIMER, RETRY

# The signal the parent (the title journey) receives at each status change.
PROGRESS_SIGNAL = "delivery_progress"


def add_months(moment: datetime, months: int) -> datetime:
    """The same day ``months`` later, on the month's last day when it has no such day
    (31 August + 6 months = 28 or 29 February)."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(
        year=year, month=month, day=min(moment.day, calendar.monthrange(year, month)[1])
    )


def _at_most_now(moment: datetime) -> datetime:
    """When something happened, as the delays count it: never later than now (a partner's
    clock a little ahead), and in UTC when the sender gave no offset."""
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return min(aware, workflow.now())


@workflow.defn(name="TitleDeliveryWorkflow")
class TitleDeliveryWorkflow:
    @workflow.init
    def __init__(self, start: StartDelivery) -> None:
        now = workflow.now()
        self._start = start
        # Signals, in the order received, until the run loop handles them.
        self._inbox: list[PartnerEventSignal | ResendRequested] = []
        self._seen_events: set[str] = set()
        self._seen_resends: set[tuple[str, datetime]] = set()
        label = STAGE_LABELS[Stage.IN_PRODUCTION]
        self._view = DeliveryView(
            request_number=start.request_number,
            since=now,
            history=[StatusChange(stage=Stage.IN_PRODUCTION, at=now, label=label)],
        )

    @workflow.run
    async def run(self, start: StartDelivery) -> DeliveryView:
        workflow.upsert_search_attributes(
            [
                ids.REQUEST_NUMBER.value_set(start.request_number),
                ids.JOURNEY.value_set(Journey.TITLE.value),
                ids.STAGE.value_set(self._view.stage.value),
            ]
        )
        workflow.set_current_details(messages.delivery_details(self._view))
        while self._view.stage not in FINAL_DELIVERY_STAGES:
            deadline, summary = self._deadline()
            try:
                await workflow.wait_condition(
                    lambda: bool(self._inbox),
                    timeout=None if deadline is None else max(deadline - workflow.now(), MIN_TIMER),
                    timeout_summary=summary,
                )
            except TimeoutError:
                await self._deadline_passed()
                continue
            item = self._inbox.pop(0)
            if isinstance(item, ResendRequested):
                await self._resend(item)
            else:
                await self._partner_event(item)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return self._view

    # ---- delays ------------------------------------------------------------------------

    def _deadline(self) -> tuple[datetime | None, str | None]:
        view = self._view
        if view.stage is Stage.AWAITING_PICKUP and view.pickup_deadline is not None:
            deadline = view.pickup_deadline
            return deadline, messages.pickup_timer_summary(self._start.pickup_delay, deadline)
        if view.stage is Stage.RETURNED and view.resend_deadline is not None:
            deadline = view.resend_deadline
            months = self._start.resend_window_months
            return deadline, messages.resend_timer_summary(months, deadline)
        return None, None

    async def _deadline_passed(self) -> None:
        view = self._view
        if view.stage is Stage.AWAITING_PICKUP:
            # Not collected within the 15 days: the post sends the card back.
            assert view.pickup_deadline is not None
            await self._returned(view.pickup_deadline)
        elif view.stage is Stage.RETURNED:
            await self._destroy()

    # ---- what moves the card -----------------------------------------------------------

    async def _partner_event(self, event: PartnerEventSignal) -> None:
        if event.event_id in self._seen_events:
            return  # the production service delivered it again
        self._seen_events.add(event.event_id)
        view = self._view
        view.events.append(event)
        at = _at_most_now(event.occurred_at)
        stage = view.stage
        match event.type:
            case PartnerEventType.MANUFACTURED:
                if stage is Stage.IN_PRODUCTION and view.manufactured_at is None:
                    view.manufactured_at = at
                    await self._report()
            case PartnerEventType.POSTED:
                if stage in (Stage.IN_PRODUCTION, Stage.RESEND_REQUESTED):
                    view.tracking_number = event.tracking_number
                    await self._move(Stage.SENT, at)
                elif stage is Stage.SENT and event.tracking_number != view.tracking_number:
                    view.tracking_number = event.tracking_number
                    await self._report()
            case PartnerEventType.PICKUP_NOTICE_LEFT:
                # The 15 days count from the first visit: a second notice changes nothing.
                if stage in (Stage.IN_PRODUCTION, Stage.SENT, Stage.RESEND_REQUESTED):
                    view.tracking_number = event.tracking_number or view.tracking_number
                    view.first_visit_at = at
                    view.pickup_deadline = at + self._start.pickup_delay
                    await self._move(Stage.AWAITING_PICKUP, at)
            case PartnerEventType.DELIVERED | PartnerEventType.COLLECTED:
                await self._move(Stage.DELIVERED, at)
            case PartnerEventType.RETURNED:
                if stage in (Stage.SENT, Stage.AWAITING_PICKUP, Stage.RESEND_REQUESTED):
                    await self._returned(at)
        if view.stage is stage:
            workflow.set_current_details(messages.delivery_details(view))

    async def _returned(self, at: datetime) -> None:
        view = self._view
        view.returned_at = at
        view.resend_deadline = add_months(at, self._start.resend_window_months)
        await self._move(Stage.RETURNED, at)

    async def _resend(self, request: ResendRequested) -> None:
        key = (request.agent_id, request.requested_at)
        if key in self._seen_resends:
            return  # the production service delivered it again
        self._seen_resends.add(key)
        view = self._view
        view.resend_requests.append(request)
        if view.stage is not Stage.RETURNED:
            workflow.logger.warning(
                "Réexpédition demandée par %s ignorée : titre %s",
                request.agent_id,
                view.stage_label,
            )
            return
        attempt = view.shipment
        try:
            await workflow.execute_activity_method(
                JourneyActivities.ship_again,
                ShipTitleAgain(request_number=view.request_number, attempt=attempt),
                start_to_close_timeout=GRPC_ACTIVITY_TIMEOUT,
                retry_policy=RETRY,
                summary=f"Réexpédition du titre (renvoi n° {attempt})",
            )
        except ActivityError as error:
            # The card stays returned (the 6 months still run): for an operator to see.
            workflow.logger.warning("Réexpédition refusée : %s", error.cause)
            return
        view.shipment = attempt + 1
        view.tracking_number = ""
        view.first_visit_at = view.pickup_deadline = view.resend_deadline = None
        await self._move(Stage.RESEND_REQUESTED, _at_most_now(request.requested_at))

    async def _destroy(self) -> None:
        view = self._view
        returned = messages.local_date(view.returned_at) if view.returned_at else "?"
        months = self._start.resend_window_months
        try:
            await workflow.execute_activity_method(
                JourneyActivities.destroy_title,
                DestroyTitle(
                    request_number=view.request_number,
                    reason=(
                        f"Titre non réclamé : aucune demande de réexpédition dans les {months} "
                        f"mois suivant son retour le {returned}."
                    ),
                ),
                start_to_close_timeout=GRPC_ACTIVITY_TIMEOUT,
                retry_policy=RETRY,
                summary="Destruction du titre non réclamé",
            )
        except ActivityError as error:
            # The candidate's right to a resend has lapsed all the same (a new request is
            # needed); the card's fate at the producer is for an operator to settle.
            workflow.logger.warning("Destruction du titre refusée : %s", error.cause)
        await self._move(Stage.DESTROYED, workflow.now())

    # ---- status ------------------------------------------------------------------------

    async def _move(self, stage: Stage, at: datetime) -> None:
        view = self._view
        view.stage = stage
        view.stage_label = STAGE_LABELS[stage]
        view.since = at
        view.history.append(StatusChange(stage=stage, at=at, label=STAGE_LABELS[stage]))
        workflow.upsert_search_attributes([ids.STAGE.value_set(stage.value)])
        workflow.set_current_details(messages.delivery_details(view))
        await self._report()

    async def _report(self) -> None:
        """Tell the title journey (the parent) where the card stands."""
        parent = workflow.info().parent
        if parent is None:
            return  # started on its own (an operator's repair): nobody to tell
        handle = workflow.get_external_workflow_handle(parent.workflow_id, run_id=parent.run_id)
        try:
            await handle.signal(PROGRESS_SIGNAL, self._view.model_copy(deep=True))
        except FailureError as error:
            workflow.logger.warning("Avancement non transmis à %s : %s", parent.workflow_id, error)

    # ---- signals and reads ---------------------------------------------------------------

    @workflow.signal
    def partner_event(self, event: PartnerEventSignal) -> None:
        self._inbox.append(event)

    @workflow.signal
    def resend_requested(self, request: ResendRequested) -> None:
        self._inbox.append(request)

    @workflow.query
    def view(self) -> DeliveryView:
        return self._view
