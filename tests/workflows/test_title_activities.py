"""The title journey's activities against stand-in gRPC services: the examiner's results
(instruction) and the production service."""

from __future__ import annotations

from collections.abc import AsyncIterator

import grpc
import pytest
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from permis.instruction.v1 import instruction_pb2, instruction_pb2_grpc
from permis.production.v1 import production_pb2, production_pb2_grpc
from services.common.clients import ServiceClients
from services.common.errors import ErrorCode, PermisError
from services.common.grpc_server import ServiceDefinition, start_server
from services.common.settings import Settings
from tests.workflows.inscription_scenarios import NEPH
from workflows.activities import JourneyActivities
from workflows.models import Category, CheckExamPassed, DestroyTitle, OrderTitle, ShipTitleAgain

NUMBER = "2511ABCDEFGH"


class ExamResults(instruction_pb2_grpc.InstructionServiceServicer):
    async def ListExamResults(
        self, request: instruction_pb2.ListExamResultsRequest, context: grpc.aio.ServicerContext
    ) -> instruction_pb2.ListExamResultsResponse:
        if request.neph != NEPH:
            return instruction_pb2.ListExamResultsResponse()
        return instruction_pb2.ListExamResultsResponse(
            results=[  # newest first
                instruction_pb2.ExamResult(
                    neph=NEPH, category="A2", passed=False, exam_date="2025-11-02"
                ),
                instruction_pb2.ExamResult(
                    neph=NEPH,
                    category="B",
                    passed=True,
                    exam_date="2025-10-14",
                    examiner_id="ipcsr-69-04",
                ),
                instruction_pb2.ExamResult(
                    neph=NEPH, category="B", passed=False, exam_date="2025-09-01"
                ),
            ]
        )


class Production(production_pb2_grpc.ProductionServiceServicer):
    def __init__(self) -> None:
        self.orders: list[production_pb2.OrderTitleRequest] = []
        self.shipments: list[production_pb2.ShipAgainRequest] = []
        self.destructions: list[production_pb2.DestroyTitleRequest] = []

    async def OrderTitle(
        self, request: production_pb2.OrderTitleRequest, context: grpc.aio.ServicerContext
    ) -> production_pb2.Title:
        self.orders.append(request)
        return production_pb2.Title(
            request_number=request.request_number, workflow_id=request.workflow_id, state="ordered"
        )

    async def ShipAgain(
        self, request: production_pb2.ShipAgainRequest, context: grpc.aio.ServicerContext
    ) -> production_pb2.Title:
        self.shipments.append(request)
        return production_pb2.Title(
            request_number=request.request_number, state="posted", shipments=request.attempt + 1
        )

    async def DestroyTitle(
        self, request: production_pb2.DestroyTitleRequest, context: grpc.aio.ServicerContext
    ) -> production_pb2.Title:
        if not request.reason:
            raise PermisError(ErrorCode.TITLE_EVENT_OUT_OF_ORDER)
        self.destructions.append(request)
        return production_pb2.Title(request_number=request.request_number, state="destroyed")


@pytest.fixture
async def services() -> AsyncIterator[tuple[JourneyActivities, Production]]:
    production = Production()
    definitions = [
        ServiceDefinition(
            "permis.instruction.v1.InstructionService",
            lambda s: instruction_pb2_grpc.add_InstructionServiceServicer_to_server(
                ExamResults(), s
            ),
        ),
        ServiceDefinition(
            "permis.production.v1.ProductionService",
            lambda s: production_pb2_grpc.add_ProductionServiceServicer_to_server(production, s),
        ),
    ]
    server, port = await start_server(definitions, "127.0.0.1:0")
    address = f"127.0.0.1:{port}"
    settings = Settings(instruction_address=address, production_address=address)
    clients = ServiceClients(settings)
    try:
        yield JourneyActivities(settings, clients), production
    finally:
        await clients.close()
        await server.stop(None)


async def test_check_exam_passed_looks_for_a_pass_in_that_category(
    services: tuple[JourneyActivities, Production],
) -> None:
    activities, _ = services
    env = ActivityEnvironment()
    passed = await env.run(
        activities.check_exam_passed, CheckExamPassed(neph=NEPH, category=Category.B)
    )
    assert (passed.passed, passed.exam_date, passed.examiner_id) == (
        True,
        "2025-10-14",
        "ipcsr-69-04",
    )
    failed = await env.run(
        activities.check_exam_passed, CheckExamPassed(neph=NEPH, category=Category.A2)
    )
    assert not failed.passed
    unknown = await env.run(
        activities.check_exam_passed, CheckExamPassed(neph="259999999999", category=Category.B)
    )
    assert not unknown.passed


async def test_order_ship_again_and_destroy(
    services: tuple[JourneyActivities, Production],
) -> None:
    activities, production = services
    env = ActivityEnvironment()
    ordered = await env.run(
        activities.order_title,
        OrderTitle(
            request_number=NUMBER,
            workflow_id=f"delivery-{NUMBER}",
            neph=NEPH,
            category=Category.B,
            family_name="Dupont",
            given_names="Léa Marie",
            address_line="12 rue de la République, 69002 Lyon",
            first_licence=True,
        ),
    )
    assert (ordered.request_number, ordered.state) == (NUMBER, "ordered")
    [order] = production.orders
    assert (order.workflow_id, order.neph, order.category, order.first_licence) == (
        f"delivery-{NUMBER}",
        NEPH,
        "B",
        True,
    )

    shipped = await env.run(activities.ship_again, ShipTitleAgain(request_number=NUMBER, attempt=1))
    assert (shipped.state, shipped.shipments) == ("posted", 2)
    assert [(s.request_number, s.attempt) for s in production.shipments] == [(NUMBER, 1)]

    destroyed = await env.run(
        activities.destroy_title, DestroyTitle(request_number=NUMBER, reason="Non réclamé.")
    )
    assert destroyed.state == "destroyed"
    # A refusal of the production service is final (the journey decides what follows).
    with pytest.raises(ApplicationError) as refused:
        await env.run(activities.destroy_title, DestroyTitle(request_number=NUMBER, reason=""))
    assert refused.value.type == ErrorCode.TITLE_EVENT_OUT_OF_ORDER.value
    assert refused.value.non_retryable
