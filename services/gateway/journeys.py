"""The gateway's side of the journey workflows: start, read, and send steps as updates.

Workflows are addressed by name, not imported, so the gateway never loads workflow
code. A validator's refusal (ApplicationError whose type is a stable code) becomes the
same ``PermisError`` a gRPC service would raise.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, Field
from temporalio.api.common.v1 import Payload, WorkflowExecution
from temporalio.api.enums.v1 import WorkflowExecutionStatus
from temporalio.api.workflow.v1 import WorkflowExecutionInfo
from temporalio.api.workflowservice.v1 import DescribeWorkflowExecutionRequest
from temporalio.client import (
    Client,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import SearchAttributeKey, WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from services.common.errors import ErrorCode, PermisError
from services.common.journey_updates import TRANSIENT_STATUSES
from services.common.settings import Settings
from workflows import ids
from workflows.models import (
    STAGE_LABELS,
    Journey,
    RequestView,
    Stage,
    StartInscription,
    StartTitle,
)

log = logging.getLogger("services.gateway.journeys")


class RequestStatus(BaseModel):
    """Où en est la demande : l'étape, en clair, et si la démarche est terminée."""

    request_number: str
    journey: Journey
    stage: Stage
    stage_label: str
    ended: bool = Field(description="Vrai quand la démarche est terminée (plus rien n'évoluera)")


def _refusal(error: BaseException) -> PermisError:
    cause = error.cause if isinstance(error, WorkflowUpdateFailedError) else error
    if isinstance(cause, ApplicationError) and cause.type:
        try:
            return PermisError(ErrorCode(cause.type), cause.message)
        except ValueError:
            pass
    if isinstance(error, RPCError):
        if error.status == RPCStatusCode.NOT_FOUND:
            # Unknown id, or a journey that has already ended (no more updates).
            return PermisError(ErrorCode.REQUEST_NOT_FOUND)
        if _server_unreachable(error):
            # The candidate is told to try again; the operator needs the cause.
            log.warning("Temporal did not answer: %s %s", error.status.name, error.message)
            return PermisError(ErrorCode.SERVICE_UNAVAILABLE)
    raise error


def _server_unreachable(error: RPCError) -> bool:
    """Temporal could not be reached, did not answer in time, or the journey's workflow
    task is failing for now (a worker restarting): the candidate may try again (503),
    which the idempotency keys make safe. Seen while the chaos test restarted things:
    UNKNOWN « transport error », CANCELLED « Timeout expired », FAILED_PRECONDITION
    « Workflow Task in failed state »."""
    if error.status in TRANSIENT_STATUSES:
        return True
    return error.status == RPCStatusCode.FAILED_PRECONDITION and (
        "Workflow Task in failed state" in error.message
    )


@dataclass(frozen=True)
class JourneyKind:
    workflow: str
    workflow_id: Callable[[str], str]
    summary: str
    details: str


KINDS: dict[Journey, JourneyKind] = {
    Journey.INSCRIPTION: JourneyKind(
        "InscriptionWorkflow",
        ids.inscription_workflow_id,
        "Inscription au permis de conduire, demande {number}",
        "Demande d'inscription pour passer les examens : saisie par le candidat, contrôle "
        "de forme (CTN), instruction (DDT), puis attestation d'inscription avec NEPH.",
    ),
    Journey.TITLE: JourneyKind(
        "TitleWorkflow",
        ids.title_workflow_id,
        "Demande de titre de conduite, demande {number}",
        "Demande de fabrication du permis : saisie par le candidat, contrôle de forme (CTN), "
        "instruction (DDT), fabrication, envoi postal et suivi jusqu'à la remise.",
    ),
}


# workflows.ids' alphabet for request numbers (Crockford base32): 32 letters, so a byte
# modulo 32 is unbiased.
_NUMBER_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


T = TypeVar("T")


def _keyword(fields: Mapping[str, Payload], key: SearchAttributeKey[str]) -> str | None:
    """A Keyword search attribute as the server holds it (JSON, never encrypted)."""
    payload = fields.get(key.name)
    if payload is None or not payload.data:
        return None
    value = json.loads(payload.data)
    return value if isinstance(value, str) else None


class Journeys:
    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._settings = settings
        # Request number -> journey, learnt once: the number does not say which it is.
        self._journey_of: dict[str, Journey] = {}

    def keyed_request_number(
        self, journey: Journey, account_id: str, key: str, now: datetime
    ) -> str:
        """The request number an Idempotency-Key stands for: YYMM, then 8 characters of
        an HMAC (session secret) of account, journey and key, so a retry lands on the
        same workflow id without any gateway database, and no one can aim at another
        account's numbers."""
        digest = self._keyed_digest(account_id, journey.value, key)
        suffix = "".join(_NUMBER_ALPHABET[b % 32] for b in digest[:8])
        return f"{now:%y%m}{suffix}"

    def keyed_document_id(self, account_id: str, request_number: str, key: str) -> str:
        """The document id an upload's Idempotency-Key stands for: a retry stores nothing
        new and is recognised on the request."""
        digest = self._keyed_digest(account_id, request_number, key)
        return str(uuid.UUID(bytes=digest[:16], version=4))

    def _keyed_digest(self, *parts: str) -> bytes:
        message = "\x00".join(parts).encode()
        return hmac.new(self._settings.session_secret.encode(), message, hashlib.sha256).digest()

    async def start_once(
        self, journey: Journey, account_id: str, account_email: str, key: str
    ) -> tuple[RequestView, bool]:
        """Start, or find again, the request of this Idempotency-Key: (view, created).

        The number carries the month, so a retry just after midnight on the 1st also
        looks for the one started the month before."""
        now = datetime.now(UTC)
        if now.day == 1:
            previous = self.keyed_request_number(journey, account_id, key, now - timedelta(days=1))
            try:
                return await self._replay(journey, previous, account_id), False
            except PermisError as error:
                if error.code is not ErrorCode.REQUEST_NOT_FOUND:
                    raise
        number = self.keyed_request_number(journey, account_id, key, now)
        try:
            return await self.start(journey, account_id, account_email, number), True
        except WorkflowAlreadyStartedError:
            # A concurrent or earlier call with the same key started it: that one it is.
            return await self._replay(journey, number, account_id), False

    async def _replay(self, journey: Journey, request_number: str, account_id: str) -> RequestView:
        view = await self._query(KINDS[journey].workflow_id(request_number))
        if view.account_id != account_id:  # an HMAC collision; never show someone else's
            raise PermisError(ErrorCode.REQUEST_NOT_FOUND)
        self._remember(request_number, journey)
        return view

    async def start(
        self,
        journey: Journey,
        account_id: str,
        account_email: str,
        request_number: str | None = None,
    ) -> RequestView:
        kind = KINDS[journey]
        request_number = request_number or ids.new_request_number(datetime.now(UTC))
        start_input = (StartTitle if journey is Journey.TITLE else StartInscription)(
            request_number=request_number, account_id=account_id, account_email=account_email
        )
        try:
            handle = await self._client.start_workflow(
                kind.workflow,
                start_input,
                id=kind.workflow_id(request_number),
                task_queue=self._settings.temporal_task_queue,
                id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
                id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                static_summary=kind.summary.format(number=request_number),
                static_details=kind.details,
                search_attributes=ids.at_start(journey.value, request_number, account_id),
            )
        except RPCError as error:  # WorkflowAlreadyStartedError is not one: start_once's
            raise _refusal(error) from error
        self._remember(request_number, journey)
        return await self._query(handle.id)

    async def view(self, request_number: str) -> RequestView:
        _, view = await self._find(request_number, self._query)
        return view

    async def status(self, request_number: str, account_id: str) -> RequestStatus:
        """Where the request stands, for its owner, without running workflow code.

        A status read is the call candidates repeat most. The stage and the owner are
        search attributes the journey is started with and keeps up to date
        (``workflows.ids``), which the Temporal server returns from its own state
        (describe): no query for the worker to answer, no payload to decrypt. A journey
        started without them (before they were set at start) is asked by query."""
        journey, info = await self._find(request_number, self._describe)
        attributes = info.search_attributes.indexed_fields
        stage, owner = _keyword(attributes, ids.STAGE), _keyword(attributes, ids.ACCOUNT_ID)
        if stage is None or owner is None:
            view = await self._query(KINDS[journey].workflow_id(request_number))
            stage, owner = view.stage, view.account_id
        if owner != account_id:
            raise PermisError(ErrorCode.REQUEST_NOT_FOUND)
        return RequestStatus(
            request_number=request_number,
            journey=journey,
            stage=Stage(stage),
            stage_label=STAGE_LABELS[Stage(stage)],
            ended=info.status != WorkflowExecutionStatus.WORKFLOW_EXECUTION_STATUS_RUNNING,
        )

    async def _find(
        self, request_number: str, read: Callable[[str], Awaitable[T]]
    ) -> tuple[Journey, T]:
        """``read`` the journey's workflow, whichever journey the number belongs to (the
        number does not say; learnt once, then remembered)."""
        if not ids.is_request_number(request_number):
            raise PermisError(ErrorCode.REQUEST_NOT_FOUND)
        known = self._journey_of.get(request_number)
        for journey in [known] if known else list(KINDS):
            try:
                found = await read(KINDS[journey].workflow_id(request_number))
            except PermisError as error:
                if error.code is ErrorCode.REQUEST_NOT_FOUND:
                    continue
                raise
            self._remember(request_number, journey)
            return journey, found
        raise PermisError(ErrorCode.REQUEST_NOT_FOUND)

    async def _describe(self, workflow_id: str) -> WorkflowExecutionInfo:
        # The raw call: the SDK's describe() decodes every attribute and field.
        try:
            response = await self._client.workflow_service.describe_workflow_execution(
                DescribeWorkflowExecutionRequest(
                    namespace=self._client.namespace,
                    execution=WorkflowExecution(workflow_id=workflow_id),
                )
            )
        except RPCError as error:
            raise _refusal(error) from error
        return response.workflow_execution_info

    async def update(
        self, view: RequestView, name: str, arg: BaseModel | None = None
    ) -> RequestView:
        workflow_id = KINDS[view.journey].workflow_id(view.request_number)
        handle = self._client.get_workflow_handle(workflow_id)
        args: list[Any] = [] if arg is None else [arg]
        try:
            return await handle.execute_update(name, args=args, result_type=RequestView)
        except (WorkflowUpdateFailedError, RPCError) as error:
            raise _refusal(error) from error
        except WorkflowUpdateRPCTimeoutOrCancelledError as error:  # may have been applied:
            raise PermisError(ErrorCode.SERVICE_UNAVAILABLE) from error  # retry with the key

    async def _query(self, workflow_id: str) -> RequestView:
        handle = self._client.get_workflow_handle(workflow_id)
        try:
            return await handle.query("view", result_type=RequestView)
        except (RPCError, ApplicationError) as error:
            raise _refusal(error) from error

    def _remember(self, request_number: str, journey: Journey) -> None:
        if len(self._journey_of) > 100_000:
            self._journey_of.clear()
        self._journey_of[request_number] = journey
