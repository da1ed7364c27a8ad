"""CTN form checks: the pure rules as tables, and the real gRPC service on both databases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import grpc
import pytest

from permis.common.v1 import dossier_pb2
from permis.ctn.v1 import ctn_pb2, ctn_pb2_grpc
from services.common.db import create_schema, make_engine, make_sessionmaker
from services.common.errors import ErrorCode, PermisError
from services.common.grpc_server import start_server
from services.ctn import rules
from services.ctn.server import definition
from services.ctn.storage import Base

SUBMITTED = "2025-06-02T10:00:00+00:00"
TODAY = date(2025, 6, 2)
PHOTO_CODE = "K7Q3ZP9AB2C4D6E8F0G1H2"


def document(kind: str, content_type: str = "application/pdf", size: int = 2048) -> (
    dossier_pb2.DocumentRef
):
    return dossier_pb2.DocumentRef(
        document_id=f"doc-{kind}", kind=kind, content_type=content_type, sha256="0" * 64, size=size
    )


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
        ({"civil_status__family_name": " "},
         {("missing_field", "civil_status.family_name")}),
        ({"civil_status__given_names": "J3anne"},
         {("invalid_name", "civil_status.given_names")}),
        ({"civil_status__birth_place": ""},
         {("missing_field", "civil_status.birth_place")}),
        ({"civil_status__birth_date": "1995-02-30"},
         {("invalid_birth_date", "civil_status.birth_date")}),
        ({"civil_status__birth_date": "10/03/1995"},
         {("invalid_birth_date", "civil_status.birth_date")}),
        ({"civil_status__birth_date": "2025-06-03"},
         {("birth_date_in_future", "civil_status.birth_date")}),
        ({"civil_status__birth_date": "1890-01-01"},
         {("invalid_birth_date", "civil_status.birth_date")}),
        ({"civil_status__birth_date": ""},
         {("missing_field", "civil_status.birth_date")}),
        ({"civil_status__sex": "X"}, {("invalid_sex", "civil_status.sex")}),
        ({"civil_status__sex": ""}, {("missing_field", "civil_status.sex")}),
        ({"civil_status__birth_country": "France"},
         {("invalid_country_code", "civil_status.birth_country")}),
        ({"address__street": ""}, {("missing_field", "address.street")}),
        ({"address__city": ""}, {("missing_field", "address.city")}),
        ({"address__postal_code": "6900"}, {("invalid_postal_code", "address.postal_code")}),
        ({"address__postal_code": "99000", "address__department": "99"},
         {("invalid_postal_code", "address.postal_code")}),
        ({"address__department": "13"}, {("department_mismatch", "address.department")}),
        ({"address__department": ""}, {("missing_field", "address.department")}),
        ({"address__postal_code": "20000", "address__department": "20"},
         {("department_mismatch", "address.department")}),
        ({"address__email": "jeanne.martin@"}, {("invalid_email", "address.email")}),
        ({"address__email": ""}, {("missing_field", "address.email")}),
        ({"address__mobile_phone": "04 78 00 00 00"},
         {("invalid_mobile_phone", "address.mobile_phone")}),
        ({"address__mobile_phone": ""}, {("missing_field", "address.mobile_phone")}),
        ({"photo_code": ""}, {("missing_photo_code", "photo_code")}),
        ({"photo_code": PHOTO_CODE[:-1]}, {("invalid_photo_code", "photo_code")}),
        ({"photo_code": PHOTO_CODE[:-1] + "é"}, {("invalid_photo_code", "photo_code")}),
        ({"documents": [document("identity_proof")]},
         {("missing_document", "documents.proof_of_address")}),
        ({"documents": []},
         {("missing_document", "documents.identity_proof"),
          ("missing_document", "documents.proof_of_address")}),
        ({"documents": [document("identity_proof"), document("proof_of_address", "image/gif")]},
         {("unsupported_document_type", "documents[1]")}),
        ({"documents": [document("identity_proof", size=0), document("proof_of_address")]},
         {("empty_document", "documents[0]")}),
        ({"documents": [document("identity_proof"), document("proof_of_address"),
                        document("selfie")]},
         {("unknown_document_kind", "documents[2]")}),
        ({"motif": "lottery"}, {("invalid_motif", "motif")}),
        ({"category": "Z"}, {("invalid_category", "category")}),
        ({"journey": "holiday"}, {("invalid_journey", "journey")}),
        # Extension: the current licence is required too.
        ({"motif": "extension"}, {("missing_document", "documents.current_licence")}),
        # 20 years old and French: the JDC certificate.
        ({"civil_status__birth_date": "2005-01-01"},
         {("missing_document", "documents.jdc_certificate")}),
        # Foreign national outside the EEA: a residence permit.
        ({"civil_status__nationality": "MA"},
         {("missing_document", "documents.residence_permit")}),
        # 16 for category B: too young, and a minor's documents are missing as well.
        ({"civil_status__birth_date": "2008-09-01"},
         {("too_young", "civil_status.birth_date"),
          ("missing_document", "documents.census_certificate"),
          ("missing_document", "documents.legal_representative_id")}),
        # Heavy vehicle at 20: too young for C (21), and a medical opinion is needed.
        ({"category": "C", "civil_status__birth_date": "2005-01-01"},
         {("too_young", "civil_status.birth_date"),
          ("missing_document", "documents.jdc_certificate"),
          ("missing_document", "documents.medical_opinion")}),
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
        {"address__postal_code": "97411", "address__city": "Saint-Pierre",
         "address__department": "974"},
        {"address__mobile_phone": "+33712345678"},
        {"address__mobile_phone": "07.12.34.56.78"},
        {"photo_code": "k7q3-zp9a-b2c4-d6e8-f0g1-h2"},
        {"civil_status__nationality": "DE"},
        # A 17-year-old for B with the minor's documents.
        {"civil_status__birth_date": "2008-01-15",
         "documents": [document("identity_proof"), document("proof_of_address"),
                       document("census_certificate"), document("legal_representative_id")]},
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


# ---- the gRPC service -----------------------------------------------------------------


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class PreCheck:
    stub: ctn_pb2_grpc.PreCheckServiceStub
    clock: Clock

    async def check(self, candidate: dossier_pb2.Dossier) -> ctn_pb2.PreCheckResult:
        return await self.stub.CheckDossier(ctn_pb2.CheckDossierRequest(dossier=candidate))


@pytest.fixture
async def precheck(database_url: str) -> AsyncIterator[PreCheck]:
    engine = make_engine(database_url)
    await create_schema(engine, Base)
    clock = Clock(datetime(2025, 6, 2, 10, 5, tzinfo=UTC))
    server, port = await start_server(
        [definition(make_sessionmaker(engine), clock=clock)], "127.0.0.1:0"
    )
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield PreCheck(ctn_pb2_grpc.PreCheckServiceStub(channel), clock)
    finally:
        await channel.close()
        await server.stop(None)
        await engine.dispose()


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
