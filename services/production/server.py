"""ProductionService: the licence card from its order to its delivery, or destruction.

The title journey orders a card (OrderTitle). The printer and the post then report what
happens to it (RecordPartnerEvent); the contact centre may ask to send a returned card
again (RequestResend); the delivery journey, which owns the notice's 15-day and 6-month
delays, has it shipped again (ShipAgain) or destroyed (DestroyTitle).

Delivery to the journey: what a partner or the contact centre reports is first recorded
(journal line + new state, one transaction), then signalled to the journey
(``partner_event`` with a ``PartnerEventSignal``, ``resend_requested`` with a
``ResendRequested``), then marked delivered. Every call first delivers the card's earlier
undelivered lines, oldest first, so the journey hears of them in the order they
happened.

- Temporal unreachable: the call fails with SERVICE_UNAVAILABLE; what was reported stays
  recorded, undelivered. The partner's retry (same ``event_id``) finds it recorded and
  delivers it (a repeat is answered with the card unchanged: partners retry).
- The journey has ended (or never existed): a partner event is still accepted (it is a
  fact about the card, and the partner can do nothing about our journey); the line is
  kept undelivered with ``journey_not_waiting`` for operators. A resend request, though,
  is answered JOURNEY_NOT_WAITING: nobody would ship the card, the agent must know.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

import grpc
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from permis.production.v1 import production_pb2, production_pb2_grpc
from services.common.auth import (
    CONTACT_CENTRE,
    OPERATOR,
    POST,
    PRINTER,
    WORKER,
    AccessTable,
    acting_person,
    roles,
)
from services.common.db import is_unique_violation, make_engine, make_sessionmaker
from services.common.errors import ErrorCode, PermisError
from services.common.grpc_server import ServiceDefinition
from services.common.journey_updates import JourneyUpdater
from services.common.settings import Settings
from services.production import rules
from services.production.storage import TitleEventRow, TitleRow, TitleStore, create_tables
from workflows.ids import is_request_number
from workflows.models import Category, PartnerEventSignal, PartnerEventType, ResendRequested

log = logging.getLogger(__name__)

SERVICE_NAME = production_pb2.DESCRIPTOR.services_by_name["ProductionService"].full_name
PARTNER_EVENT_SIGNAL = "partner_event"
RESEND_REQUESTED_SIGNAL = "resend_requested"
JOURNEY = "parcours"  # the actor of the journey's own requests (ShipAgain, DestroyTitle)
MAX_WORKFLOW_ID = 200
# A change is decided on the card as read; if it moved meanwhile, decide again.
MAX_RACES = 5
Clock = Callable[[], datetime]

_PROTO_EVENTS: dict[int, str] = {
    production_pb2.PARTNER_EVENT_TYPE_MANUFACTURED: rules.EVENT_MANUFACTURED,
    production_pb2.PARTNER_EVENT_TYPE_POSTED: rules.EVENT_POSTED,
    production_pb2.PARTNER_EVENT_TYPE_PICKUP_NOTICE_LEFT: rules.EVENT_PICKUP_NOTICE_LEFT,
    production_pb2.PARTNER_EVENT_TYPE_DELIVERED: rules.EVENT_DELIVERED,
    production_pb2.PARTNER_EVENT_TYPE_COLLECTED: rules.EVENT_COLLECTED,
    production_pb2.PARTNER_EVENT_TYPE_RETURNED: rules.EVENT_RETURNED,
}
_EVENT_PROTOS = {name: number for number, name in _PROTO_EVENTS.items()}


def utc_now() -> datetime:
    return datetime.now(UTC)


# ---- mapping -------------------------------------------------------------------------


def title_proto(title: TitleRow, journal: list[TitleEventRow]) -> production_pb2.Title:
    """The card, with its partners' events (oldest first)."""
    return production_pb2.Title(
        request_number=title.request_number,
        workflow_id=title.workflow_id,
        neph=title.neph,
        category=title.category,
        state=title.state,
        tracking_number=title.tracking_number,
        ordered_at=title.ordered_at.isoformat(),
        events=[
            production_pb2.TitleEvent(
                type=_EVENT_PROTOS[line.kind],  # type: ignore[arg-type]
                occurred_at=line.occurred_at.isoformat(),
                tracking_number=line.tracking_number,
                partner=line.actor,
            )
            for line in journal
            if line.kind in _EVENT_PROTOS
        ],
        shipments=title.shipments,
        family_name=title.family_name,
        given_names=title.given_names,
        address_line=title.address_line,
        first_licence=title.first_licence,
    )


def signal_of(line: TitleEventRow) -> tuple[str, BaseModel]:
    """What the journey receives for a journal line: built from the stored line, so a
    re-delivery carries exactly the first one's payload."""
    if line.kind == rules.EVENT_RESEND_REQUESTED:
        return RESEND_REQUESTED_SIGNAL, ResendRequested(
            agent_id=line.actor, requested_at=line.occurred_at
        )
    return PARTNER_EVENT_SIGNAL, PartnerEventSignal(
        event_id=line.event_id,
        type=PartnerEventType(line.kind),
        occurred_at=line.occurred_at,
        tracking_number=line.tracking_number,
        partner=line.actor,
    )


def request_number_of(raw: str) -> str:
    number = raw.strip()
    if not number:
        raise PermisError(ErrorCode.MISSING_FIELDS, details={"field": "request_number"})
    if not is_request_number(number):
        raise PermisError(
            ErrorCode.INVALID_FIELD, "Numéro de demande invalide.", {"field": "request_number"}
        )
    return number


def workflow_id_of(raw: str) -> str:
    workflow_id = raw.strip()
    if not workflow_id:
        raise PermisError(ErrorCode.MISSING_FIELDS, details={"field": "workflow_id"})
    if len(workflow_id) > MAX_WORKFLOW_ID:
        raise PermisError(
            ErrorCode.INVALID_FIELD,
            "L'identifiant de la démarche est invalide.",
            {"field": "workflow_id"},
        )
    return workflow_id


def category_of(raw: str) -> str:
    category = raw.strip()
    if not category:
        raise PermisError(ErrorCode.MISSING_FIELDS, details={"field": "category"})
    try:
        return Category(category).value
    except ValueError:
        raise PermisError(
            ErrorCode.INVALID_FIELD, "Catégorie de permis inconnue.", {"field": "category"}
        ) from None


def partner_event_of(value: int) -> str:
    event = _PROTO_EVENTS.get(value)
    if event is None:
        raise PermisError(ErrorCode.INVALID_FIELD, "Type d'événement inconnu.", {"field": "type"})
    return event


# ---- the servicer --------------------------------------------------------------------


class ProductionServicer(production_pb2_grpc.ProductionServiceServicer):
    def __init__(
        self, store: TitleStore, updater: JourneyUpdater, *, clock: Clock = utc_now
    ) -> None:
        self.store = store
        self.updater = updater
        self.clock = clock

    async def OrderTitle(
        self, request: production_pb2.OrderTitleRequest, context: grpc.aio.ServicerContext
    ) -> production_pb2.Title:
        """Idempotent per request number: a retried order returns the card as it is."""
        number = request_number_of(request.request_number)
        row = TitleRow(
            request_number=number,
            workflow_id=workflow_id_of(request.workflow_id),
            neph=rules.check_neph(request.neph),
            category=category_of(request.category),
            family_name=rules.check_text(request.family_name, "family_name", rules.MAX_NAME),
            given_names=rules.check_text(request.given_names, "given_names", rules.MAX_NAME),
            address_line=rules.check_text(request.address_line, "address_line", rules.MAX_ADDRESS),
            first_licence=request.first_licence,
            state=rules.ORDERED,
            tracking_number="",
            shipments=0,
            ordered_at=self.clock(),
            version=0,
        )
        row.updated_at = row.ordered_at
        title = await self.store.order(row)
        if title is row:
            log.info("title %s ordered (NEPH %s, %s)", number, title.neph, title.category)
        return await self._proto(title)

    async def GetTitle(
        self, request: production_pb2.GetTitleRequest, context: grpc.aio.ServicerContext
    ) -> production_pb2.Title:
        return await self._proto(await self._title(request_number_of(request.request_number)))

    async def ListTitles(
        self, request: production_pb2.ListTitlesRequest, context: grpc.aio.ServicerContext
    ) -> production_pb2.ListTitlesResponse:
        state = rules.check_state_filter(request.state)
        size = rules.page_size(request.page_size)
        after = rules.decode_page_token(request.page_token) if request.page_token else None
        rows = list(await self.store.page(state, after, size + 1))
        token = ""
        if len(rows) > size:  # one more than asked: there is a next page
            rows = rows[:size]
            token = rules.encode_page_token(rows[-1].ordered_at, rows[-1].request_number)
        journals = await self.store.journals([row.request_number for row in rows])
        return production_pb2.ListTitlesResponse(
            titles=[title_proto(row, journals.get(row.request_number, [])) for row in rows],
            next_page_token=token,
        )

    async def RecordPartnerEvent(
        self, request: production_pb2.PartnerEvent, context: grpc.aio.ServicerContext
    ) -> production_pb2.Title:
        event_id = rules.check_event_id(request.event_id)
        number = request_number_of(request.request_number)
        event = partner_event_of(request.type)
        partner = rules.check_partner(event, request.partner)
        occurred_at = rules.check_occurred_at(request.occurred_at, self.clock())
        for _ in range(MAX_RACES):
            title = await self._title(number)
            seen = await self.store.event(event_id)
            if seen is not None:  # a partner's retry: the card as it is, the line delivered
                if (seen.request_number, seen.kind) != (number, event):
                    raise PermisError(
                        ErrorCode.INVALID_FIELD,
                        "Cet identifiant d'événement a déjà servi pour un autre événement.",
                        {"field": "event_id"},
                    )
                break
            tracking = rules.check_tracking_number(
                event, request.tracking_number, title.tracking_number
            )
            after = rules.next_state(title.state, event, tracking_number=title.tracking_number)
            changes: dict[str, object] = {
                "state": after,
                "shipments": rules.shipments_after(title.state, after, title.shipments),
            }
            if event == rules.EVENT_POSTED:
                changes["tracking_number"] = tracking
            line = TitleEventRow(
                event_id=event_id,
                request_number=number,
                kind=event,
                occurred_at=occurred_at,
                recorded_at=self.clock(),
                tracking_number=tracking or title.tracking_number,
                actor=partner,
                detail="",
                signalled=True,
                delivery_error="",
            )
            if await self._apply(title, changes, line):
                log.info("title %s: %s (%s) -> %s", number, event, event_id, after)
                break
        else:
            raise PermisError(ErrorCode.SERVICE_UNAVAILABLE, details={"reason": "contention"})
        try:
            await self._deliver_pending(title)
        except PermisError as error:
            if error.code is not ErrorCode.JOURNEY_NOT_WAITING:
                raise
            # Recorded, the partner's part is done; operators see the undelivered line.
        return await self._proto(await self._title(number))

    async def RequestResend(
        self, request: production_pb2.RequestResendRequest, context: grpc.aio.ServicerContext
    ) -> production_pb2.Title:
        """Returned → resend_requested, told to the journey (which has the card shipped
        again); asking again while it is pending re-delivers and changes nothing."""
        number = request_number_of(request.request_number)
        agent = rules.check_agent_id(acting_person(request.agent_id, "agent_id"))
        for _ in range(MAX_RACES):
            title = await self._title(number)
            if rules.resend_outcome(title.state) == rules.REPEAT:
                break
            now = self.clock()
            line = TitleEventRow(
                # One resend per return: the n-th is asked after the n-th shipment.
                event_id=f"#resend:{number}:{title.shipments}",
                request_number=number,
                kind=rules.EVENT_RESEND_REQUESTED,
                occurred_at=now,
                recorded_at=now,
                tracking_number="",
                actor=agent,
                detail="",
                signalled=True,
                delivery_error="",
            )
            if await self._apply(title, {"state": rules.RESEND_REQUESTED}, line):
                log.info("title %s: resend requested by %s", number, agent)
                break
        else:
            raise PermisError(ErrorCode.SERVICE_UNAVAILABLE, details={"reason": "contention"})
        try:
            await self._deliver_pending(title)
        except PermisError as error:
            if error.code is not ErrorCode.JOURNEY_NOT_WAITING:
                raise
            raise PermisError(
                ErrorCode.JOURNEY_NOT_WAITING,
                "La démarche de délivrance de ce titre est terminée : "
                "le renvoi ne peut pas être effectué.",
                error.details,
            ) from error
        return await self._proto(await self._title(number))

    async def ShipAgain(
        self, request: production_pb2.ShipAgainRequest, context: grpc.aio.ServicerContext
    ) -> production_pb2.Title:
        """Resend_requested → posted, without a tracking number until the post reports
        the new one. Idempotent per (request number, attempt)."""
        number = request_number_of(request.request_number)
        for _ in range(MAX_RACES):
            title = await self._title(number)
            outcome = rules.ship_again_outcome(title.state, title.shipments, request.attempt)
            if outcome == rules.REPEAT:
                break
            now = self.clock()
            line = self._journey_line(
                title,
                rules.EVENT_SHIPPED_AGAIN,
                f"#ship-again:{number}:{request.attempt}",
                now,
                f"renvoi n° {request.attempt}",
            )
            changes = {
                "state": rules.POSTED,
                "tracking_number": "",
                "shipments": rules.shipments_after(title.state, rules.POSTED, title.shipments),
            }
            if await self._apply(title, changes, line):
                log.info("title %s shipped again (attempt %d)", number, request.attempt)
                break
        else:
            raise PermisError(ErrorCode.SERVICE_UNAVAILABLE, details={"reason": "contention"})
        return await self._proto(await self._title(number))

    async def DestroyTitle(
        self, request: production_pb2.DestroyTitleRequest, context: grpc.aio.ServicerContext
    ) -> production_pb2.Title:
        """Returned or resend_requested → destroyed. Idempotent."""
        number = request_number_of(request.request_number)
        reason = rules.check_destruction_reason(request.reason)
        for _ in range(MAX_RACES):
            title = await self._title(number)
            if rules.destroy_outcome(title.state) == rules.REPEAT:
                break
            line = self._journey_line(
                title, rules.EVENT_DESTROYED, f"#destroy:{number}", self.clock(), reason
            )
            if await self._apply(title, {"state": rules.DESTROYED}, line):
                log.info("title %s destroyed: %s", number, reason)
                break
        else:
            raise PermisError(ErrorCode.SERVICE_UNAVAILABLE, details={"reason": "contention"})
        return await self._proto(await self._title(number))

    # ---- helpers ---------------------------------------------------------------------

    async def _title(self, request_number: str) -> TitleRow:
        title = await self.store.get(request_number)
        if title is None:
            raise PermisError(ErrorCode.TITLE_NOT_FOUND, details={"request_number": request_number})
        return title

    async def _proto(self, title: TitleRow) -> production_pb2.Title:
        return title_proto(title, await self.store.events(title.request_number))

    @staticmethod
    def _journey_line(
        title: TitleRow, kind: str, event_id: str, now: datetime, detail: str
    ) -> TitleEventRow:
        return TitleEventRow(
            event_id=event_id,
            request_number=title.request_number,
            kind=kind,
            occurred_at=now,
            recorded_at=now,
            tracking_number="",
            actor=JOURNEY,
            detail=detail,
            signalled=False,  # the journey asked for it: nothing to tell it
            delivery_error="",
        )

    async def _apply(
        self, title: TitleRow, changes: dict[str, object], line: TitleEventRow
    ) -> bool:
        """Record the change; False when the card moved meanwhile (or the same line was
        recorded by a concurrent call): the caller reads it again and decides again."""
        try:
            return await self.store.apply(title, changes, line)
        except IntegrityError as error:
            if not is_unique_violation(error):
                raise
            return False

    async def _deliver_pending(self, title: TitleRow) -> None:
        """Signal the journey every line it has not confirmed, oldest first; stop at the
        first failure (the later ones wait, so the order holds), noting why."""
        for line in await self.store.undelivered(title.request_number):
            name, payload = signal_of(line)
            try:
                await self.updater.signal(title.workflow_id, name, payload)
            except Exception as error:
                refusal = (
                    error
                    if isinstance(error, PermisError)
                    else PermisError(
                        ErrorCode.SERVICE_UNAVAILABLE, details={"workflow_id": title.workflow_id}
                    )
                )
                if refusal is not error:
                    log.exception("signal %s to %s failed", name, title.workflow_id)
                await self.store.note_delivery_failure(line.id, refusal.code.value)
                log.warning(
                    "title %s: %s recorded, not delivered to %s: %s",
                    title.request_number,
                    line.kind,
                    title.workflow_id,
                    refusal.code.value,
                )
                if refusal is error:
                    raise
                raise refusal from error
            await self.store.mark_delivered(line.id, self.clock())


# Who may call each method (services.common.auth enforces it; absent = nobody).
ACCESS: AccessTable = {
    "OrderTitle": roles(WORKER),
    "ShipAgain": roles(WORKER),
    "DestroyTitle": roles(WORKER),
    "RecordPartnerEvent": roles(PRINTER, POST),
    "GetTitle": roles(WORKER, PRINTER, POST, CONTACT_CENTRE, OPERATOR),
    "ListTitles": roles(PRINTER, POST, CONTACT_CENTRE, OPERATOR),
    "RequestResend": roles(CONTACT_CENTRE, OPERATOR),
}


def definition(servicer: ProductionServicer) -> ServiceDefinition:
    return ServiceDefinition(
        SERVICE_NAME,
        lambda server: production_pb2_grpc.add_ProductionServiceServicer_to_server(
            servicer, server
        ),
        access=ACCESS,
    )


async def build(
    settings: Settings, updater: JourneyUpdater, *, clock: Clock = utc_now
) -> tuple[ProductionServicer, AsyncEngine]:
    """The servicer on its database (schema migrated to head), signalling journeys through
    ``updater``; dispose the engine on stop."""
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)  # the SQLite file lives there
    engine = make_engine(settings.database_url_for("production"))
    try:
        await create_tables(engine)
    except BaseException:
        await engine.dispose()
        raise
    return ProductionServicer(TitleStore(make_sessionmaker(engine)), updater, clock=clock), engine
