"""The DDT queue as it grows: pages of ``ListPendingCases`` with 1,000 … 100,000 cases.

Submitting 100,000 requests through whole journeys would take hours on this machine,
and the queue only reads the instruction service's own table: the cases are written
there directly (one synthetic dossier each, the shape ``EnqueueCase`` stores), then the
first page and pages deep in the queue (keyset cursor) are timed through gRPC, as an
instructor's console reads them.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from google.protobuf import json_format
from sqlalchemy import func, insert, select

from deploy.local import demo
from permis.common.v1 import dossier_pb2
from permis.instruction.v1 import instruction_pb2, instruction_pb2_grpc
from services.common import auth
from services.common.auth import Principal
from services.common.clients import open_channel
from services.common.db import make_engine
from services.common.settings import Settings
from services.instruction import rules
from services.instruction.storage import PENDING, CaseRow

PAGE = 50
PAGE_CALLS = 50
BATCH = 5_000


def synthetic_dossier(number: str, department: str) -> dict[str, object]:
    """A dossier as ``EnqueueCase`` stores it (``MessageToDict`` of a ``Dossier``)."""
    return json_format.MessageToDict(
        dossier_pb2.Dossier(
            request_number=number,
            journey="inscription",
            motif="first_registration",
            category="B",
            civil_status=dossier_pb2.CivilStatus(
                family_name="BANC", given_names="Essai", birth_date="2000-01-01"
            ),
            address=dossier_pb2.AddressContact(
                postal_code=f"{department}001", department=department
            ),
        )
    )


async def fill_queue(settings: Settings, department: str, total: int) -> int:
    """Top the department's pending cases up to ``total``; returns how many were added."""
    engine = make_engine(settings.database_url_for("instruction"))
    try:
        async with engine.begin() as connection:
            count = await connection.scalar(
                select(func.count())
                .select_from(CaseRow)
                .where(CaseRow.department == department, CaseRow.state == PENDING)
            )
            missing = max(0, total - int(count or 0))
            start = datetime.now(UTC) - timedelta(days=30)
            for offset in range(0, missing, BATCH):
                rows = []
                for i in range(offset, min(missing, offset + BATCH)):
                    number = f"BQ{int(count or 0) + i:010d}"  # never a real number (ids.py)
                    rows.append(
                        {
                            "request_number": number,
                            "workflow_id": f"bench-{number}",
                            "department": department,
                            "dossier": synthetic_dossier(number, department),
                            "state": PENDING,
                            # Spread over the month, as a real backlog would be.
                            "enqueued_at": start + timedelta(seconds=i * 7 % 2_592_000),
                            "instructor_id": "",
                            "reason_code": "",
                            "reason_text": "",
                            "claimed_by": "",
                            "reminders": 0,
                            "withdrawn_reason": "",
                        }
                    )
                await connection.execute(insert(CaseRow), rows)
    finally:
        await engine.dispose()
    return missing


async def page_latencies(settings: Settings, department: str) -> tuple[list[float], list[float]]:
    """Timings of the queue's first page, and of a page from its middle (the keyset
    cursor an instructor reaches after paging through half the backlog)."""
    instructor = Principal(demo.DEMO_INSTRUCTOR, auth.DDT_INSTRUCTOR, department)
    middle = rules.encode_page_token(datetime.now(UTC) - timedelta(days=15), "")
    timings: dict[str, list[float]] = {"": [], middle: []}
    async with open_channel(settings.instruction_address, settings, instructor) as channel:
        ddt = instruction_pb2_grpc.InstructionServiceStub(channel)
        for token, times in timings.items():
            request = instruction_pb2.ListPendingCasesRequest(
                department=department, page_size=PAGE, page_token=token
            )
            await ddt.ListPendingCases(request)  # connection and caches warm
            for _ in range(PAGE_CALLS):
                started = time.perf_counter()
                await ddt.ListPendingCases(request)
                times.append(time.perf_counter() - started)
    return timings[""], timings[middle]
