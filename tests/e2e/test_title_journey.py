"""End to end: after the exam, the title request up to the card in the candidate's hands.

The whole stack runs as for `make run`; the printer and the post are played by the
partners' simulator against the production service's gRPC API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from deploy.local.demo import (
    DEMO_PASSWORD,
    examiner_records_pass,
    inscription_journey,
    log_in,
    submitted_request,
    title_journey,
)
from deploy.local.stack import LocalStack, StackPorts
from permis.production.v1 import production_pb2, production_pb2_grpc
from services.common import auth
from tests.e2e.test_inscription_journey import body_of, mails_for, subject_of
from tests.grpc_auth import channel_as

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    async with LocalStack(tmp_path_factory.mktemp("stack"), StackPorts.free()) as running:
        yield running


async def test_title_after_exam_success_is_delivered(stack: LocalStack) -> None:
    settings = stack.settings
    _, email, neph = await inscription_journey(stack.gateway_url, settings)
    await examiner_records_pass(settings, neph)
    number = await title_journey(stack.gateway_url, settings, email, DEMO_PASSWORD, neph)

    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        await log_in(http, email, DEMO_PASSWORD)
        view = (await http.get(f"/v1/requests/{number}")).json()
    assert view["journey"] == "title" and view["stage"] == "delivered"
    stages = [h["stage"] for h in view["history"]]
    for stage in (
        "submitted",
        "in_instruction",
        "accepted",
        "in_production",
        "sent",
        "awaiting_pickup",
        "delivered",
    ):
        assert stage in stages, stages
    assert view["tracking_number"] and view["tracking_number"].startswith("LP")
    assert view["motif"]["neph"] == neph

    async with channel_as(
        settings.production_address, auth.CONTACT_CENTRE, settings=settings
    ) as channel:
        title = await production_pb2_grpc.ProductionServiceStub(channel).GetTitle(
            production_pb2.GetTitleRequest(request_number=number)
        )
    assert title.state == "delivered" and title.neph == neph and title.first_licence

    subjects = [subject_of(m) for m in mails_for(stack.mail_dir, number)]
    assert len(subjects) >= 6, subjects  # one email per status change
    bodies = " ".join(body_of(m) for m in mails_for(stack.mail_dir, number))
    assert "15 jours" in bodies  # the pickup notice tells the candidate the delay


async def test_title_without_a_recorded_pass_is_refused(stack: LocalStack) -> None:
    settings = stack.settings
    _, email, neph = await inscription_journey(stack.gateway_url, settings)
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        candidate = await log_in(http, email, DEMO_PASSWORD)
        with pytest.raises(Exception, match="exam_not_passed"):
            await submitted_request(
                candidate,
                settings,
                "title",
                {"motif": "exam_success_first_title", "category": "B", "neph": neph},
            )
