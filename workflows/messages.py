"""What the inscription journey says to people, in French: emails and one-line statuses.

Pure functions of the request view (no clock, no I/O) so the workflow can call them
and replay them. Idempotency keys are built here too: one per (request, event), so a
retried email activity always sends the same message.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone

from services.common.requirements import DOCUMENT_LABELS
from workflows.models import DocumentKind, EmailMessage, Finding, RequestView, Stage, Step

CET = timezone(timedelta(hours=1), "CET")
CEST = timezone(timedelta(hours=2), "CEST")
SIGNATURE = (
    "Cordialement,\n"
    "L'Agence Nationale des Titres Sécurisés (ANTS)\n\n"
    "Ce message est envoyé automatiquement : merci de ne pas y répondre."
)

STEP_LABELS: dict[Step, str] = {
    Step.MOTIF: "Motif de la demande",
    Step.CIVIL_STATUS: "État civil",
    Step.ADDRESS: "Adresse et contact",
    Step.PHOTO: "Photo et signature",
    Step.DOCUMENTS: "Pièces justificatives",
}

NEW_REQUEST_RULE = (
    "Une demande rejetée est définitive : pour poursuivre, vous devez déposer une nouvelle "
    "demande en ligne, avec un nouveau code photo/signature numérique (le code utilisé pour "
    "cette demande n'est plus valable). Apportez le plus grand soin à la saisie des "
    "informations et aux pièces justificatives."
)


def _last_sunday(year: int, month: int) -> datetime:
    last_day = datetime(year, month + 1, 1, tzinfo=UTC) - timedelta(days=1)
    return last_day - timedelta(days=(last_day.weekday() + 1) % 7)


def paris_time(moment: datetime) -> datetime:
    """Metropolitan French time by the EU summer-time rule (switches at 01:00 UTC on the
    last Sundays of March and October). Computed, not read from the tz database: the
    sandbox refuses ZoneInfo, and replay must not depend on the machine's tzdata."""
    utc = moment.astimezone(UTC)
    summer_starts = _last_sunday(utc.year, 3).replace(hour=1)
    summer_ends = _last_sunday(utc.year, 10).replace(hour=1)
    return utc.astimezone(CEST if summer_starts <= utc < summer_ends else CET)


def local_date(moment: datetime) -> str:
    """A date as a French reader expects it, in metropolitan French time: 26/11/2025."""
    return f"{paris_time(moment):%d/%m/%Y}"


def document_list(kinds: Iterable[DocumentKind]) -> str:
    return ", ".join(DOCUMENT_LABELS.get(kind, kind.value) for kind in kinds)


def recipient(view: RequestView, account_email: str) -> str:
    """The contact address given at the address step, else the account's."""
    return str(view.address.email) if view.address else account_email


def _greeting(view: RequestView) -> str:
    if view.civil_status is None:
        return "Bonjour,"
    return f"Bonjour {view.civil_status.given_names} {view.civil_status.family_name},"


def _category(view: RequestView) -> str:
    return view.motif.category.value if view.motif else ""


def idempotency_key(view: RequestView, event: str) -> str:
    # Dots and dashes only: the key becomes the left part of a Message-ID. Keep events
    # short (under ~20 characters) so the Message-ID header fits one line, unfolded.
    return f"inscription-{view.request_number}.{event}"


def confirmation(view: RequestView, to: str) -> EmailMessage:
    submitted = local_date(view.submitted_at) if view.submitted_at else ""
    lines = [
        _greeting(view),
        "",
        f"Votre demande d'inscription au permis de conduire (catégorie {_category(view)}) "
        f"a bien été enregistrée le {submitted}.",
        f"Numéro de la demande : {view.request_number}",
        "",
        "Et maintenant ?",
        "1. Votre demande est transmise au Centre de Traitement et des Numérisations (CTN) "
        "pour un premier contrôle de forme.",
        "2. Elle est ensuite instruite par le service instructeur de la DDT de votre "
        "département.",
        "3. Un courriel vous informera de la décision. Si votre demande est acceptée, vous "
        "pourrez télécharger votre attestation d'inscription depuis votre espace personnel.",
        "",
        "Vous pouvez suivre l'avancement de votre demande à tout moment depuis votre espace "
        "personnel.",
    ]
    if view.receipt_document_id is not None:
        lines += [
            "",
            "Votre récépissé de dépôt est disponible dans votre espace personnel, rubrique "
            "« Mes démarches ». Il vous permet de commencer votre apprentissage de la conduite "
            "sur les voies ouvertes à la circulation publique : conservez-le et ayez-le avec "
            "vous lors de vos leçons de conduite.",
        ]
    elif view.motif is not None and view.motif.category.value == "B":
        lines += [
            "",
            "Pour une inscription en catégorie B, le récépissé de dépôt de votre demande vous "
            "permet de commencer votre apprentissage sur les voies ouvertes à la circulation "
            "publique.",
        ]
    lines += ["", SIGNATURE]
    return EmailMessage(
        to=to,
        subject=f"Confirmation de l'enregistrement de votre demande n° {view.request_number}",
        body="\n".join(lines),
        idempotency_key=idempotency_key(view, "confirmation"),
    )


def pre_check_rejection(view: RequestView, to: str) -> EmailMessage:
    reasons = [f"- {finding.message}" for finding in view.pre_check_findings] or [
        "- Le dossier n'est pas conforme."
    ]
    lines = [
        _greeting(view),
        "",
        f"Le contrôle de forme de votre demande n° {view.request_number} par le Centre de "
        "Traitement et des Numérisations (CTN) a relevé les anomalies suivantes :",
        *reasons,
        "",
        "Votre demande est donc rejetée.",
        "",
        NEW_REQUEST_RULE,
        "",
        SIGNATURE,
    ]
    return EmailMessage(
        to=to,
        subject=f"Rejet de votre demande n° {view.request_number}",
        body="\n".join(lines),
        idempotency_key=idempotency_key(view, "pre-check-rejection"),
    )


def acceptance(view: RequestView, to: str) -> EmailMessage:
    lines = [
        _greeting(view),
        "",
        f"Votre demande d'inscription n° {view.request_number} au permis de conduire "
        f"(catégorie {_category(view)}) a été acceptée par le service instructeur.",
        "",
        f"Votre numéro NEPH est : {view.neph}",
        "Conservez-le : il deviendra le numéro de votre permis de conduire.",
        "",
        "Votre attestation d'inscription est disponible dans votre espace personnel, "
        "rubrique « Mes démarches ». Téléchargez-la et imprimez-la en recto/verso sur une "
        "seule feuille.",
        "Elle doit obligatoirement être présentée à l'inspecteur du permis de conduire le jour "
        "de l'examen, avec votre pièce d'identité. Sans cette attestation, l'examen sera "
        "reporté.",
        "",
        SIGNATURE,
    ]
    return EmailMessage(
        to=to,
        subject=f"Votre demande n° {view.request_number} a été acceptée",
        body="\n".join(lines),
        idempotency_key=idempotency_key(view, "decision"),
    )


def instruction_rejection(view: RequestView, to: str) -> EmailMessage:
    decision = view.decision
    reason = (decision.reason_text or decision.reason_code) if decision else ""
    lines = [
        _greeting(view),
        "",
        f"Votre demande d'inscription n° {view.request_number} au permis de conduire "
        "a été rejetée par le service instructeur.",
        "",
        f"Motif du rejet : {reason or 'non précisé'}",
        "",
        NEW_REQUEST_RULE,
        "",
        SIGNATURE,
    ]
    return EmailMessage(
        to=to,
        subject=f"Rejet de votre demande n° {view.request_number}",
        body="\n".join(lines),
        idempotency_key=idempotency_key(view, "decision"),
    )


def in_instruction(view: RequestView, to: str) -> EmailMessage:
    department = view.address.department if view.address else ""
    lines = [
        _greeting(view),
        "",
        f"Le contrôle de forme de votre demande n° {view.request_number} par le Centre de "
        "Traitement et des Numérisations (CTN) est terminé.",
        "Votre demande est maintenant en cours d'instruction par le service instructeur de la "
        f"DDT de votre département ({department}).",
        "",
        "Vous n'avez rien à faire pour l'instant : un courriel vous informera de la décision. "
        "Vous pouvez suivre l'avancement de votre demande depuis votre espace personnel.",
    ]
    if view.receipt_document_id is not None:
        lines += [
            "",
            "Votre récépissé de dépôt reste disponible dans votre espace personnel : il vous "
            "permet de poursuivre votre apprentissage sur les voies ouvertes à la circulation "
            "publique.",
        ]
    lines += ["", SIGNATURE]
    return EmailMessage(
        to=to,
        subject=f"Votre demande n° {view.request_number} est en cours d'instruction",
        body="\n".join(lines),
        idempotency_key=idempotency_key(view, "in-instruction"),
    )


def pre_check_verdict_rejection(
    view: RequestView, to: str, *, withdrawn: bool = False
) -> EmailMessage:
    """A CTN agent found the request non-compliant (``withdrawn``: after it reached the DDT)."""
    findings = view.pre_check_verdict.findings if view.pre_check_verdict else []
    reasons = [f"- {finding.message}" for finding in findings or view.pre_check_findings] or [
        "- Le dossier n'est pas conforme."
    ]
    lines = [
        _greeting(view),
        "",
        f"Après examen par un agent du Centre de Traitement et des Numérisations (CTN), votre "
        f"demande n° {view.request_number} n'est pas conforme, pour les raisons suivantes :",
        *reasons,
        "",
        "Votre demande est donc rejetée"
        + (" et retirée du service instructeur de la DDT." if withdrawn else "."),
        "",
        NEW_REQUEST_RULE,
        "",
        SIGNATURE,
    ]
    return EmailMessage(
        to=to,
        subject=f"Rejet de votre demande n° {view.request_number}",
        body="\n".join(lines),
        idempotency_key=idempotency_key(view, "pre-check-verdict"),
    )


def abandonment(view: RequestView, to: str) -> EmailMessage:
    lines = [
        _greeting(view),
        "",
        f"Votre demande d'inscription n° {view.request_number}, commencée le "
        f"{local_date(view.created_at)}, n'a pas été envoyée dans le délai de 90 jours : "
        "elle est abandonnée et ne peut plus être complétée.",
        "",
        "Pour vous inscrire au permis de conduire, déposez une nouvelle demande en ligne.",
    ]
    if view.photo_code is not None:
        lines += [
            "Le code photo/signature numérique saisi dans cette demande n'a pas été utilisé : "
            "vous pouvez le reprendre dans une nouvelle demande tant qu'il est valable "
            "(6 mois après la prise de vue).",
        ]
    lines += ["", SIGNATURE]
    return EmailMessage(
        to=to,
        subject=f"Votre demande n° {view.request_number} est abandonnée",
        body="\n".join(lines),
        idempotency_key=idempotency_key(view, "abandoned"),
    )


def instruction_reminder(
    view: RequestView, level: int, to: str, since: datetime, waited: timedelta
) -> EmailMessage:
    """To the DDT mailbox: level 1 is the reminder, level 2 the escalation."""
    category = _category(view)
    department = view.address.department if view.address else ""
    escalation = level >= 2
    title = "Escalade" if escalation else "Relance"
    lines = [
        "Bonjour,",
        "",
        f"La demande d'inscription n° {view.request_number} (catégorie {category}) est en "
        f"attente d'une décision du service instructeur de la DDT du département "
        f"{department} depuis le {local_date(since)}, soit plus de {duration_label(waited)}.",
        "",
    ]
    if escalation:
        lines += [
            "Malgré une première relance, aucune décision n'a été enregistrée. Ce dossier est "
            "signalé comme prioritaire : merci de le traiter sans délai ou d'en informer votre "
            "responsable de service.",
        ]
    else:
        lines += [
            "Ce dossier apparaît désormais en tête de la file d'attente du département : merci "
            "de le prendre en charge et de l'accepter ou de le rejeter avec un motif.",
        ]
    lines += [
        "",
        "Le candidat ne peut pas passer l'examen tant que sa demande n'est pas acceptée.",
        "",
        SIGNATURE,
    ]
    return EmailMessage(
        to=to,
        subject=f"{title} : demande n° {view.request_number} en attente de décision",
        body="\n".join(lines),
        idempotency_key=idempotency_key(view, f"ddt-reminder-{level}"),
    )


def duration_label(delay: timedelta) -> str:
    """A delay as a French reader says it: "15 jours", "1 heure", "30 secondes"."""
    seconds = int(delay.total_seconds())
    for unit, size in (("jour", 86400), ("heure", 3600), ("minute", 60)):
        if seconds >= size and seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'s' if count > 1 else ''}"
    return f"{seconds} seconde{'s' if seconds > 1 else ''}"


def reminder_timer_summary(level: int, delay: timedelta) -> str:
    """The Temporal UI summary of the timer that ends with a reminder (1) or escalation (2)."""
    if level >= 2:
        return (
            f"Escalade si aucune décision de la DDT {duration_label(delay)} après l'entrée "
            "en instruction"
        )
    return f"Relance de la DDT si aucune décision sous {duration_label(delay)}"


def findings_summary(findings: list[Finding]) -> str:
    return " ; ".join(finding.message for finding in findings) or "dossier non conforme"


def current_details(view: RequestView) -> str:
    """One plain sentence for the operator (Temporal UI) on where the request stands."""
    number = view.request_number
    match view.stage:
        case Stage.DRAFT:
            if view.next_step is None:
                return f"Demande {number} en cours de saisie : prête à être envoyée."
            return (
                f"Demande {number} en cours de saisie : étape suivante « "
                f"{STEP_LABELS[view.next_step]} »."
            )
        case Stage.SUBMITTED:
            return f"Demande {number} envoyée : confirmation en cours d'envoi au candidat."
        case Stage.PRE_CHECK:
            return f"Demande {number} au contrôle de forme du CTN."
        case Stage.IN_INSTRUCTION:
            department = view.address.department if view.address else "?"
            waiting = (
                f"Demande {number} en attente de la décision du service instructeur "
                f"(DDT du département {department})."
            )
            if view.instruction_reminders >= 2:
                return f"{waiting} DDT relancée puis alertée (escalade)."
            if view.instruction_reminders == 1:
                return f"{waiting} DDT relancée une fois."
            return waiting
        case Stage.ACCEPTED:
            return (
                f"Demande {number} acceptée : NEPH {view.neph}, attestation d'inscription "
                f"{view.attestation_document_id}."
            )
        case Stage.REJECTED:
            if view.decision is not None:
                reason = view.decision.reason_text or view.decision.reason_code
                return f"Demande {number} rejetée par le service instructeur : {reason}."
            if view.pre_check_verdict is not None:
                return (
                    f"Demande {number} rejetée par un agent du CTN "
                    f"({view.pre_check_verdict.agent_id}) : "
                    f"{findings_summary(view.pre_check_verdict.findings)}."
                )
            return (
                f"Demande {number} rejetée au contrôle de forme : "
                f"{findings_summary(view.pre_check_findings)}."
            )
        case Stage.ABANDONED:
            return f"Demande {number} abandonnée : non envoyée dans le délai de 90 jours."
    return f"Demande {number} : {view.stage_label}."
