"""How the console shows what the services return (rich tables and panels)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from rich.console import Console
from rich.table import Table

from permis.common.v1 import dossier_pb2
from permis.instruction.v1 import instruction_pb2
from permis.production.v1 import production_pb2

OUTCOMES = {
    instruction_pb2.OUTCOME_ACCEPTED: "acceptée",
    instruction_pb2.OUTCOME_REJECTED: "rejetée",
}
STATES = {
    "pending": "en attente",
    "accepted": "acceptée",
    "rejected": "rejetée",
    "withdrawn": "retirée",
}


def parse_time(value: str) -> datetime | None:
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def short_time(value: str) -> str:
    moment = parse_time(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if moment else (value or "—")


def waiting_days(enqueued_at: str, now: datetime | None = None) -> int | None:
    moment = parse_time(enqueued_at)
    if moment is None:
        return None
    return ((now or datetime.now(UTC)) - moment).days


def queue_table(cases: Iterable[instruction_pb2.InstructionCase], department: str) -> Table:
    table = Table(title=f"File d'instruction — département {department}", title_justify="left")
    table.add_column("demande", no_wrap=True, style="bold")
    table.add_column("en file depuis", no_wrap=True)
    table.add_column("attente (j)", justify="right")
    table.add_column("relances", justify="right")
    table.add_column("pris en charge par")
    for case in cases:
        days = waiting_days(case.enqueued_at)
        reminders = str(case.reminders) if case.reminders else ""
        table.add_row(
            case.request_number,
            short_time(case.enqueued_at),
            "" if days is None else str(days),
            f"[red]{reminders}[/]" if case.reminders else "",
            case.claimed_by or "[dim]—[/]",
        )
    return table


def print_case(console: Console, case: instruction_pb2.InstructionCase) -> None:
    """The dossier an instructor decides on, documents and their links last."""
    dossier = case.dossier
    state = STATES.get(case.state, case.state)
    console.print(
        f"[bold]Demande {case.request_number}[/] — {state}, département {case.department}"
    )
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="dim", no_wrap=True)
    facts.add_column()
    facts.add_row(
        "démarche", f"{dossier.journey} — motif {dossier.motif}, catégorie {dossier.category}"
    )
    facts.add_row("déposée le", short_time(dossier.submitted_at))
    facts.add_row("en file depuis", short_time(case.enqueued_at))
    if case.claimed_by:
        facts.add_row("prise en charge", f"{case.claimed_by} ({short_time(case.claimed_at)})")
    if case.reminders:
        facts.add_row(
            "relances", f"[red]{case.reminders}[/] (dernière {short_time(case.last_reminded_at)})"
        )
    civil = dossier.civil_status
    facts.add_row("nom", f"{civil.family_name}, {civil.given_names}")
    facts.add_row(
        "naissance",
        f"{civil.birth_date} à {civil.birth_place}"
        + (f" ({civil.birth_country})" if civil.birth_country else ""),
    )
    facts.add_row("sexe, nationalité", f"{civil.sex or '—'}, {civil.nationality or '—'}")
    address = dossier.address
    facts.add_row("adresse", f"{address.street}, {address.postal_code} {address.city}")
    facts.add_row("contact", f"{address.email}  {address.mobile_phone}")
    if dossier.photo_code:
        facts.add_row("code photo", dossier.photo_code)
    if dossier.neph:
        facts.add_row("NEPH", dossier.neph)
    if case.HasField("decision") and case.decision.outcome:
        facts.add_row("décision", decision_line(case.decision))
    if case.withdrawn_reason:
        facts.add_row("retrait", case.withdrawn_reason)
    console.print(facts)
    print_documents(console, case)


def print_documents(console: Console, case: instruction_pb2.InstructionCase) -> None:
    links = {item.document.document_id: item for item in case.documents}
    refs: list[dossier_pb2.DocumentRef] = list(case.dossier.documents)
    console.print(f"[bold]Pièces justificatives[/] ({len(refs)})")
    for ref in refs:
        issued = f", émise le {ref.issued_on}" if ref.issued_on else ""
        console.print(
            f"  • [bold]{ref.kind}[/] — {ref.content_type}, {ref.size} octets{issued}"
            f" [dim](sha256 {ref.sha256[:12]}…)[/]"
        )
        link = links.get(ref.document_id)
        if link is not None and link.download_url:
            # On a line of its own, never wrapped, so that it can be copied.
            console.print(f"    {link.download_url}", soft_wrap=True, markup=False)
            console.print(f"    [dim]lien valable jusqu'au {short_time(link.url_expires_at)}[/]")
        elif link is not None:
            console.print("    [red]pièce introuvable dans le stockage[/]")
    if not case.documents and refs and case.state == "pending":
        console.print(
            f"  [dim]Liens de consultation : prenez le dossier en charge "
            f"(claim {case.request_number}).[/]"
        )


def decision_line(decision: instruction_pb2.Decision) -> str:
    outcome = OUTCOMES.get(decision.outcome, "—")
    line = f"{outcome} par {decision.instructor_id} le {short_time(decision.decided_at)}"
    if decision.neph:
        line += f", NEPH {decision.neph}"
    if decision.reason_code:
        line += f", motif {decision.reason_code}"
        if decision.reason_text:
            line += f" ({decision.reason_text})"
    return line


def reasons_table(reasons: Iterable[instruction_pb2.RejectionReason]) -> Table:
    table = Table(title="Motifs de rejet", title_justify="left")
    table.add_column("code", no_wrap=True, style="bold")
    table.add_column("libellé")
    table.add_column("précision obligatoire", justify="center")
    for reason in reasons:
        table.add_row(reason.code, reason.label, "oui" if reason.requires_text else "")
    return table


def exam_table(results: Iterable[instruction_pb2.ExamResult], neph: str) -> Table:
    table = Table(title=f"Résultats d'examen — NEPH {neph}", title_justify="left")
    table.add_column("date", no_wrap=True)
    table.add_column("catégorie")
    table.add_column("résultat")
    table.add_column("examinateur")
    table.add_column("enregistré le", no_wrap=True)
    for result in results:
        table.add_row(
            result.exam_date,
            result.category,
            "[green]réussi[/]" if result.passed else "[red]échoué[/]",
            result.examiner_id,
            short_time(result.recorded_at),
        )
    return table


def print_title(console: Console, title: production_pb2.Title) -> None:
    console.print(
        f"[bold]Titre de la demande {title.request_number}[/] — état [bold]{title.state}[/]"
    )
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="dim", no_wrap=True)
    facts.add_column()
    facts.add_row("titulaire", f"{title.family_name}, {title.given_names}")
    facts.add_row("NEPH, catégorie", f"{title.neph}, {title.category}")
    facts.add_row("adresse", title.address_line)
    facts.add_row("commandé le", short_time(title.ordered_at))
    facts.add_row("envois", str(title.shipments))
    if title.tracking_number:
        facts.add_row("suivi", title.tracking_number)
    console.print(facts)
    if title.events:
        events = Table(title="Événements", title_justify="left")
        events.add_column("date", no_wrap=True)
        events.add_column("événement")
        events.add_column("partenaire")
        events.add_column("suivi")
        for event in title.events:
            name = production_pb2.PartnerEventType.Name(event.type)
            events.add_row(
                short_time(event.occurred_at),
                name.removeprefix("PARTNER_EVENT_TYPE_").lower(),
                event.partner,
                event.tracking_number,
            )
        console.print(events)


def titles_table(titles: Iterable[production_pb2.Title], state: str) -> Table:
    table = Table(title=f"Titres{' — ' + state if state else ''}", title_justify="left")
    table.add_column("demande", no_wrap=True, style="bold")
    table.add_column("état")
    table.add_column("titulaire")
    table.add_column("commandé le", no_wrap=True)
    table.add_column("envois", justify="right")
    for title in titles:
        table.add_row(
            title.request_number,
            title.state,
            f"{title.family_name}, {title.given_names}",
            short_time(title.ordered_at),
            str(title.shipments),
        )
    return table
