"""The demo journey: a category-B candidate from account creation to attestation.

Everything goes through the real parts: the HTTP gateway for the candidate, the
photocode service for the approved booth, the instruction service for the DDT
instructor. The journey stays visible in the Temporal UI afterwards.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from datetime import date, timedelta
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any, Protocol

import grpc
import httpx

from deploy.local import samples
from deploy.partners.simulator import play_partners
from permis.instruction.v1 import instruction_pb2, instruction_pb2_grpc
from permis.photocode.v1 import photocode_pb2, photocode_pb2_grpc
from services.common import auth
from services.common.auth import Principal
from services.common.clients import open_channel
from services.common.settings import Settings
from workflows import ids
from workflows.models import department_of

DEMO_BOOTH = "CABINE-DEMO-0001"
DEMO_INSTRUCTOR = "instructeur.demo@ddt-69"
DEMO_EXAMINER = "inspecteur.demo@ddt-69"
DEMO_PASSWORD = "Permis-de-conduire-2026"
# The demo candidate: born 12 April 2006, living in Lyon (department 69).
BIRTH_DATE = "2006-04-12"
POSTAL_CODE = "69002"
NEPH = re.compile(r"^\d{12}$")


class RunningStack(Protocol):
    gateway_url: str
    settings: Settings


class DemoFailed(Exception):
    pass


def say(step: str) -> None:
    print(f"  • {step}", flush=True)


def expect(response: httpx.Response, status: int) -> dict[str, Any]:
    if response.status_code != status:
        raise DemoFailed(
            f"{response.request.method} {response.request.url.path}: "
            f"{response.status_code} {response.text}"
        )
    return response.json()  # type: ignore[no-any-return]


async def wait_for_stage(
    http: httpx.AsyncClient, request_number: str, stages: set[str], within: float = 120
) -> dict[str, Any]:
    """Polls the cheap status read (the journey's committed stage, no query to the worker)
    until it reaches one of ``stages``; then returns the whole view, read once."""
    deadline = time.monotonic() + within
    stage = "?"
    while True:
        response = await http.get(f"/v1/requests/{request_number}/status")
        # A 503 says "try again" (Temporal too busy to answer in time): the next poll does.
        if response.status_code != 503:
            stage = expect(response, 200)["stage"]
            if stage in stages:
                return expect(await http.get(f"/v1/requests/{request_number}"), 200)
        if time.monotonic() > deadline:
            raise DemoFailed(f"la demande est restée à l'étape {stage}")
        await asyncio.sleep(0.3)


async def issue_photo_code(settings: Settings) -> str:
    booth_principal = Principal(DEMO_BOOTH, auth.APPROVED_BOOTH)
    async with open_channel(settings.photocode_address, settings, booth_principal) as channel:
        booth = photocode_pb2_grpc.PhotoCodeServiceStub(channel)
        code = await booth.IssueCode(
            photocode_pb2.IssueCodeRequest(
                booth_id=DEMO_BOOTH,
                photo=samples.png(),
                signature=samples.png(60, 20, (20, 20, 20)),
            )
        )
    return str(code.code)


async def instructor_decides(
    settings: Settings,
    request_number: str,
    department: str,
    *,
    reject_with: tuple[str, str] | None = None,
) -> instruction_pb2.Decision:
    """The DDT instructor finds the case in the queue, claims it, and decides."""
    instructor = Principal(DEMO_INSTRUCTOR, auth.DDT_INSTRUCTOR, department)
    async with open_channel(settings.instruction_address, settings, instructor) as channel:
        ddt = instruction_pb2_grpc.InstructionServiceStub(channel)
        queue = await ddt.ListPendingCases(
            instruction_pb2.ListPendingCasesRequest(department=department, page_size=500)
        )
        if request_number not in {case.request_number for case in queue.cases}:
            raise DemoFailed(f"la demande {request_number} n'est pas dans la file de la DDT")
        case = await ddt.ClaimCase(
            instruction_pb2.ClaimCaseRequest(
                request_number=request_number, instructor_id=DEMO_INSTRUCTOR, department=department
            )
        )
        say(
            f"l'instructeur prend le dossier en charge ({len(case.documents)} pièces, "
            "consultables par liens temporaires)"
        )
        if reject_with is None:
            decision = await ddt.AcceptCase(
                instruction_pb2.AcceptCaseRequest(
                    request_number=request_number, instructor_id=DEMO_INSTRUCTOR
                )
            )
        else:
            code, text = reject_with
            decision = await ddt.RejectCase(
                instruction_pb2.RejectCaseRequest(
                    request_number=request_number,
                    instructor_id=DEMO_INSTRUCTOR,
                    reason_code=code,
                    reason_text=text,
                )
            )
    return decision


@dataclass
class Candidate:
    """A logged-in candidate: the HTTP client carries the session."""

    http: httpx.AsyncClient
    email: str
    identifier: str


async def log_in(http: httpx.AsyncClient, login: str, password: str) -> Candidate:
    session = expect(
        await http.post("/v1/sessions", json={"login": login, "password": password}), 200
    )
    http.headers["Authorization"] = f"Bearer {session['token']}"
    account = session["account"]
    return Candidate(http, account["email"], account["identifier"])


# Where each running stack's mail sink writes, by gateway URL (LocalStack registers it).
MAIL_DIRS: dict[str, Path] = {}
LINK_TOKEN = re.compile(r"[?&]token=([A-Za-z0-9_-]+)")
IDENTIFIER_LINE = re.compile(r"Identifiant : ([0-9A-Z]+)")


def register_mail_dir(gateway_url: str, mail_dir: Path) -> None:
    MAIL_DIRS[gateway_url.rstrip("/")] = mail_dir


def mail_dir_of(http: httpx.AsyncClient) -> Path:
    """The mail sink's folder of the stack behind ``http``: registered by the stack, else
    ``PERMIS_MAIL_DIR``, else ``<PERMIS_DATA_DIR>/mail`` (the ``make run`` default)."""
    registered = MAIL_DIRS.get(str(http.base_url).rstrip("/"))
    if registered is not None:
        return registered
    if os.environ.get("PERMIS_MAIL_DIR"):
        return Path(os.environ["PERMIS_MAIL_DIR"])
    return Settings().data_dir.resolve() / "mail"


def mail_body(path: Path) -> str:
    message = message_from_bytes(path.read_bytes(), policy=policy.default)
    part = message.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]
    return str(part.get_content() if part is not None else message.get_content())  # type: ignore[attr-defined]


async def wait_for_mail(
    mail_dir: Path, to: str, subject_contains: str, *, seen: int = 0, within: float = 20
) -> str:
    """The body of the newest message to ``to`` whose subject contains the text, once at
    least ``seen + 1`` such messages arrived."""
    deadline = time.monotonic() + within
    while True:
        index = mail_dir / "index.jsonl"
        matching = []
        if index.exists():
            for line in index.read_text(encoding="utf-8").splitlines():
                entry = json.loads(line)
                recipients = [r.lower() for r in entry["to"]]
                if to.lower() in recipients and subject_contains in entry["subject"]:
                    matching.append(entry)
        if len(matching) > seen:
            return mail_body(mail_dir / matching[-1]["file"])
        if time.monotonic() > deadline:
            raise DemoFailed(f"aucun courriel « {subject_contains} » reçu pour {to}")
        await asyncio.sleep(0.1)


def link_token(body: str) -> str:
    found = LINK_TOKEN.search(body)
    if found is None:
        raise DemoFailed("pas de lien dans le courriel")
    return found.group(1)


async def new_candidate(
    http: httpx.AsyncClient, mail_dir: Path | None = None, email: str | None = None
) -> Candidate:
    """Creates an account as the notice describes: the sign-up form, the activation link
    from the first email, the password chosen (then logged in), and the identifier from
    the second email."""
    email = email or f"camille.martin.{secrets.token_hex(3)}@example.fr"
    mail_dir = mail_dir or mail_dir_of(http)
    expect(
        await http.post(
            "/v1/accounts",
            json={
                "email": email,
                "given_names": "Camille",
                "family_name": "Martin",
                "birth_date": BIRTH_DATE,
            },
        ),
        202,
    )
    token = link_token(await wait_for_mail(mail_dir, email, "Activez votre compte"))
    session = expect(
        await http.post(
            "/v1/accounts/activation", json={"token": token, "password": DEMO_PASSWORD}
        ),
        200,
    )
    http.headers["Authorization"] = f"Bearer {session['token']}"
    found = IDENTIFIER_LINE.search(await wait_for_mail(mail_dir, email, "Votre identifiant"))
    identifier = session["account"]["identifier"]
    if found is None or found.group(1) != identifier:
        raise DemoFailed("le second courriel ne donne pas l'identifiant attribué")
    return Candidate(http, email, identifier)


FIRST_REGISTRATION_B = {"motif": "first_registration", "category": "B"}


def steps_after_motif(
    email: str, photo_code: str, *, family_name: str = "Martin", given_names: str = "Camille"
) -> list[tuple[str, dict[str, Any]]]:
    """A category-B candidate's civil status, address (Lyon, department 69) and photo
    code: the (path, body) of each step after the motif."""
    return [
        (
            "civil-status",
            {
                "family_name": family_name,
                "given_names": given_names,
                "birth_date": BIRTH_DATE,
                "birth_place": "Lyon",
                "birth_country": "FR",
                "sex": "F",
                "nationality": "FR",
            },
        ),
        (
            "address",
            {
                "street": "12 rue de la République",
                "postal_code": POSTAL_CODE,
                "city": "Lyon",
                "email": email,
                "mobile_phone": "06 12 34 56 78",
            },
        ),
        ("photo-code", {"photo_code": photo_code}),
    ]


async def submitted_request(
    candidate: Candidate,
    settings: Settings,
    journey: str = "inscription",
    motif: dict[str, Any] = FIRST_REGISTRATION_B,
) -> dict[str, Any]:
    """Fills every step of a category-B request (a first registration unless told
    otherwise), submits, and waits until it reaches the DDT. Returns the request's view."""
    http = candidate.http
    photo_code = await issue_photo_code(settings)
    say(f"la cabine agréée {DEMO_BOOTH} remet le code photo/signature {photo_code}")

    view = expect(await http.post("/v1/requests", json={"journey": journey}), 201)
    number = view["request_number"]
    say(f"demande ({journey}) n° {number} commencée")
    steps = [("motif", motif), *steps_after_motif(candidate.email, photo_code)]
    for path, body in steps:
        view = expect(await http.put(f"/v1/requests/{number}/{path}", json=body), 200)
    say("motif, état civil, adresse et code photo saisis")

    issued = (date.today() - timedelta(days=20)).isoformat()
    for kind in view["required_documents"]:
        files = {"file": (f"{kind}.pdf", sample_document(kind), "application/pdf")}
        form = {"kind": kind, "issued_on": issued}
        view = expect(
            await http.post(f"/v1/requests/{number}/documents", data=form, files=files), 201
        )
    say(f"pièces justificatives déposées : {', '.join(view['required_documents'])}")

    summary = expect(await http.get(f"/v1/requests/{number}/summary"), 200)
    if not summary["ready_to_submit"]:
        raise DemoFailed(f"récapitulatif incomplet : {summary['missing_documents']}")
    expect(await http.post(f"/v1/requests/{number}/submit"), 200)
    say("demande confirmée et envoyée (courriel de confirmation)")

    view = await wait_for_stage(http, number, {"in_instruction", "rejected"})
    if view["stage"] != "in_instruction":
        raise DemoFailed(f"contrôle de forme refusé : {view['pre_check_findings']}")
    say("contrôle de forme du CTN passé, demande en instruction à la DDT")
    return view


def sample_document(kind: str) -> bytes:
    """The scan the demo candidate uploads for a kind of document (the same every time)."""
    return samples.pdf(f"Pièce : {kind}", ["Camille Martin", "Lyon"])


async def inscription_journey(gateway_url: str, settings: Settings) -> tuple[str, str, str]:
    """Runs the journey to the attestation; returns the request number, the candidate's
    email and the NEPH, or raises DemoFailed."""
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as http:
        candidate = await new_candidate(http)
        say(f"compte créé pour {candidate.email}, identifiant {candidate.identifier}, connecté")
        view = await submitted_request(candidate, settings)
        number = view["request_number"]
        if view.get("receipt_document_id"):
            receipt = await http.get(f"/v1/requests/{number}/receipt")
            say(f"récépissé de dépôt téléchargé ({len(receipt.content)} octets)")

        department = department_of(view["address"]["postal_code"])
        decision = await instructor_decides(settings, number, department)
        say(f"l'instructeur {DEMO_INSTRUCTOR} accepte la demande (NEPH {decision.neph})")

        view = await wait_for_stage(http, number, {"accepted", "rejected"})
        if view["stage"] != "accepted" or not NEPH.match(view["neph"] or ""):
            raise DemoFailed(f"décision inattendue : {view['stage']} {view.get('neph')}")
        attestation = await http.get(f"/v1/requests/{number}/attestation")
        if attestation.status_code != 200 or not attestation.content.startswith(b"%PDF-"):
            raise DemoFailed("attestation d'inscription introuvable")
        say(f"attestation d'inscription téléchargée ({len(attestation.content)} octets)")
        return str(number), candidate.email, str(view["neph"])


async def examiner_records_pass(settings: Settings, neph: str) -> None:
    examiner = Principal(DEMO_EXAMINER, auth.EXAMINER)
    async with open_channel(settings.instruction_address, settings, examiner) as channel:
        await instruction_pb2_grpc.InstructionServiceStub(channel).RecordExamResult(
            instruction_pb2.RecordExamResultRequest(
                neph=neph,
                category="B",
                passed=True,
                exam_date=date.today().isoformat(),
                examiner_id=DEMO_EXAMINER,
            )
        )


async def title_journey(
    gateway_url: str, settings: Settings, candidate_email: str, password: str, neph: str
) -> str:
    """After the exam: the title request, its instruction, manufacture and delivery."""
    async with httpx.AsyncClient(base_url=gateway_url, timeout=30) as http:
        candidate = await log_in(http, candidate_email, password)
        motif = {"motif": "exam_success_first_title", "category": "B", "neph": neph}
        view = await submitted_request(candidate, settings, "title", motif)
        number = view["request_number"]
        department = department_of(view["address"]["postal_code"])
        await instructor_decides(settings, number, department)
        say(f"l'instructeur accepte la demande de titre n° {number}")
        await wait_for_stage(http, number, {"in_production", "sent", "awaiting_pickup"})
        say("titre en fabrication : l'imprimerie et La Poste (simulées) prennent le relais")
        await play_partners(settings.production_address, number, "collected")
        view = await wait_for_stage(http, number, {"delivered", "returned", "destroyed"})
        if view["stage"] != "delivered":
            raise DemoFailed(f"titre non remis : {view['stage']}")
        say(
            f"avis de passage, puis titre retiré au bureau de poste "
            f"(suivi {view.get('tracking_number')})"
        )
        tracking = expect(
            await http.get(f"/v1/tracking/{number}", params={"birth_date": BIRTH_DATE}), 200
        )
        say(f"suivi public « Où en est mon permis » : {tracking['stage_label']}")
        return str(number)


async def run_demo(stack: RunningStack) -> bool:
    settings = stack.settings
    print("\nParcours de démonstration : inscription au permis B, examen, titre", flush=True)
    try:
        number, email, neph = await inscription_journey(stack.gateway_url, settings)
        await examiner_records_pass(settings, neph)
        say(f"l'inspecteur enregistre la réussite à l'examen (NEPH {neph}, catégorie B)")
        title = await title_journey(stack.gateway_url, settings, email, DEMO_PASSWORD, neph)
    except (DemoFailed, grpc.aio.AioRpcError, httpx.HTTPError) as error:
        print(f"ÉCHEC du parcours : {error!r}", flush=True)
        return False
    ui = f"{settings.temporal_ui_url}/namespaces/{settings.temporal_namespace}/workflows"
    print(
        f"Parcours terminé : inscription {number} acceptée, titre {title} remis.\n"
        f"  Temporal UI : {ui}/{ids.inscription_workflow_id(number)}\n"
        f"                {ui}/{ids.title_workflow_id(title)}\n"
        f"  Courriels   : {settings.data_dir / 'mail'}",
        flush=True,
    )
    return True
