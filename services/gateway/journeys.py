"""The gateway's side of the journey workflows: start, read, and send steps as updates.

Workflows are addressed by name, not imported, so the gateway never loads workflow
code. A validator's refusal (ApplicationError whose type is a stable code) becomes the
same ``PermisError`` a gRPC service would raise.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode

from services.common.errors import ErrorCode, PermisError
from services.common.settings import Settings
from workflows import ids
from workflows.models import RequestView, StartInscription

INSCRIPTION_WORKFLOW = "InscriptionWorkflow"


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
        if error.status == RPCStatusCode.UNAVAILABLE:
            return PermisError(ErrorCode.SERVICE_UNAVAILABLE)
    raise error


class Journeys:
    def __init__(self, client: Client, settings: Settings) -> None:
        self._client = client
        self._settings = settings

    async def start_inscription(self, account_id: str, account_email: str) -> RequestView:
        request_number = ids.new_request_number(datetime.now(UTC))
        workflow_id = ids.inscription_workflow_id(request_number)
        handle = await self._client.start_workflow(
            INSCRIPTION_WORKFLOW,
            StartInscription(
                request_number=request_number, account_id=account_id, account_email=account_email
            ),
            id=workflow_id,
            task_queue=self._settings.temporal_task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
            static_summary=f"Inscription au permis de conduire, demande {request_number}",
            static_details=(
                "Demande d'inscription pour passer les examens : saisie par le candidat, "
                "contrôle de forme (CTN), instruction (DDT), puis attestation d'inscription "
                "avec NEPH."
            ),
        )
        return await self.view_by_workflow_id(handle.id)

    async def view(self, request_number: str) -> RequestView:
        if not ids.is_request_number(request_number):
            raise PermisError(ErrorCode.REQUEST_NOT_FOUND)
        return await self.view_by_workflow_id(ids.inscription_workflow_id(request_number))

    async def view_by_workflow_id(self, workflow_id: str) -> RequestView:
        handle = self._client.get_workflow_handle(workflow_id)
        try:
            return await handle.query("view", result_type=RequestView)
        except (RPCError, ApplicationError) as error:
            raise _refusal(error) from error

    async def update(
        self, request_number: str, name: str, arg: BaseModel | None = None
    ) -> RequestView:
        handle = self._client.get_workflow_handle(ids.inscription_workflow_id(request_number))
        args: list[Any] = [] if arg is None else [arg]
        try:
            return await handle.execute_update(name, args=args, result_type=RequestView)
        except (WorkflowUpdateFailedError, RPCError) as error:
            raise _refusal(error) from error
