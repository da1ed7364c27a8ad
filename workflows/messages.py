"""What the journeys say to people, in French: emails and one-line statuses.

Inscription and title requests share the procedure's messages (a text that names the
kind of request says it per journey); the title journey adds one email per delivery
status of the card.

Pure functions of the request view (no clock, no I/O) so the workflow can call them
and replay them. Idempotency keys are built here too: one per (request, event), so a
retried email activity always sends the same message.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta, timezone

from services.common.requirements import DOCUMENT_LABELS, MOTIF_LABELS
from workflows.models import (
    DeliveryView,
    DocumentKind,
    EmailMessage,
    Finding,
    Journey,
    RequestView,
    Stage,
    Step,
    TitleMotif,
    TitleMotifStep,
)

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
    # The journey's name first (``inscription-…``, ``title-…``), like its workflow id.
    return f"{view.journey.value}-{view.request_number}.{event}"


def _message(
    view: RequestView, to: str, subject: str, event: str, lines: list[str], *, greeting: str = ""
) -> EmailMessage:
    """An email framed by the greeting and the signature, each set apart by a blank line:
    ``lines`` is what lies between (an empty string is a blank line)."""
    return EmailMessage(
        to=to,
        subject=subject,
        body="\n".join([greeting or _greeting(view), "", *lines, "", SIGNATURE]),
        idempotency_key=idempotency_key(view, event),
    )


def _is_title(view: RequestView) -> bool:
    return view.journey is Journey.TITLE


TITLE_REQUEST = "demande de fabrication du titre de conduite"


def confirmation(view: RequestView, to: str) -> EmailMessage:
    if _is_title(view):
        return title_confirmation(view, to)
    submitted = local_date(view.submitted_at) if view.submitted_at else ""
    lines = [
        f"Votre demande d'inscription au permis de conduire (catégorie {_category(view)}) "
        f"a bien été enregistrée le {submitted}.",
        f"Numéro de la demande : {view.request_number}",
        "",
        "Et maintenant ?",
        "1. Votre demande est transmise au Centre de Traitement et des Numérisations (CTN) "
        "pour un premier contrôle de forme.",
        "2. Elle est ensuite instruite par le service instructeur de la DDT de votre département.",
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
    subject = f"Confirmation de l'enregistrement de votre demande n° {view.request_number}"
    return _message(view, to, subject, "confirmation", lines)


def pre_check_rejection(view: RequestView, to: str) -> EmailMessage:
    reasons = [f"- {finding.message}" for finding in view.pre_check_findings] or [
        "- Le dossier n'est pas conforme."
    ]
    lines = [
        f"Le contrôle de forme de votre demande n° {view.request_number} par le Centre de "
        "Traitement et des Numérisations (CTN) a relevé les anomalies suivantes :",
        *reasons,
        "",
        "Votre demande est donc rejetée.",
        "",
        NEW_REQUEST_RULE,
    ]
    subject = f"Rejet de votre demande n° {view.request_number}"
    return _message(view, to, subject, "pre-check-rejection", lines)


def acceptance(view: RequestView, to: str) -> EmailMessage:
    lines = [
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
    ]
    subject = f"Votre demande n° {view.request_number} a été acceptée"
    return _message(view, to, subject, "decision", lines)


def instruction_rejection(view: RequestView, to: str) -> EmailMessage:
    decision = view.decision
    reason = (decision.reason_text or decision.reason_code) if decision else ""
    which = (
        f"Votre {TITLE_REQUEST} n° {view.request_number} "
        if _is_title(view)
        else f"Votre demande d'inscription n° {view.request_number} au permis de conduire "
    )
    lines = [
        which + "a été rejetée par le service instructeur.",
        "",
        f"Motif du rejet : {reason or 'non précisé'}",
        "",
        NEW_REQUEST_RULE,
    ]
    subject = f"Rejet de votre demande n° {view.request_number}"
    return _message(view, to, subject, "decision", lines)


def in_instruction(view: RequestView, to: str) -> EmailMessage:
    department = view.address.department if view.address else ""
    lines = [
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
    subject = f"Votre demande n° {view.request_number} est en cours d'instruction"
    return _message(view, to, subject, "in-instruction", lines)


def pre_check_verdict_rejection(
    view: RequestView, to: str, *, withdrawn: bool = False
) -> EmailMessage:
    """A CTN agent found the request non-compliant (``withdrawn``: after it reached the DDT)."""
    findings = view.pre_check_verdict.findings if view.pre_check_verdict else []
    reasons = [f"- {finding.message}" for finding in findings or view.pre_check_findings] or [
        "- Le dossier n'est pas conforme."
    ]
    lines = [
        f"Après examen par un agent du Centre de Traitement et des Numérisations (CTN), votre "
        f"demande n° {view.request_number} n'est pas conforme, pour les raisons suivantes :",
        *reasons,
        "",
        "Votre demande est donc rejetée"
        + (" et retirée du service instructeur de la DDT." if withdrawn else "."),
        "",
        NEW_REQUEST_RULE,
    ]
    subject = f"Rejet de votre demande n° {view.request_number}"
    return _message(view, to, subject, "pre-check-verdict", lines)


def cancellation(view: RequestView, to: str, *, withdrawn: bool = False) -> EmailMessage:
    """An operator cancelled the request (``withdrawn``: after it reached the DDT)."""
    reason = view.cancellation.reason if view.cancellation else ""
    which = (
        f"votre {TITLE_REQUEST} n° {view.request_number}"
        if _is_title(view)
        else f"votre demande d'inscription n° {view.request_number}"
    )
    lines = [
        f"Nous vous informons que {which} a été annulée par le service"
        + (" et retirée du service instructeur de la DDT." if withdrawn else "."),
        "",
        f"Motif : {reason}" if reason else "Motif : non précisé.",
        "",
        "Pour poursuivre votre démarche, vous pouvez déposer une nouvelle demande en ligne. "
        "Pour toute question, contactez le Centre de Contact Citoyens.",
    ]
    subject = f"Annulation de votre demande n° {view.request_number}"
    return _message(view, to, subject, "cancelled", lines)


def abandonment(view: RequestView, to: str) -> EmailMessage:
    if _is_title(view):
        which = f"Votre {TITLE_REQUEST} n° {view.request_number}"
        again = "Pour obtenir votre titre de conduite, déposez une nouvelle demande en ligne."
    else:
        which = f"Votre demande d'inscription n° {view.request_number}"
        again = "Pour vous inscrire au permis de conduire, déposez une nouvelle demande en ligne."
    lines = [
        f"{which}, commencée le "
        f"{local_date(view.created_at)}, n'a pas été envoyée dans le délai de 90 jours : "
        "elle est abandonnée et ne peut plus être complétée.",
        "",
        again,
    ]
    if view.photo_code is not None:
        lines += [
            "Le code photo/signature numérique saisi dans cette demande n'a pas été utilisé : "
            "vous pouvez le reprendre dans une nouvelle demande tant qu'il est valable "
            "(6 mois après la prise de vue).",
        ]
    subject = f"Votre demande n° {view.request_number} est abandonnée"
    return _message(view, to, subject, "abandoned", lines)


def instruction_reminder(
    view: RequestView, level: int, to: str, since: datetime, waited: timedelta
) -> EmailMessage:
    """To the DDT mailbox: level 1 is the reminder, level 2 the escalation."""
    category = _category(view)
    department = view.address.department if view.address else ""
    escalation = level >= 2
    title = "Escalade" if escalation else "Relance"
    which = (
        f"La {TITLE_REQUEST} n° {view.request_number} (catégorie {category}, NEPH {_neph(view)})"
        if _is_title(view)
        else f"La demande d'inscription n° {view.request_number} (catégorie {category})"
    )
    lines = [
        f"{which} est en "
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
        "Le titre de conduite du candidat ne peut pas être fabriqué tant que sa demande "
        "n'est pas acceptée."
        if _is_title(view)
        else "Le candidat ne peut pas passer l'examen tant que sa demande n'est pas acceptée.",
    ]
    subject = f"{title} : demande n° {view.request_number} en attente de décision"
    return _message(view, to, subject, f"ddt-reminder-{level}", lines, greeting="Bonjour,")


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
            if _is_title(view):
                return (
                    f"Demande {number} acceptée par le service instructeur : commande du "
                    f"titre de conduite (NEPH {_neph(view)})."
                )
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
        case Stage.CANCELLED:
            who = view.cancellation.operator_id if view.cancellation else "?"
            why = view.cancellation.reason if view.cancellation else ""
            return f"Demande {number} annulée par le service (opérateur {who}) : {why}."
        case Stage.IN_PRODUCTION:
            return (
                f"Demande {number} acceptée : titre de conduite en cours de fabrication "
                f"(NEPH {_neph(view)})."
            )
        case Stage.SENT:
            return f"Demande {number} : titre envoyé par La Poste, {_tracking(view)}."
        case Stage.AWAITING_PICKUP:
            return (
                f"Demande {number} : titre en attente de retrait au bureau de poste jusqu'au "
                f"{_date(view.pickup_deadline)}."
            )
        case Stage.DELIVERED:
            return f"Demande {number} terminée : titre remis à son titulaire."
        case Stage.RETURNED:
            return (
                f"Demande {number} : titre retourné, réexpédition possible sur demande au "
                f"Centre de Contact Citoyens jusqu'au {_date(view.resend_deadline)}."
            )
        case Stage.RESEND_REQUESTED:
            return (
                f"Demande {number} : réexpédition du titre demandée par le Centre de Contact "
                "Citoyens, en attente de sa remise à La Poste."
            )
        case Stage.DESTROYED:
            return (
                f"Demande {number} terminée : titre non réclamé dans les 6 mois, détruit ; "
                "une nouvelle demande est nécessaire."
            )
    return f"Demande {number} : {view.stage_label}."


# ---- title requests ------------------------------------------------------------------

CONTACT_CENTRE = "Centre de Contact Citoyens"
TRACKING_PAGE = "« Où en est mon permis de conduire »"
PICKUP_RULE = (
    "En cas d'absence lors du passage du facteur, un avis de passage est déposé : vous avez "
    "alors 15 jours à partir de ce premier passage pour retirer votre titre au bureau de "
    "poste, muni(e) de l'avis et d'une pièce d'identité."
)
AFTER_PICKUP_RULE = (
    f"Passé ce délai, le titre est retourné : vous disposez alors de 6 mois pour en demander "
    f"la réexpédition auprès du {CONTACT_CENTRE}. Au-delà, le titre est détruit et une "
    "nouvelle demande doit être réalisée."
)


def _neph(view: RequestView) -> str:
    if view.neph:
        return view.neph
    return view.motif.neph if isinstance(view.motif, TitleMotifStep) else ""


def _date(moment: datetime | None) -> str:
    return local_date(moment) if moment is not None else "?"


def _tracking(view: RequestView) -> str:
    if view.tracking_number:
        return f"numéro de suivi {view.tracking_number}"
    return "numéro de suivi non encore communiqué"


def address_line(view: RequestView) -> str:
    address = view.address
    return f"{address.street}, {address.postal_code} {address.city}" if address else ""


def _motif_label(view: RequestView) -> str:
    return MOTIF_LABELS.get(view.motif.motif, "") if view.motif else ""


def is_first_licence(view: RequestView) -> bool:
    return view.motif is not None and view.motif.motif is TitleMotif.EXAM_SUCCESS_FIRST_TITLE


def title_confirmation(view: RequestView, to: str) -> EmailMessage:
    submitted = local_date(view.submitted_at) if view.submitted_at else ""
    lines = [
        f"Votre {TITLE_REQUEST} (motif : {_motif_label(view)}, catégorie {_category(view)}) "
        f"a bien été enregistrée le {submitted}.",
        f"Numéro de la demande : {view.request_number}",
        f"Numéro de dossier (NEPH) : {_neph(view)}",
        "",
        "Et maintenant ?",
        "1. Votre demande est transmise au Centre de Traitement et des Numérisations (CTN) "
        "pour un premier contrôle de forme.",
        "2. Elle est ensuite instruite par le service instructeur de la DDT de votre département.",
        "3. Si elle est acceptée, votre titre de conduite est fabriqué puis envoyé par La "
        "Poste : un courriel vous informera à chaque étape (fabrication, envoi avec le numéro "
        "de suivi, remise).",
        "",
        "Vous pouvez suivre l'avancement de votre demande à tout moment depuis votre espace "
        f"personnel, et celui de votre titre sur la page {TRACKING_PAGE}.",
    ]
    subject = f"Confirmation de l'enregistrement de votre demande n° {view.request_number}"
    return _message(view, to, subject, "confirmation", lines)


def title_in_production(view: RequestView, to: str) -> EmailMessage:
    """The DDT accepted the title request and the card is ordered."""
    lines = [
        f"Votre {TITLE_REQUEST} n° {view.request_number} (catégorie {_category(view)}) a été "
        "acceptée par le service instructeur.",
        "",
        "Votre titre de conduite est en cours de fabrication. Un courriel vous préviendra dès "
        "sa remise à La Poste, avec le numéro de suivi de l'envoi.",
        f"Numéro de votre permis de conduire (NEPH) : {_neph(view)}",
    ]
    if is_first_licence(view):
        lines += [
            "",
            "S'agissant de votre premier permis, le titre sera adressé à votre domicile : "
            f"{address_line(view)}.",
            PICKUP_RULE,
        ]
    lines += [
        "",
        f"Vous pouvez suivre votre titre sur la page {TRACKING_PAGE} et depuis votre espace "
        "personnel.",
    ]
    subject = f"Votre demande n° {view.request_number} a été acceptée : titre en fabrication"
    return _message(view, to, subject, "in-production", lines)


def title_sent(view: RequestView, to: str, delivery: DeliveryView) -> EmailMessage:
    again = delivery.shipment > 1
    lines = [
        (
            f"Votre titre de conduite (demande n° {view.request_number}) vous est de nouveau "
            f"envoyé : il a été remis à La Poste le {local_date(delivery.since)}."
            if again
            else f"Votre titre de conduite (demande n° {view.request_number}) a été remis à "
            f"La Poste le {local_date(delivery.since)}."
        ),
        f"Il est adressé à votre domicile : {address_line(view)}.",
    ]
    if delivery.tracking_number:
        lines += [f"Numéro de suivi : {delivery.tracking_number}"]
    lines += ["", PICKUP_RULE, AFTER_PICKUP_RULE]
    subject = f"Votre titre de conduite a été envoyé (demande n° {view.request_number})"
    return _message(view, to, subject, f"sent-{delivery.shipment}", lines)


def title_awaiting_pickup(view: RequestView, to: str, delivery: DeliveryView) -> EmailMessage:
    visit = delivery.first_visit_at or delivery.since
    lines = [
        f"Le facteur s'est présenté le {local_date(visit)} pour vous remettre votre titre de "
        f"conduite (demande n° {view.request_number}) et a déposé un avis de passage en votre "
        "absence.",
        "",
        f"Vous avez jusqu'au {_date(delivery.pickup_deadline)} (15 jours à partir de ce "
        "premier passage) pour le retirer au bureau de poste indiqué sur l'avis, muni(e) de "
        "l'avis et d'une pièce d'identité.",
    ]
    if delivery.tracking_number:
        lines += [f"Numéro de suivi : {delivery.tracking_number}"]
    lines += ["", AFTER_PICKUP_RULE]
    subject = (
        f"Votre titre de conduite vous attend au bureau de poste (demande n° {view.request_number})"
    )
    return _message(view, to, subject, f"pickup-{delivery.shipment}", lines)


def _handed_over_at_post_office(delivery: DeliveryView) -> bool:
    last = delivery.events[-1].type.value if delivery.events else ""
    return last == "collected"


def title_delivered(view: RequestView, to: str, delivery: DeliveryView) -> EmailMessage:
    where = "au bureau de poste" if _handed_over_at_post_office(delivery) else "à votre domicile"
    lines = [
        f"Votre titre de conduite (demande n° {view.request_number}) vous a été remis "
        f"{where} le {local_date(delivery.since)}. Votre demande est terminée.",
        "",
        "Vérifiez les informations qui y figurent ; en cas d'erreur, contactez le "
        f"{CONTACT_CENTRE}.",
    ]
    subject = f"Votre titre de conduite vous a été remis (demande n° {view.request_number})"
    return _message(view, to, subject, "delivered", lines)


def title_returned(view: RequestView, to: str, delivery: DeliveryView) -> EmailMessage:
    lines = [
        f"Votre titre de conduite (demande n° {view.request_number}) n'a pas été retiré au "
        "bureau de poste dans le délai de 15 jours suivant le passage du facteur : il a été "
        "retourné.",
        "",
        f"Vous pouvez en demander la réexpédition auprès du {CONTACT_CENTRE} jusqu'au "
        f"{_date(delivery.resend_deadline)} (6 mois).",
        "Au-delà, le titre sera détruit et une nouvelle demande devra être réalisée.",
    ]
    subject = f"Votre titre de conduite n'a pas été retiré (demande n° {view.request_number})"
    return _message(view, to, subject, f"returned-{delivery.shipment}", lines)


def title_resend_requested(view: RequestView, to: str, delivery: DeliveryView) -> EmailMessage:
    lines = [
        f"Le {CONTACT_CENTRE} a demandé le {local_date(delivery.since)} la réexpédition de "
        f"votre titre de conduite (demande n° {view.request_number}).",
        f"Il vous sera de nouveau envoyé à votre domicile : {address_line(view)}.",
        "Un courriel vous donnera le numéro de suivi dès sa remise à La Poste.",
    ]
    subject = f"Réexpédition de votre titre de conduite (demande n° {view.request_number})"
    return _message(view, to, subject, f"resend-{delivery.shipment}", lines)


def title_destroyed(view: RequestView, to: str, delivery: DeliveryView) -> EmailMessage:
    returned = delivery.returned_at or delivery.since
    lines = [
        f"Votre titre de conduite (demande n° {view.request_number}), retourné le "
        f"{local_date(returned)}, n'a pas fait l'objet d'une demande de réexpédition auprès "
        f"du {CONTACT_CENTRE} dans le délai de 6 mois : il a été détruit.",
        "",
        f"Pour obtenir votre titre, vous devez réaliser une nouvelle {TITLE_REQUEST} en "
        "ligne, avec un nouveau code photo/signature numérique.",
    ]
    subject = f"Votre titre de conduite a été détruit (demande n° {view.request_number})"
    return _message(view, to, subject, "destroyed", lines)


def delivery_email(view: RequestView, to: str, delivery: DeliveryView) -> EmailMessage:
    """The candidate's email for the delivery status ``delivery.stage``."""
    match delivery.stage:
        case Stage.SENT:
            return title_sent(view, to, delivery)
        case Stage.AWAITING_PICKUP:
            return title_awaiting_pickup(view, to, delivery)
        case Stage.DELIVERED:
            return title_delivered(view, to, delivery)
        case Stage.RETURNED:
            return title_returned(view, to, delivery)
        case Stage.RESEND_REQUESTED:
            return title_resend_requested(view, to, delivery)
        case Stage.DESTROYED:
            return title_destroyed(view, to, delivery)
    return title_in_production(view, to)


def delivery_details(delivery: DeliveryView) -> str:
    """The delivery journey's current details (Temporal UI), in one plain sentence."""
    number = delivery.request_number
    shipment = f" (envoi n° {delivery.shipment})" if delivery.shipment > 1 else ""
    match delivery.stage:
        case Stage.IN_PRODUCTION:
            if delivery.manufactured_at is not None:
                return (
                    f"Titre de la demande {number} fabriqué le "
                    f"{local_date(delivery.manufactured_at)} : en attente de sa remise à "
                    "La Poste."
                )
            return f"Titre de la demande {number} commandé : en attente de sa fabrication."
        case Stage.SENT:
            tracking = delivery.tracking_number or "non encore communiqué"
            return (
                f"Titre de la demande {number} remis à La Poste{shipment}, numéro de suivi "
                f"{tracking} : en attente de sa distribution."
            )
        case Stage.AWAITING_PICKUP:
            return (
                f"Titre de la demande {number} en instance au bureau de poste{shipment} : "
                f"retourné s'il n'est pas retiré d'ici le {_date(delivery.pickup_deadline)}."
            )
        case Stage.DELIVERED:
            return f"Titre de la demande {number} remis à son titulaire{shipment}."
        case Stage.RETURNED:
            return (
                f"Titre de la demande {number} retourné : détruit le "
                f"{_date(delivery.resend_deadline)} si le {CONTACT_CENTRE} n'en demande pas "
                "la réexpédition d'ici là."
            )
        case Stage.RESEND_REQUESTED:
            return (
                f"Titre de la demande {number} réexpédié à la demande du {CONTACT_CENTRE}"
                f"{shipment} : en attente de sa remise à La Poste."
            )
        case Stage.DESTROYED:
            return (
                f"Titre de la demande {number} détruit : non réclamé dans les 6 mois suivant "
                "son retour."
            )
    return f"Titre de la demande {number} : {delivery.stage_label}."


def pickup_timer_summary(delay: timedelta, deadline: datetime) -> str:
    """The Temporal UI summary of the timer that ends the pickup delay."""
    return (
        f"Délai de {duration_label(delay)} pour retirer le titre au bureau de poste "
        f"(jusqu'au {local_date(deadline)})"
    )


def resend_timer_summary(months: int, deadline: datetime) -> str:
    """The Temporal UI summary of the timer after which an unclaimed card is destroyed."""
    return (
        f"Délai de {months} mois pour demander la réexpédition au {CONTACT_CENTRE} "
        f"(jusqu'au {local_date(deadline)})"
    )
