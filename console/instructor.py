"""DDT instructors and examiners: the instruction service's queue, dossiers and decisions."""

from __future__ import annotations

import hashlib
import mimetypes
import os
from datetime import date
from pathlib import Path
from typing import Annotated

import grpc
import httpx
import typer
from rich.table import Table

from console import rendering
from console.runtime import (
    CALL_TIMEOUT,
    EXIT_REFUSED,
    EXIT_UNREACHABLE,
    acting,
    err,
    fail,
    out,
    require,
    run,
)
from permis.instruction.v1 import instruction_pb2
from services.common import auth
from services.common.clients import ServiceClients
from services.common.errors import PermisError

BULK_CAP = 50
USER_ENV = "PERMIS_CONSOLE_USER"
DEPARTMENT_ENV = "PERMIS_CONSOLE_DEPARTMENT"

Instructor = Annotated[
    str,
    typer.Option(
        "--instructor",
        envvar=USER_ENV,
        help="Votre identifiant d'instructeur (ex. prenom.nom@ddt-69).",
        show_default=False,
    ),
]
Department = Annotated[
    str,
    typer.Option("--department", "-d", envvar=DEPARTMENT_ENV, help="Votre département (ex. 69)."),
]
RequestNumber = Annotated[str, typer.Argument(help="Le numéro de la demande.")]

exam_app = typer.Typer(help="Résultats de l'examen du permis (examinateurs).", no_args_is_help=True)


def _instructor(value: str) -> str:
    return require(value, "votre identifiant d'instructeur avec --instructor", USER_ENV)


def _department(value: str) -> str:
    return require(value, "votre département avec --department", DEPARTMENT_ENV)


async def pending_cases(
    clients: ServiceClients, department: str, limit: int, *, unclaimed_only: bool = False
) -> list[instruction_pb2.InstructionCase]:
    """Up to ``limit`` pending cases in the queue's order, following the pages."""
    cases: list[instruction_pb2.InstructionCase] = []
    token = ""
    while len(cases) < limit:
        page = await clients.instruction.ListPendingCases(
            instruction_pb2.ListPendingCasesRequest(
                department=department,
                page_size=min(limit - len(cases), 500),
                page_token=token,
                unclaimed_only=unclaimed_only,
            ),
            timeout=CALL_TIMEOUT,
        )
        cases.extend(page.cases)
        token = page.next_page_token
        if not token:
            break
    return cases[:limit]


def queue(
    ctx: typer.Context,
    department: Department = "",
    unclaimed: Annotated[
        bool, typer.Option("--unclaimed", help="Seulement les dossiers que personne n'a pris.")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", "-n", min=1, help="Nombre de lignes.")] = 50,
) -> None:
    """La file d'attente d'un département, les plus anciens (et relancés) d'abord."""
    department = _department(department)
    cases = run(
        acting(ctx, auth.DDT_INSTRUCTOR, os.environ.get(USER_ENV, ""), department),
        "instruction",
        lambda clients: pending_cases(clients, department, limit, unclaimed_only=unclaimed),
    )
    if not cases:
        out.print(f"Aucun dossier en attente pour le département {department}.")
        return
    out.print(rendering.queue_table(cases, department))
    out.print(f"{len(cases)} dossier(s) affiché(s).")


def claim(
    ctx: typer.Context,
    request_number: RequestNumber,
    instructor: Instructor = "",
    department: Department = "",
) -> None:
    """Prendre un dossier en charge et l'afficher, pièces consultables par liens temporaires."""
    instructor, department = _instructor(instructor), _department(department)
    case = run(
        acting(ctx, auth.DDT_INSTRUCTOR, instructor, department),
        "instruction",
        lambda clients: clients.instruction.ClaimCase(
            instruction_pb2.ClaimCaseRequest(
                request_number=request_number, instructor_id=instructor, department=department
            ),
            timeout=CALL_TIMEOUT,
        ),
    )
    out.print(f"[green]Dossier {request_number} pris en charge par {instructor}.[/]")
    rendering.print_case(out, case)


async def _case_with_links(
    clients: ServiceClients, request_number: str, instructor: str
) -> instruction_pb2.InstructionCase:
    """The case; with its document links when this instructor holds it (claiming again
    is idempotent and gives fresh links), without them otherwise."""
    case = await clients.instruction.GetCase(
        instruction_pb2.GetCaseRequest(request_number=request_number), timeout=CALL_TIMEOUT
    )
    if case.state == "pending" and instructor and case.claimed_by == instructor:
        case = await clients.instruction.ClaimCase(
            instruction_pb2.ClaimCaseRequest(
                request_number=request_number, instructor_id=instructor, department=case.department
            ),
            timeout=CALL_TIMEOUT,
        )
    return case


def show(
    ctx: typer.Context,
    request_number: RequestNumber,
    instructor: Instructor = "",
    department: Department = "",
    open_kind: Annotated[
        str,
        typer.Option("--open", help="Télécharger la pièce de ce type (ex. identity_proof)."),
    ] = "",
    to: Annotated[
        Path | None, typer.Option("--to", help="Où enregistrer la pièce téléchargée.")
    ] = None,
) -> None:
    """Afficher un dossier ; --open KIND --to FICHIER télécharge une pièce par son lien."""
    case = run(
        acting(ctx, auth.DDT_INSTRUCTOR, instructor, _department(department)),
        "instruction",
        lambda clients: _case_with_links(clients, request_number, instructor.strip()),
    )
    rendering.print_case(out, case)
    if open_kind:
        download(case, open_kind, to)


def download(case: instruction_pb2.InstructionCase, kind: str, to: Path | None) -> None:
    """Fetches a document through its presigned URL and checks it against the dossier."""
    documents = [item for item in case.documents if item.document.kind == kind]
    if not documents:
        kinds = ", ".join(ref.kind for ref in case.dossier.documents) or "aucune"
        if any(ref.kind == kind for ref in case.dossier.documents):
            fail(
                f"Pas de lien pour la pièce {kind} : prenez d'abord le dossier en charge "
                f"(claim {case.request_number}) avec le même --instructor."
            )
        fail(f"Le dossier n'a pas de pièce {kind} (pièces : {kinds}).")
    item = documents[0]
    if not item.download_url:
        fail(f"La pièce {kind} est introuvable dans le stockage.")
    ref = item.document
    if to is None:
        extension = mimetypes.guess_extension(ref.content_type) or ""
        to = Path(f"{case.request_number}-{kind}{extension}")
    try:
        response = httpx.get(item.download_url, timeout=CALL_TIMEOUT)
    except httpx.HTTPError as error:
        fail(f"Le stockage des pièces est injoignable : {error}", EXIT_UNREACHABLE)
        return
    if response.status_code != 200:
        fail(
            f"Téléchargement refusé par le stockage (HTTP {response.status_code}) : "
            "le lien a peut-être expiré, affichez à nouveau le dossier."
        )
    content = response.content
    digest = hashlib.sha256(content).hexdigest()
    if ref.sha256 and digest != ref.sha256:
        fail(f"La pièce téléchargée ne correspond pas à celle du dossier (sha256 {digest}).")
    to.parent.mkdir(parents=True, exist_ok=True)
    to.write_bytes(content)
    out.print(
        f"[green]Pièce {kind} enregistrée dans {to}[/] ({len(content)} octets, sha256 vérifié)."
    )


def accept(
    ctx: typer.Context,
    request_number: RequestNumber,
    instructor: Instructor = "",
    department: Department = "",
) -> None:
    """Accepter un dossier : un NEPH est attribué et la démarche du candidat reprend."""
    instructor = _instructor(instructor)
    decision = run(
        acting(ctx, auth.DDT_INSTRUCTOR, instructor, _department(department)),
        "instruction",
        lambda clients: clients.instruction.AcceptCase(
            instruction_pb2.AcceptCaseRequest(
                request_number=request_number, instructor_id=instructor
            ),
            timeout=CALL_TIMEOUT,
        ),
    )
    out.print(f"[green]Dossier {request_number} accepté[/] : NEPH [bold]{decision.neph}[/]")


def reject(
    ctx: typer.Context,
    request_number: RequestNumber,
    reason: Annotated[
        str, typer.Option("--reason", "-r", help="Code du motif (voir la commande reasons).")
    ],
    text: Annotated[str, typer.Option("--text", "-t", help="Précision pour le candidat.")] = "",
    instructor: Instructor = "",
    department: Department = "",
) -> None:
    """Rejeter un dossier avec un motif (et une précision si le motif l'exige)."""
    instructor = _instructor(instructor)
    decision = run(
        acting(ctx, auth.DDT_INSTRUCTOR, instructor, _department(department)),
        "instruction",
        lambda clients: clients.instruction.RejectCase(
            instruction_pb2.RejectCaseRequest(
                request_number=request_number,
                instructor_id=instructor,
                reason_code=reason,
                reason_text=text,
            ),
            timeout=CALL_TIMEOUT,
        ),
    )
    out.print(
        f"[yellow]Dossier {request_number} rejeté[/] : motif {decision.reason_code}"
        + (f" ({decision.reason_text})" if decision.reason_text else "")
    )


def reasons(ctx: typer.Context) -> None:
    """Les motifs de rejet possibles."""
    response = run(
        acting(ctx, auth.DDT_INSTRUCTOR, os.environ.get(USER_ENV, "")),
        "instruction",
        lambda clients: clients.instruction.ListRejectionReasons(
            instruction_pb2.ListRejectionReasonsRequest(), timeout=CALL_TIMEOUT
        ),
    )
    out.print(rendering.reasons_table(response.reasons))


async def _bulk_accept(
    clients: ServiceClients,
    department: str,
    instructor: str,
    maximum: int,
    keep_going: bool,
    dry_run: bool,
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Claims then accepts, one case at a time; returns (accepted, failed) pairs."""
    # The queue's order (oldest first); cases another instructor holds are left alone.
    queue = await pending_cases(clients, department, 500)
    chosen = [case for case in queue if case.claimed_by in ("", instructor)][:maximum]
    accepted: list[tuple[str, str]] = []
    failed: list[tuple[str, str]] = []
    if dry_run:
        return [(case.request_number, "") for case in chosen], []
    for case in chosen:
        number = case.request_number
        try:
            await clients.instruction.ClaimCase(
                instruction_pb2.ClaimCaseRequest(
                    request_number=number, instructor_id=instructor, department=department
                ),
                timeout=CALL_TIMEOUT,
            )
            decision = await clients.instruction.AcceptCase(
                instruction_pb2.AcceptCaseRequest(request_number=number, instructor_id=instructor),
                timeout=CALL_TIMEOUT,
            )
        except grpc.aio.AioRpcError as error:
            refusal = PermisError.from_rpc_error(error)
            reason = (
                f"{refusal.message} ({refusal.code.value})"
                if refusal is not None
                else f"{error.code().name.lower()} : {error.details()}"
            )
            failed.append((number, reason))
            if not keep_going:
                break
            continue
        accepted.append((number, decision.neph))
    return accepted, failed


def bulk_accept(
    ctx: typer.Context,
    maximum: Annotated[
        int, typer.Option("--max", help=f"Nombre de dossiers à accepter (au plus {BULK_CAP}).")
    ],
    department: Department = "",
    instructor: Instructor = "",
    keep_going: Annotated[
        bool, typer.Option("--keep-going", help="Continuer après un échec.")
    ] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Lister les dossiers concernés sans rien décider.")
    ] = False,
) -> None:
    """Prendre en charge et accepter jusqu'à --max dossiers en attente, les plus anciens d'abord."""
    if maximum < 1 or maximum > BULK_CAP:
        fail(f"--max doit être compris entre 1 et {BULK_CAP} (demandé : {maximum}).")
    instructor, department = _instructor(instructor), _department(department)
    accepted, failed = run(
        acting(ctx, auth.DDT_INSTRUCTOR, instructor, department),
        "instruction",
        lambda clients: _bulk_accept(clients, department, instructor, maximum, keep_going, dry_run),
    )
    if dry_run:
        out.print(
            f"{len(accepted)} dossier(s) seraient acceptés : " + ", ".join(n for n, _ in accepted)
        )
        return
    if accepted or failed:
        table = Table(title="Acceptation par lot", title_justify="left")
        table.add_column("demande", no_wrap=True, style="bold")
        table.add_column("résultat")
        for number, neph in accepted:
            table.add_row(number, f"[green]acceptée[/], NEPH {neph}")
        for number, reason in failed:
            table.add_row(number, f"[red]{reason}[/]")
        out.print(table)
    summary = (
        f"Lot terminé : {len(accepted)} accepté(s), {len(failed)} en échec "
        f"(département {department}, plafond {maximum})."
    )
    if failed:
        if not keep_going:
            summary += " Arrêt au premier échec (--keep-going pour continuer)."
        err.print(f"[bold red]{summary}[/]")
        raise typer.Exit(EXIT_REFUSED)
    out.print(f"[green]{summary}[/]")


@exam_app.command("record")
def exam_record(
    ctx: typer.Context,
    neph: Annotated[str, typer.Option("--neph", help="Le NEPH du candidat.")],
    examiner: Annotated[str, typer.Option("--examiner", envvar=USER_ENV, help="L'examinateur.")],
    category: Annotated[str, typer.Option("--category", help="Catégorie (ex. B).")] = "B",
    passed: Annotated[bool, typer.Option("--passed/--failed", help="Réussi ou échoué.")] = True,
    exam_date: Annotated[
        str, typer.Option("--date", help="Date de l'examen, AAAA-MM-JJ (défaut : aujourd'hui).")
    ] = "",
) -> None:
    """Enregistrer le résultat d'un examen pour un NEPH (une réussite ouvre la demande de titre)."""
    exam_date = exam_date or date.today().isoformat()
    try:
        date.fromisoformat(exam_date)
    except ValueError:
        fail(f"Date d'examen invalide : {exam_date} (attendu AAAA-MM-JJ).")
    examiner = require(examiner, "l'examinateur avec --examiner", USER_ENV)
    result = run(
        acting(ctx, auth.EXAMINER, examiner),
        "instruction",
        lambda clients: clients.instruction.RecordExamResult(
            instruction_pb2.RecordExamResultRequest(
                neph=neph.strip(),
                category=category.strip(),
                passed=passed,
                exam_date=exam_date,
                examiner_id=examiner,
            ),
            timeout=CALL_TIMEOUT,
        ),
    )
    verdict = "[green]réussi[/]" if result.passed else "[red]échoué[/]"
    out.print(
        f"Examen du {result.exam_date}, catégorie {result.category}, NEPH {result.neph} : "
        f"{verdict} (enregistré par {result.examiner_id})."
    )


@exam_app.command("list")
def exam_list(
    ctx: typer.Context, neph: Annotated[str, typer.Option("--neph", help="Le NEPH du candidat.")]
) -> None:
    """Les résultats enregistrés pour un NEPH, les plus récents d'abord."""
    response = run(
        acting(ctx, auth.EXAMINER, os.environ.get(USER_ENV, "")),
        "instruction",
        lambda clients: clients.instruction.ListExamResults(
            instruction_pb2.ListExamResultsRequest(neph=neph.strip()), timeout=CALL_TIMEOUT
        ),
    )
    if not response.results:
        out.print(f"Aucun résultat d'examen pour le NEPH {neph}.")
        return
    out.print(rendering.exam_table(response.results, neph))


def register(app: typer.Typer) -> None:
    app.command()(queue)
    app.command()(claim)
    app.command()(show)
    app.command()(accept)
    app.command()(reject)
    app.command()(reasons)
    app.command("bulk-accept")(bulk_accept)
    app.add_typer(exam_app, name="exam")


__all__ = ["BULK_CAP", "EXIT_REFUSED", "register"]
