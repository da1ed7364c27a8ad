"""SupportService: the contact centre's and operators' actions on candidates' requests.

FindRequests resolves the candidate (an email through identity's FindAccount, an account
id, or a request number) and lists the journeys from Temporal visibility (search
attributes ``PermisAccountId`` / ``PermisRequestNumber``, inscription and title journeys
only). Unknown candidate or number: an empty list.

CancelRequest follows the rule of every operator decision: recorded first (audit log
line: who, what, when, why), then delivered to the journey as its ``cancel`` update
(``workflows.models.CancelRequest``, built from the stored line so a re-delivery carries
the same payload), then marked delivered.

- Temporal unreachable: SERVICE_UNAVAILABLE; the line stays recorded, and the operator's
  retry (same request, same operator and reason) delivers it.
- The journey refuses (decided, ended: ``request_not_cancellable``, ``journey_not_waiting``):
  the line is marked refused with that code (kept in the log) and the refusal is answered.
- The journey had already accepted it and ended meanwhile (a retry after a lost answer):
  its stage is ``cancelled``, so the line is marked delivered.
- A different cancellation of a request already cancelled (or recorded, undelivered) is
  refused with ``request_not_cancellable``, naming the operator of record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol

import grpc
from sqlalchemy.ext.asyncio import AsyncEngine
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from permis.identity.v1 import identity_pb2
from permis.support.v1 import support_pb2, support_pb2_grpc
from services.common.auth import OPERATOR, AccessTable, acting_person, roles
from services.common.clients import ServiceClients
from services.common.db import make_engine, make_sessionmaker
from services.common.errors import ErrorCode, PermisError
from services.common.grpc_server import ServiceDefinition
from services.common.journey_updates import JourneyUpdater
from services.common.settings import Settings
from services.support import rules
from services.support.storage import ActionRow, ActionStore, create_tables
from workflows import ids
from workflows.models import STAGE_LABELS, CancelRequest, Stage

log = logging.getLogger(__name__)

SERVICE_NAME = support_pb2.DESCRIPTOR.services_by_name["SupportService"].full_name
CANCEL_UPDATE = "cancel"
JOURNEY_PREFIXES = (ids.INSCRIPTION_PREFIX, ids.TITLE_PREFIX)
MAX_LISTED = 500
MAX_RACES = 5
IDENTITY_TIMEOUT = 10.0
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


class AccountLookup(Protocol):
    async def account_id_of(self, email: str) -> str | None:
        """The account of an email; None when there is none."""
        ...


class IdentityAccounts:
    """``AccountLookup`` through identity's FindAccount."""

    def __init__(self, clients: ServiceClients) -> None:
        self.clients = clients

    async def account_id_of(self, email: str) -> str | None:
        try:
            account = await self.clients.identity.FindAccount(
                identity_pb2.FindAccountRequest(email=email), timeout=IDENTITY_TIMEOUT
            )
        except grpc.aio.AioRpcError as error:
            refusal = PermisError.from_rpc_error(error)
            if refusal is not None and refusal.code is ErrorCode.ACCOUNT_NOT_FOUND:
                return None
            if refusal is not None:
                raise refusal from error
            raise PermisError(
                ErrorCode.SERVICE_UNAVAILABLE, details={"service": "identity"}
            ) from error
        return account.account_id


# ---- mapping -------------------------------------------------------------------------


def _iso(moment: datetime | None) -> str:
    return moment.astimezone(UTC).isoformat() if moment else ""


def summary_of(execution: WorkflowExecution) -> support_pb2.RequestSummary:
    attributes = execution.typed_search_attributes
    stage = attributes.get(ids.STAGE) or ""
    try:
        label = STAGE_LABELS[Stage(stage)]
    except ValueError:
        label = stage
    return support_pb2.RequestSummary(
        request_number=attributes.get(ids.REQUEST_NUMBER) or ids.request_number_of(execution.id),
        journey=attributes.get(ids.JOURNEY) or execution.id.split("-", 1)[0],
        motif=attributes.get(ids.MOTIF) or "",
        category=attributes.get(ids.CATEGORY) or "",
        stage=stage,
        stage_label=label,
        created_at=_iso(execution.start_time),
        account_id=attributes.get(ids.ACCOUNT_ID) or "",
        workflow_id=execution.id,
        running=execution.status is WorkflowExecutionStatus.RUNNING,
    )


def action_proto(row: ActionRow) -> support_pb2.OperatorAction:
    return support_pb2.OperatorAction(
        id=row.id,
        kind=row.kind,
        request_number=row.request_number,
        workflow_id=row.workflow_id,
        operator_id=row.operator_id,
        reason=row.reason,
        recorded_at=_iso(row.recorded_at),
        delivered_at=_iso(row.delivered_at),
        outcome=row.outcome,
        error_code=row.error_code,
    )


def cancellation_of(row: ActionRow) -> CancelRequest:
    """The update's payload, from the stored line: a re-delivery repeats it exactly."""
    return CancelRequest(
        operator_id=row.operator_id, reason=row.reason, cancelled_at=row.recorded_at
    )


def _unavailable(error: Exception) -> PermisError:
    return PermisError(ErrorCode.SERVICE_UNAVAILABLE, details={"service": "temporal"})


# ---- the servicer --------------------------------------------------------------------


class SupportServicer(support_pb2_grpc.SupportServiceServicer):
    def __init__(
        self,
        store: ActionStore,
        updater: JourneyUpdater,
        temporal: Client,
        accounts: AccountLookup,
        *,
        clock: Clock = utc_now,
    ) -> None:
        self.store = store
        self.updater = updater
        self.temporal = temporal
        self.accounts = accounts
        self.clock = clock

    async def FindRequests(
        self, request: support_pb2.FindRequestsRequest, context: grpc.aio.ServicerContext
    ) -> support_pb2.FindRequestsResponse:
        which = request.WhichOneof("query")
        if which == "email":
            email = request.email.strip()
            if not email:
                raise PermisError(ErrorCode.MISSING_FIELDS, details={"field": "email"})
            account_id = await self.accounts.account_id_of(email)
            if account_id is None:
                return support_pb2.FindRequestsResponse()
            query = f"{ids.ACCOUNT_ID.name} = {rules.visibility_literal(account_id)}"
        elif which == "account_id":
            account_id = rules.check_account_id(request.account_id)
            query = f"{ids.ACCOUNT_ID.name} = {rules.visibility_literal(account_id)}"
        elif which == "request_number":
            number = rules.check_request_number(request.request_number)
            account_id = ""
            query = f"{ids.REQUEST_NUMBER.name} = {rules.visibility_literal(number)}"
        else:
            raise PermisError(
                ErrorCode.MISSING_FIELDS,
                "Indiquez une adresse électronique, un identifiant de compte ou un numéro de "
                "demande.",
                {"field": "query"},
            )
        summaries = [summary_of(execution) for execution in await self._journeys(query)]
        summaries.sort(key=lambda s: (s.created_at, s.request_number), reverse=True)
        if not account_id and summaries:
            account_id = summaries[0].account_id
        return support_pb2.FindRequestsResponse(requests=summaries, account_id=account_id)

    async def CancelRequest(
        self, request: support_pb2.CancelRequestRequest, context: grpc.aio.ServicerContext
    ) -> support_pb2.CancelRequestResponse:
        number = rules.check_request_number(request.request_number)
        operator = rules.check_operator(acting_person(request.operator_id, "operator_id"))
        reason = rules.check_reason(request.reason)
        for _ in range(MAX_RACES):
            action = await self.store.open_action(rules.KIND_CANCEL, number)
            if action is not None:
                if (action.operator_id, action.reason) != (operator, reason):
                    raise self._already(action)
                break  # the same cancellation again: deliver it (again)
            workflow_id = await self._journey_of(number)
            attempt = await self.store.refused_count(rules.KIND_CANCEL, number)
            now = self.clock()
            row = ActionRow(
                action_key=f"{rules.KIND_CANCEL}:{number}:{attempt}",
                kind=rules.KIND_CANCEL,
                request_number=number,
                workflow_id=workflow_id,
                operator_id=operator,
                reason=reason,
                recorded_at=now,
                outcome=rules.RECORDED,
                delivered_at=None,
                error_code="",
            )
            if await self.store.record(row) is not None:
                log.info("request %s: cancellation recorded (%s)", number, operator)
                action = row
                break
        else:
            raise PermisError(ErrorCode.SERVICE_UNAVAILABLE, details={"reason": "contention"})
        await self._deliver(action)
        delivered = await self.store.get(action.id)
        assert delivered is not None
        return support_pb2.CancelRequestResponse(
            action=action_proto(delivered), stage=rules.CANCELLED_STAGE
        )

    async def ListActions(
        self, request: support_pb2.ListActionsRequest, context: grpc.aio.ServicerContext
    ) -> support_pb2.ListActionsResponse:
        number = request.request_number.strip()
        operator = request.operator_id.strip()
        number = rules.check_request_number(number) if number else ""
        operator = rules.check_operator(operator) if operator else ""
        rows = await self.store.page(
            request_number=number, operator_id=operator, limit=rules.limit_of(request.limit)
        )
        return support_pb2.ListActionsResponse(actions=[action_proto(row) for row in rows])

    # ---- helpers ---------------------------------------------------------------------

    async def _journeys(self, query: str) -> list[WorkflowExecution]:
        found: list[WorkflowExecution] = []
        try:
            async for execution in self.temporal.list_workflows(query, limit=MAX_LISTED):
                if execution.id.startswith(JOURNEY_PREFIXES):
                    found.append(execution)
        except RPCError as error:
            log.warning("Temporal visibility unavailable for %s: %s", query, error)
            raise _unavailable(error) from error
        except RuntimeError as error:
            raise _unavailable(error) from error
        return found

    async def _journey_of(self, number: str) -> str:
        """The request's journey (inscription or title), whatever its state."""
        for workflow_id in (ids.inscription_workflow_id(number), ids.title_workflow_id(number)):
            try:
                await self.temporal.get_workflow_handle(workflow_id).describe()
            except RPCError as error:
                if error.status is RPCStatusCode.NOT_FOUND:
                    continue
                raise _unavailable(error) from error
            except RuntimeError as error:
                raise _unavailable(error) from error
            return workflow_id
        raise PermisError(ErrorCode.REQUEST_NOT_FOUND, details={"request_number": number})

    async def _stage_of(self, workflow_id: str) -> str:
        try:
            described = await self.temporal.get_workflow_handle(workflow_id).describe()
        except (RPCError, RuntimeError):
            return ""
        return described.typed_search_attributes.get(ids.STAGE) or ""

    async def _deliver(self, action: ActionRow) -> None:
        if action.outcome == rules.DELIVERED:
            return  # already accepted by the journey: the answer is the same
        try:
            await self.updater.update(action.workflow_id, CANCEL_UPDATE, cancellation_of(action))
        except PermisError as error:
            if error.code is ErrorCode.JOURNEY_NOT_WAITING and (
                await self._stage_of(action.workflow_id) == rules.CANCELLED_STAGE
            ):
                # Accepted by an earlier delivery whose answer was lost; the journey ended.
                await self.store.mark_delivered(action.id, self.clock())
                return
            if rules.is_final_refusal(error.code):
                await self.store.mark_refused(action.id, error.code.value)
            else:
                await self.store.note_failure(action.id, error.code.value)
            log.warning(
                "request %s: cancellation by %s not delivered: %s",
                action.request_number,
                action.operator_id,
                error.code.value,
            )
            raise
        await self.store.mark_delivered(action.id, self.clock())
        log.info("request %s cancelled by %s", action.request_number, action.operator_id)

    @staticmethod
    def _already(action: ActionRow) -> PermisError:
        when = action.recorded_at.astimezone(UTC).strftime("%d/%m/%Y %H:%M UTC")
        if action.outcome == rules.DELIVERED:
            message = (
                f"Cette demande a déjà été annulée par l'opérateur {action.operator_id} le {when}."
            )
        else:
            message = (
                f"Une annulation de cette demande par l'opérateur {action.operator_id} est "
                f"enregistrée depuis le {when}, en attente de transmission : répétez-la à "
                "l'identique pour la transmettre."
            )
        return PermisError(
            ErrorCode.REQUEST_NOT_CANCELLABLE,
            message,
            {"operator_id": action.operator_id, "action_id": str(action.id)},
        )


# Who may call each method (services.common.auth enforces it; absent = nobody).
ACCESS: AccessTable = {
    "FindRequests": roles(OPERATOR),
    "CancelRequest": roles(OPERATOR),
    "ListActions": roles(OPERATOR),
}


def definition(servicer: SupportServicer) -> ServiceDefinition:
    return ServiceDefinition(
        SERVICE_NAME,
        lambda server: support_pb2_grpc.add_SupportServiceServicer_to_server(servicer, server),
        access=ACCESS,
    )


async def build(
    settings: Settings,
    updater: JourneyUpdater,
    temporal: Client,
    accounts: AccountLookup,
    *,
    clock: Clock = utc_now,
) -> tuple[SupportServicer, AsyncEngine]:
    """The servicer on its database (schema migrated to head); dispose the engine on stop."""
    if not settings.database_url:
        settings.data_dir.mkdir(parents=True, exist_ok=True)  # the SQLite file lives there
    engine = make_engine(settings.database_url_for("support"))
    try:
        await create_tables(engine)
    except BaseException:
        await engine.dispose()
        raise
    servicer = SupportServicer(
        ActionStore(make_sessionmaker(engine)), updater, temporal, accounts, clock=clock
    )
    return servicer, engine
