"""CTN form checks: the pure rules as tables, and the real gRPC service on both databases.

The agents' verdicts and their delivery to a journey are in ``test_ctn_agent.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import grpc
import pytest
from pydantic import BaseModel
from sqlalchemy import inspect, text
from temporalio.client import Client

from permis.common.v1 import dossier_pb2
from permis.ctn.v1 import ctn_pb2, ctn_pb2_grpc
from services.common.db import make_engine, make_sessionmaker
from services.common.errors import ErrorCode, PermisError
from services.common.grpc_server import start_server
from services.common.journey_updates import JourneyUpdater, TemporalJourneyUpdater
from services.common.settings import Settings
from services.ctn import rules
from services.ctn.server import AUTOMATIC, build, definition
from services.ctn.storage import VerdictStore, create_tables

SUBMITTED = "2025-06-02T10:00:00+00:00"
TODAY = date(2025, 6, 2)
PHOTO_CODE = "K7Q3ZP9AB2C4D6E8F0G1H2"


PROOF_ISSUED_ON = "2025-04-15"


def document(
    kind: str, content_type: str = "application/pdf", size: int = 2048, issued_on: str = ""
) -> dossier_pb2.DocumentRef:
    if kind == "proof_of_address" and not issued_on:
        issued_on = PROOF_ISSUED_ON  # a recent one unless the test says otherwise
    return dossier_pb2.DocumentRef(
        document_id=f"doc-{kind}",
        kind=kind,
        content_type=content_type,
        sha256="0" * 64,
        size=size,
        issued_on=issued_on,
    )


def proof(issued_on: str) -> list[dossier_pb2.DocumentRef]:
    """The reference dossier's documents with a proof of address issued on that day."""
    address = document("proof_of_address")
    address.issued_on = issued_on  # "" too: document() would put the recent default back
    return [document("identity_proof"), address]


def dossier(request_number: str = "2506K7Q3ZP9A", /, **changes: object) -> dossier_pb2.Dossier:
    """A compliant dossier: an adult of 30 living in Lyon, first registration for B."""
    built = dossier_pb2.Dossier(
        request_number=request_number,
        journey="inscription",
        motif="first_registration",
        category="B",
        account_id="acc-1",
        civil_status=dossier_pb2.CivilStatus(
            family_name="Martin",
            given_names="Jeanne Marie",
            birth_date="1995-03-10",
            birth_place="Lyon",
            birth_country="FR",
            sex="F",
            nationality="FR",
        ),
        address=dossier_pb2.AddressContact(
            street="12 rue de la République",
            postal_code="69003",
            city="Lyon",
            department="69",
            email="jeanne.martin@exemple.fr",
            mobile_phone="06 12 34 56 78",
        ),
        photo_code=PHOTO_CODE,
        documents=[document("identity_proof"), document("proof_of_address", "image/jpeg")],
        submitted_at=SUBMITTED,
    )
    for path, value in changes.items():
        *parents, leaf = path.split("__")
        target = built
        for parent in parents:
            target = getattr(target, parent)
        if isinstance(value, list):
            del getattr(target, leaf)[:]
            getattr(target, leaf).extend(value)
        else:
            setattr(target, leaf, value)
    return built


def found(findings: list[rules.Finding]) -> set[tuple[str, str]]:
    return {(f.code, f.field) for f in findings}


# ---- pure rules -----------------------------------------------------------------------


def test_the_reference_dossier_is_compliant() -> None:
    assert rules.check_dossier(dossier(), TODAY) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"civil_status__family_name": " "}, {("missing_field", "civil_status.family_name")}),
        ({"civil_status__given_names": "J3anne"}, {("invalid_name", "civil_status.given_names")}),
        ({"civil_status__birth_place": ""}, {("missing_field", "civil_status.birth_place")}),
        (
            {"civil_status__birth_date": "1995-02-30"},
            {("invalid_birth_date", "civil_status.birth_date")},
        ),
        (
            {"civil_status__birth_date": "10/03/1995"},
            {("invalid_birth_date", "civil_status.birth_date")},
        ),
        (
            {"civil_status__birth_date": "2025-06-03"},
            {("birth_date_in_future", "civil_status.birth_date")},
        ),
        (
            {"civil_status__birth_date": "1890-01-01"},
            {("invalid_birth_date", "civil_status.birth_date")},
        ),
        ({"civil_status__birth_date": ""}, {("missing_field", "civil_status.birth_date")}),
        ({"civil_status__sex": "X"}, {("invalid_sex", "civil_status.sex")}),
        ({"civil_status__sex": ""}, {("missing_field", "civil_status.sex")}),
        (
            {"civil_status__birth_country": "France"},
            {("invalid_country_code", "civil_status.birth_country")},
        ),
        ({"address__street": ""}, {("missing_field", "address.street")}),
        ({"address__city": ""}, {("missing_field", "address.city")}),
        ({"address__postal_code": "6900"}, {("invalid_postal_code", "address.postal_code")}),
        (
            {"address__postal_code": "99000", "address__department": "99"},
            {("invalid_postal_code", "address.postal_code")},
        ),
        ({"address__department": "13"}, {("department_mismatch", "address.department")}),
        ({"address__department": ""}, {("missing_field", "address.department")}),
        (
            {"address__postal_code": "20000", "address__department": "20"},
            {("department_mismatch", "address.department")},
        ),
        ({"address__email": "jeanne.martin@"}, {("invalid_email", "address.email")}),
        ({"address__email": ""}, {("missing_field", "address.email")}),
        (
            {"address__mobile_phone": "04 78 00 00 00"},
            {("invalid_mobile_phone", "address.mobile_phone")},
        ),
        ({"address__mobile_phone": ""}, {("missing_field", "address.mobile_phone")}),
        ({"photo_code": ""}, {("missing_photo_code", "photo_code")}),
        ({"photo_code": PHOTO_CODE[:-1]}, {("invalid_photo_code", "photo_code")}),
        ({"photo_code": PHOTO_CODE[:-1] + "é"}, {("invalid_photo_code", "photo_code")}),
        (
            {"documents": [document("identity_proof")]},
            {("missing_document", "documents.proof_of_address")},
        ),
        (
            {"documents": []},
            {
                ("missing_document", "documents.identity_proof"),
                ("missing_document", "documents.proof_of_address"),
            },
        ),
        (
            {"documents": [document("identity_proof"), document("proof_of_address", "image/gif")]},
            {("unsupported_document_type", "documents[1]")},
        ),
        (
            {"documents": [document("identity_proof", size=0), document("proof_of_address")]},
            {("empty_document", "documents[0]")},
        ),
        (
            {
                "documents": [
                    document("identity_proof"),
                    document("proof_of_address"),
                    document("selfie"),
                ]
            },
            {("unknown_document_kind", "documents[2]")},
        ),
        ({"motif": "lottery"}, {("invalid_motif", "motif")}),
        ({"category": "Z"}, {("invalid_category", "category")}),
        ({"journey": "holiday"}, {("invalid_journey", "journey")}),
        # Extension: the current licence is required too.
        ({"motif": "extension"}, {("missing_document", "documents.current_licence")}),
        # 20 years old and French: the JDC certificate.
        (
            {"civil_status__birth_date": "2005-01-01"},
            {("missing_document", "documents.jdc_certificate")},
        ),
        # Foreign national outside the EEA: a residence permit.
        ({"civil_status__nationality": "MA"}, {("missing_document", "documents.residence_permit")}),
        # 16 for category B: too young, and a minor's documents are missing as well.
        (
            {"civil_status__birth_date": "2008-09-01"},
            {
                ("too_young", "civil_status.birth_date"),
                ("missing_document", "documents.census_certificate"),
                ("missing_document", "documents.legal_representative_id"),
            },
        ),
        # Heavy vehicle at 20: too young for C (21), and a medical opinion is needed.
        (
            {"category": "C", "civil_status__birth_date": "2005-01-01"},
            {
                ("too_young", "civil_status.birth_date"),
                ("missing_document", "documents.jdc_certificate"),
                ("missing_document", "documents.medical_opinion"),
            },
        ),
    ],
)
def test_each_check_reports_its_finding(
    changes: dict[str, object], expected: set[tuple[str, str]]
) -> None:
    findings = rules.check_dossier(dossier(**changes), TODAY)
    assert found(findings) == expected
    assert all(f.message and f.message[0].isupper() for f in findings)


@pytest.mark.parametrize(
    "changes",
    [
        {"address__postal_code": "20090", "address__department": "2A"},
        {"address__postal_code": "20200", "address__department": "2b"},
        {
            "address__postal_code": "97411",
            "address__city": "Saint-Pierre",
            "address__department": "974",
        },
        {"address__mobile_phone": "+33712345678"},
        {"address__mobile_phone": "07.12.34.56.78"},
        {"photo_code": "k7q3-zp9a-b2c4-d6e8-f0g1-h2"},
        {"civil_status__nationality": "DE"},
        # A 17-year-old for B with the minor's documents.
        {
            "civil_status__birth_date": "2008-01-15",
            "documents": [
                document("identity_proof"),
                document("proof_of_address"),
                document("census_certificate"),
                document("legal_representative_id"),
            ],
        },
    ],
)
def test_valid_variants_are_compliant(changes: dict[str, object]) -> None:
    assert rules.check_dossier(dossier(**changes), TODAY) == []


def test_messages_are_french_and_name_the_missing_document() -> None:
    findings = rules.check_dossier(dossier(documents=[document("identity_proof")]), TODAY)
    assert [f.message for f in findings] == [
        "Pièce justificative manquante : Justificatif de domicile de moins de 6 mois."
    ]
    (too_young,) = rules.check_age(dossier(civil_status__birth_date="2010-01-01"), TODAY)
    assert too_young.message == "L'âge minimum pour la catégorie B est de 17 ans."


@pytest.mark.parametrize(
    ("submitted_at", "too_young"),
    [
        # 17th birthday on 3 June: 21:30 UTC on 2 June is still 2 June in Paris...
        ("2025-06-02T21:30:00+00:00", True),
        # ...22:30 UTC is already 3 June in Paris (UTC+2 in summer).
        ("2025-06-02T22:30:00+00:00", False),
        ("2025-06-03", False),
    ],
)
def test_age_is_counted_on_the_french_submission_day(submitted_at: str, too_young: bool) -> None:
    candidate = dossier(civil_status__birth_date="2008-06-03", submitted_at=submitted_at)
    codes = {f.code for f in rules.check_dossier(candidate, TODAY)}
    assert ("too_young" in codes) is too_young


def test_without_a_submission_date_the_check_day_counts() -> None:
    candidate = dossier(civil_status__birth_date="2008-06-03", submitted_at="")
    assert "too_young" in {f.code for f in rules.check_dossier(candidate, date(2025, 6, 2))}
    assert "too_young" not in {f.code for f in rules.check_dossier(candidate, date(2025, 6, 3))}


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (date(2024, 12, 2), 6, date(2025, 6, 2)),
        (date(2025, 7, 15), 6, date(2026, 1, 15)),
        (date(2025, 8, 31), 6, date(2026, 2, 28)),
        (date(2023, 8, 31), 6, date(2024, 2, 29)),
        (date(2025, 12, 31), 1, date(2026, 1, 31)),
    ],
)
def test_add_months_keeps_the_day_or_takes_the_months_last(
    day: date, months: int, expected: date
) -> None:
    assert rules.add_months(day, months) == expected


@pytest.mark.parametrize(
    ("submitted_at", "issued_on", "expected"),
    [
        # Submitted on 2 June 2025 (Paris).
        (SUBMITTED, "2025-06-02", None),  # issued the same day
        (SUBMITTED, "2024-12-03", None),
        (SUBMITTED, "2024-12-02", None),  # exactly 6 months: the last day it is accepted
        (SUBMITTED, "2024-12-01", "proof_of_address_too_old"),  # one day more
        (SUBMITTED, "2023-06-02", "proof_of_address_too_old"),
        (SUBMITTED, "2025-06-03", "proof_of_address_date_invalid"),  # in the future
        (SUBMITTED, "02/12/2024", "proof_of_address_date_invalid"),
        (SUBMITTED, "2024-02-30", "proof_of_address_date_invalid"),
        (SUBMITTED, "", "proof_of_address_date_missing"),
        (SUBMITTED, "  ", "proof_of_address_date_missing"),
        # 22:30 UTC on 2 June is already 3 June in Paris: the same document is too old.
        ("2025-06-02T22:30:00+00:00", "2024-12-02", "proof_of_address_too_old"),
        # Month ends: a document of 31 August turns 6 months old on 28 February...
        ("2025-02-28T10:00:00+01:00", "2024-08-31", None),
        ("2025-03-01T10:00:00+01:00", "2024-08-31", "proof_of_address_too_old"),
        # ...or on 29 February in a leap year.
        ("2024-02-29T10:00:00+01:00", "2023-08-31", None),
        ("2024-03-01T10:00:00+01:00", "2023-08-31", "proof_of_address_too_old"),
        # One of 28 February is 6 months old on 28 August, not on the 31st.
        ("2025-08-28T10:00:00+02:00", "2025-02-28", None),
        ("2025-08-29T10:00:00+02:00", "2025-02-28", "proof_of_address_too_old"),
    ],
)
def test_proof_of_address_is_less_than_6_months_old_on_the_submission_day(
    submitted_at: str, issued_on: str, expected: str | None
) -> None:
    candidate = dossier(submitted_at=submitted_at, documents=proof(issued_on))
    findings = rules.check_dossier(candidate, TODAY)
    assert found(findings) == ({(expected, "documents[1].issued_on")} if expected else set())


def test_every_proof_of_address_is_dated_and_the_message_says_when() -> None:
    candidate = dossier(
        documents=[
            document("proof_of_address", issued_on="2024-11-20"),
            document("identity_proof"),
            document("proof_of_address", issued_on="2025-05-01"),
        ]
    )
    (too_old,) = rules.check_dossier(candidate, TODAY)
    assert (too_old.code, too_old.field) == ("proof_of_address_too_old", "documents[0].issued_on")
    assert too_old.message == (
        "Le justificatif de domicile date du 20/11/2024 : il doit avoir moins de 6 mois "
        "à la date de la demande."
    )
    # Other documents need no date.
    assert rules.check_dossier(dossier(documents=proof("2025-05-01")), TODAY) == []


def test_agent_findings_complete_the_message_from_the_reason() -> None:
    findings = rules.agent_findings(
        [
            ("photo_non_compliant", "", "photo_code"),
            (" other ", " Le nom diffère de la pièce d'identité. ", ""),
            ("document_illegible", "Le justificatif est flou.", "documents[1]"),
        ]
    )
    assert findings == [
        rules.Finding(
            "photo_non_compliant",
            rules.NON_COMPLIANCE_REASONS["photo_non_compliant"],
            "photo_code",
        ),
        rules.Finding("other", "Le nom diffère de la pièce d'identité.", ""),
        rules.Finding("document_illegible", "Le justificatif est flou.", "documents[1]"),
    ]
    assert set(rules.NON_COMPLIANCE_REASONS) >= {
        "photo_non_compliant",
        "document_illegible",
        "document_expired",
        "identity_inconsistent",
        "address_proof_too_old",
        "document_missing",
        "other",
    }
    assert all(
        label[0].isupper() and label.endswith(".")
        for label in rules.NON_COMPLIANCE_REASONS.values()
    )


@pytest.mark.parametrize(
    ("raw", "code", "field"),
    [
        ([], ErrorCode.MISSING_FIELDS, "findings"),
        ([("bad_mood", "", "")], ErrorCode.INVALID_FIELD, "findings[0].code"),
        (
            [("document_missing", "", ""), ("", "x", "")],
            ErrorCode.INVALID_FIELD,
            "findings[1].code",
        ),
        ([("other", "  ", "")], ErrorCode.MISSING_FIELDS, "findings[0].message"),
        ([("other", "x" * 1001, "")], ErrorCode.INVALID_FIELD, "findings[0]"),
        ([("document_expired", "", "f" * 201)], ErrorCode.INVALID_FIELD, "findings[0]"),
        ([("document_missing", "", "")] * 21, ErrorCode.INVALID_FIELD, "findings"),
    ],
)
def test_agent_findings_are_refused_when_unusable(
    raw: list[tuple[str, str, str]], code: ErrorCode, field: str
) -> None:
    with pytest.raises(PermisError) as refused:
        rules.agent_findings(raw)
    assert refused.value.code is code
    assert refused.value.details["field"] == field


# ---- the gRPC service -----------------------------------------------------------------


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


class Switch:
    """The updater the service delivers through; a test may swap the real one for
    another (e.g. a client whose Temporal is unreachable)."""

    def __init__(self, target: JourneyUpdater) -> None:
        self.target = target

    async def update(self, workflow_id: str, update: str, arg: BaseModel) -> None:
        await self.target.update(workflow_id, update, arg)


@dataclass
class PreCheck:
    stub: ctn_pb2_grpc.PreCheckServiceStub
    clock: Clock
    store: VerdictStore
    updater: Switch

    async def check(
        self, candidate: dossier_pb2.Dossier, workflow_id: str = ""
    ) -> ctn_pb2.PreCheckResult:
        return await self.stub.CheckDossier(
            ctn_pb2.CheckDossierRequest(dossier=candidate, workflow_id=workflow_id)
        )

    async def result(self, request_number: str) -> ctn_pb2.PreCheckResult:
        return await self.stub.GetResult(ctn_pb2.GetResultRequest(request_number=request_number))


@asynccontextmanager
async def running_precheck(database_url: str, updater: JourneyUpdater) -> AsyncIterator[PreCheck]:
    """The real service on a free port, over its database and a Temporal updater."""
    engine = make_engine(database_url)
    await create_tables(engine)
    sessions = make_sessionmaker(engine)
    clock = Clock(datetime(2025, 6, 2, 10, 5, tzinfo=UTC))
    switch = Switch(updater)
    server, port = await start_server([definition(sessions, switch, clock=clock)], "127.0.0.1:0")
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield PreCheck(
            ctn_pb2_grpc.PreCheckServiceStub(channel), clock, VerdictStore(sessions), switch
        )
    finally:
        await channel.close()
        await server.stop(5)  # let in-flight handlers give their connections back
        await engine.dispose()


@pytest.fixture
async def precheck(database_url: str, temporal_client: Client) -> AsyncIterator[PreCheck]:
    async with running_precheck(database_url, TemporalJourneyUpdater(temporal_client)) as running:
        yield running


async def test_compliant_dossier_is_recorded(precheck: PreCheck) -> None:
    result = await precheck.check(dossier("2506AAAAAAAA"))
    assert result.request_number == "2506AAAAAAAA"
    assert result.compliant is True
    assert list(result.findings) == []
    assert datetime.fromisoformat(result.checked_at) == precheck.clock.now
    stored = await precheck.stub.GetResult(ctn_pb2.GetResultRequest(request_number="2506AAAAAAAA"))
    assert stored == result


async def test_findings_come_back_in_french_and_the_first_verdict_stands(
    precheck: PreCheck,
) -> None:
    first = await precheck.check(
        dossier("2506BBBBBBBB", address__department="13", documents=[document("identity_proof")])
    )
    assert first.compliant is False
    assert [(f.code, f.field) for f in first.findings] == [
        ("department_mismatch", "address.department"),
        ("missing_document", "documents.proof_of_address"),
    ]
    assert "ne correspond pas au code postal 69003" in first.findings[0].message

    # A retried activity, later and with a corrected dossier, gets the same verdict back.
    precheck.clock.now += timedelta(hours=1)
    again = await precheck.check(dossier("2506BBBBBBBB"))
    assert again == first
    stored = await precheck.stub.GetResult(ctn_pb2.GetResultRequest(request_number="2506BBBBBBBB"))
    assert stored == first


async def test_concurrent_checks_of_one_request_agree(precheck: PreCheck) -> None:
    variants: list[Callable[[], dossier_pb2.Dossier]] = [
        lambda: dossier("2506CCCCCCCC"),
        lambda: dossier("2506CCCCCCCC", photo_code=""),
    ]
    results = await asyncio.gather(*(precheck.check(variants[n % 2]()) for n in range(6)))
    assert all(result == results[0] for result in results)
    stored = await precheck.stub.GetResult(ctn_pb2.GetResultRequest(request_number="2506CCCCCCCC"))
    assert stored == results[0]


async def test_unknown_result_and_missing_request_number(precheck: PreCheck) -> None:
    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await precheck.stub.GetResult(ctn_pb2.GetResultRequest(request_number="2506ZZZZZZZZ"))
    assert caught.value.code() == grpc.StatusCode.NOT_FOUND
    assert PermisError.from_rpc_error(caught.value).code is ErrorCode.REQUEST_NOT_FOUND  # type: ignore[union-attr]

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await precheck.check(dossier(" "))
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert PermisError.from_rpc_error(caught.value).code is ErrorCode.INVALID_FIELD  # type: ignore[union-attr]


async def test_the_automatic_verdict_remembers_its_journey(precheck: PreCheck) -> None:
    result = await precheck.check(dossier("2506DDDDDDDD"), workflow_id="journey-of-DDDD")
    assert result.decided_by == AUTOMATIC
    stored = await precheck.store.get("2506DDDDDDDD")
    assert stored is not None and stored.workflow_id == "journey-of-DDDD"

    # A caller that predates the field: an inscription's journey follows from its number.
    await precheck.check(dossier("2506EEEEEEEE"))
    legacy = await precheck.store.get("2506EEEEEEEE")
    assert legacy is not None and legacy.workflow_id == "inscription-2506EEEEEEEE"

    with pytest.raises(grpc.aio.AioRpcError) as caught:
        await precheck.check(dossier("2506FFFFFFFF"), workflow_id="w" * 201)
    assert PermisError.from_rpc_error(caught.value).code is ErrorCode.INVALID_FIELD  # type: ignore[union-attr]


async def test_an_old_proof_of_address_makes_the_dossier_non_compliant(precheck: PreCheck) -> None:
    too_old = await precheck.check(dossier("2506GGGGGGGG", documents=proof("2024-12-01")))
    assert too_old.compliant is False
    assert [(f.code, f.field) for f in too_old.findings] == [
        ("proof_of_address_too_old", "documents[1].issued_on")
    ]
    undated = await precheck.check(dossier("2506HHHHHHHH", documents=proof("")))
    assert [f.code for f in undated.findings] == ["proof_of_address_date_missing"]
    # Submitted on 2 June, checked days later: the submission day counts.
    precheck.clock.now += timedelta(days=5)
    on_time = await precheck.check(dossier("2506JJJJJJJJ", documents=proof("2024-12-02")))
    assert on_time.compliant is True


async def test_a_database_from_before_agent_verdicts_is_brought_up_to_date(
    database_url: str, temporal_client: Client
) -> None:
    engine = make_engine(database_url)
    async with engine.begin() as connection:  # the first release's table, with a verdict
        await connection.execute(
            text(
                "CREATE TABLE ctn_verdicts (request_number VARCHAR(64) PRIMARY KEY, "
                "compliant BOOLEAN NOT NULL, findings JSON NOT NULL, "
                "checked_at TIMESTAMP WITH TIME ZONE NOT NULL)"
            )
        )
        await connection.execute(
            text(
                "INSERT INTO ctn_verdicts VALUES ('2506KKKKKKKK', true, '[]', "
                "'2025-06-02 10:05:00+00:00')"
            )
        )
    await engine.dispose()

    _, engine = await build(
        Settings(database_url=database_url), TemporalJourneyUpdater(temporal_client)
    )
    try:
        async with engine.connect() as connection:
            columns = await connection.run_sync(
                lambda sync: {c["name"] for c in inspect(sync).get_columns("ctn_verdicts")}
            )
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert "workflow_id" in columns
        assert "ctn_agent_verdicts" in tables
        old = await VerdictStore(make_sessionmaker(engine)).get("2506KKKKKKKK")
        assert old is not None and (old.compliant, old.workflow_id) == (True, "")
        assert old.checked_at == datetime(2025, 6, 2, 10, 5, tzinfo=UTC)
        await create_tables(engine)  # a second start changes nothing
    finally:
        await engine.dispose()


def test_title_dossiers_are_checked_against_title_rules() -> None:
    """A title request (here a duplicate after a loss) uses the title motifs and needs a NEPH."""
    from permis.common.v1 import dossier_pb2
    from services.ctn import rules

    dossier = dossier_pb2.Dossier(journey="title", motif="loss", category="B", neph="26116901")
    codes = {finding.code for finding in rules.check_request(dossier)}
    assert codes == {"invalid_neph"}
    dossier.neph = "261169010001"
    assert rules.check_request(dossier) == []
    dossier.motif = "first_registration"  # an inscription motif on a title request
    assert {f.code for f in rules.check_request(dossier)} == {"invalid_motif"}
