"""Pure rules of title production and delivery: the card's states, what moves it, paging.

The card's life (notice: "En cas de premier permis, le titre est adressé au domicile.
En cas d'absence, 15 jours à partir du premier passage du facteur pour le récupérer à la
Poste, ou 6 mois pour redemander l'envoi auprès du Centre de Contact Citoyens. Au-delà,
le titre est détruit et une nouvelle demande doit être réalisée.")::

    ordered ─manufactured─> manufactured ─posted─> posted ─delivered──────────> delivered
                                                     │
                                                     └─pickup_notice_left─> awaiting_pickup
                                                                             ├─collected─> delivered
                                                                             └─returned──> returned
    returned ─resend_requested─> resend_requested ─shipped_again─> posted ...
    returned, resend_requested ─destroyed─> destroyed

Partners (the printer, the post) report the events on the arrows; the contact centre
asks for a resend; the delivery journey (which owns the 15-day and 6-month delays) has
the card shipped again or destroyed. After a re-shipment the card is ``posted`` without a
tracking number until the post reports the new one with ``posted``: that is the one
event a state accepts again.

Delays are not checked here: the journey owns them (its timers, its signals).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import UTC, datetime, timedelta

from services.common.errors import ErrorCode, PermisError

# ---- states ---------------------------------------------------------------------------

ORDERED = "ordered"
MANUFACTURED = "manufactured"
POSTED = "posted"
AWAITING_PICKUP = "awaiting_pickup"
DELIVERED = "delivered"
RETURNED = "returned"
RESEND_REQUESTED = "resend_requested"
DESTROYED = "destroyed"

STATES: tuple[str, ...] = (
    ORDERED,
    MANUFACTURED,
    POSTED,
    AWAITING_PICKUP,
    DELIVERED,
    RETURNED,
    RESEND_REQUESTED,
    DESTROYED,
)
# How the contact centre and the logs name a state ("un titre <label>").
STATE_LABELS: dict[str, str] = {
    ORDERED: "commandé",
    MANUFACTURED: "fabriqué",
    POSTED: "remis à La Poste",
    AWAITING_PICKUP: "en instance au bureau de poste",
    DELIVERED: "remis à son titulaire",
    RETURNED: "retourné au producteur",
    RESEND_REQUESTED: "en attente de renvoi",
    DESTROYED: "détruit",
}
FINAL_STATES = frozenset({DELIVERED, DESTROYED})

# ---- events ---------------------------------------------------------------------------

# Reported by the partners (PartnerEventType in the proto, lower-cased).
EVENT_MANUFACTURED = "manufactured"
EVENT_POSTED = "posted"
EVENT_PICKUP_NOTICE_LEFT = "pickup_notice_left"
EVENT_DELIVERED = "delivered"
EVENT_COLLECTED = "collected"
EVENT_RETURNED = "returned"
PARTNER_EVENTS: tuple[str, ...] = (
    EVENT_MANUFACTURED,
    EVENT_POSTED,
    EVENT_PICKUP_NOTICE_LEFT,
    EVENT_DELIVERED,
    EVENT_COLLECTED,
    EVENT_RETURNED,
)
# Asked by the contact centre (RequestResend) and the delivery journey (ShipAgain,
# DestroyTitle).
EVENT_RESEND_REQUESTED = "resend_requested"
EVENT_SHIPPED_AGAIN = "shipped_again"
EVENT_DESTROYED = "destroyed"
EVENTS: tuple[str, ...] = (
    *PARTNER_EVENTS,
    EVENT_RESEND_REQUESTED,
    EVENT_SHIPPED_AGAIN,
    EVENT_DESTROYED,
)
EVENT_LABELS: dict[str, str] = {
    EVENT_MANUFACTURED: "titre fabriqué",
    EVENT_POSTED: "titre remis à La Poste",
    EVENT_PICKUP_NOTICE_LEFT: "avis de passage déposé",
    EVENT_DELIVERED: "titre distribué au domicile",
    EVENT_COLLECTED: "titre retiré au bureau de poste",
    EVENT_RETURNED: "titre retourné au producteur",
    EVENT_RESEND_REQUESTED: "renvoi demandé",
    EVENT_SHIPPED_AGAIN: "titre réexpédié",
    EVENT_DESTROYED: "titre détruit",
}

PRINTER = "imprimerie"
POST = "la-poste"
# Who reports each partner event.
PARTNER_OF: dict[str, str] = {
    EVENT_MANUFACTURED: PRINTER,
    EVENT_POSTED: POST,
    EVENT_PICKUP_NOTICE_LEFT: POST,
    EVENT_DELIVERED: POST,
    EVENT_COLLECTED: POST,
    EVENT_RETURNED: POST,
}

# (state, event) -> the state after it.
TRANSITIONS: dict[tuple[str, str], str] = {
    (ORDERED, EVENT_MANUFACTURED): MANUFACTURED,
    (MANUFACTURED, EVENT_POSTED): POSTED,
    (POSTED, EVENT_DELIVERED): DELIVERED,
    (POSTED, EVENT_PICKUP_NOTICE_LEFT): AWAITING_PICKUP,
    (AWAITING_PICKUP, EVENT_COLLECTED): DELIVERED,
    (AWAITING_PICKUP, EVENT_RETURNED): RETURNED,
    (RETURNED, EVENT_RESEND_REQUESTED): RESEND_REQUESTED,
    (RESEND_REQUESTED, EVENT_SHIPPED_AGAIN): POSTED,
    (RETURNED, EVENT_DESTROYED): DESTROYED,
    (RESEND_REQUESTED, EVENT_DESTROYED): DESTROYED,
}


def refusal(state: str, event: str) -> PermisError:
    """TITLE_EVENT_OUT_OF_ORDER, saying what was refused and where the card is."""
    return PermisError(
        ErrorCode.TITLE_EVENT_OUT_OF_ORDER,
        f"Événement refusé : « {EVENT_LABELS.get(event, event)} » n'est pas possible pour "
        f"un titre {STATE_LABELS.get(state, state)}.",
        {"state": state, "event": event},
    )


def next_state(state: str, event: str, *, tracking_number: str = "") -> str:
    """The state after ``event``, or TITLE_EVENT_OUT_OF_ORDER.

    ``tracking_number`` is the card's current one: a card shipped again has none until
    the post reports ``posted`` with the new number (the state stays ``posted``).
    """
    if state == POSTED and event == EVENT_POSTED and not tracking_number:
        return POSTED
    after = TRANSITIONS.get((state, event))
    if after is None:
        raise refusal(state, event)
    return after


def shipments_after(state: str, new_state: str, shipments: int) -> int:
    """How many times the card was handed to the post once it moves to ``new_state``."""
    return shipments + 1 if new_state == POSTED and state != POSTED else shipments


# ---- the contact centre and the journey ------------------------------------------------

RECORD = "record"  # the request changes the card: record it
REPEAT = "repeat"  # already done: the card is returned unchanged


def resend_outcome(state: str) -> str:
    """RequestResend: only a card back at the producer can be sent again; asking again
    while the resend is pending is a repeat."""
    if state == RETURNED:
        return RECORD
    if state == RESEND_REQUESTED:
        return REPEAT
    if state == DESTROYED:
        raise PermisError(ErrorCode.TITLE_DESTROYED, details={"state": state})
    raise PermisError(
        ErrorCode.TITLE_NOT_RETURNED,
        f"Ce titre est {STATE_LABELS.get(state, state)} : son renvoi ne peut pas être "
        "demandé (seul un titre retourné au producteur peut l'être).",
        {"state": state},
    )


def ship_again_outcome(state: str, shipments: int, attempt: int) -> str:
    """ShipAgain ``attempt`` (1 for the first resend, 2 for the second...): due when the
    card waits for its resend and has been posted ``attempt`` times; a repeat once it
    has been posted more often than that."""
    if attempt < 1:
        raise PermisError(
            ErrorCode.INVALID_FIELD,
            "Le numéro de renvoi commence à 1.",
            {"field": "attempt"},
        )
    if shipments > attempt:
        return REPEAT
    if state == RESEND_REQUESTED and shipments == attempt:
        return RECORD
    error = refusal(state, EVENT_SHIPPED_AGAIN)
    error.details |= {"shipments": str(shipments), "attempt": str(attempt)}
    raise error


def destroy_outcome(state: str) -> str:
    if state == DESTROYED:
        return REPEAT
    next_state(state, EVENT_DESTROYED)
    return RECORD


# ---- partners' input -------------------------------------------------------------------

EVENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:/-]{0,99}$")
# La Poste numbers: letters and digits (e.g. "LP12345678901FR", "1L00123456789").
TRACKING_NUMBER = re.compile(r"^[A-Z0-9]{8,30}$")
# An event may be stamped a little ahead of our clock, not more.
MAX_CLOCK_SKEW = timedelta(minutes=5)
MAX_AGENT_ID = 100
MAX_REASON = 500


def invalid(field: str, message: str) -> PermisError:
    return PermisError(ErrorCode.INVALID_FIELD, message, {"field": field})


def check_event_id(raw: str) -> str:
    event_id = raw.strip()
    if not event_id:
        raise PermisError(ErrorCode.MISSING_FIELDS, details={"field": "event_id"})
    if not EVENT_ID.match(event_id):
        raise invalid(
            "event_id",
            "Identifiant d'événement invalide (lettres, chiffres et . _ : / -, "
            "100 caractères au plus).",
        )
    return event_id


def check_partner(event: str, raw: str) -> str:
    """The reporting partner; it defaults to the one that reports this event."""
    partner = raw.strip() or PARTNER_OF[event]
    if partner != PARTNER_OF[event]:
        raise invalid(
            "partner",
            f"« {EVENT_LABELS[event]} » est signalé par {PARTNER_OF[event]}, pas par {partner}.",
        )
    return partner


def check_tracking_number(event: str, raw: str, current: str) -> str:
    """Required with ``posted``; with another event, optional but then the card's own."""
    tracking = raw.strip().upper()
    if event == EVENT_POSTED and not tracking:
        raise PermisError(
            ErrorCode.MISSING_FIELDS,
            "Le numéro de suivi est obligatoire à la remise à La Poste.",
            {"field": "tracking_number"},
        )
    if tracking and not TRACKING_NUMBER.match(tracking):
        raise invalid("tracking_number", "Numéro de suivi invalide.")
    if event != EVENT_POSTED and tracking and current and tracking != current:
        raise invalid("tracking_number", "Ce numéro de suivi n'est pas celui de l'envoi en cours.")
    return tracking if event == EVENT_POSTED else ""


def check_occurred_at(raw: str, now: datetime) -> datetime:
    """When the partner says it happened (ISO 8601 with its offset); default: now.

    The journey counts the notice's 15 days from the pickup notice's time, so a time
    in the future (beyond a little clock skew) or without an offset is refused.
    """
    text = raw.strip()
    if not text:
        return now
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise invalid("occurred_at", "Date de l'événement invalide (ISO 8601 attendu).") from None
    if moment.tzinfo is None:
        raise invalid("occurred_at", "La date de l'événement doit préciser son fuseau horaire.")
    if moment > now + MAX_CLOCK_SKEW:
        raise invalid("occurred_at", "La date de l'événement est dans le futur.")
    return moment.astimezone(UTC)


def check_agent_id(raw: str) -> str:
    agent = raw.strip()
    if not agent:
        raise PermisError(ErrorCode.MISSING_FIELDS, details={"field": "agent_id"})
    if len(agent) > MAX_AGENT_ID:
        raise invalid("agent_id", "Identifiant de l'agent invalide.")
    return agent


DEFAULT_DESTRUCTION_REASON = "Titre non réclamé dans les 6 mois suivant son retour."


def check_destruction_reason(raw: str) -> str:
    reason = raw.strip() or DEFAULT_DESTRUCTION_REASON
    return reason if len(reason) <= MAX_REASON else reason[: MAX_REASON - 1].rstrip() + "…"


# ---- orders ----------------------------------------------------------------------------

NEPH = re.compile(r"^\d{12}$")
MAX_NAME = 200
MAX_ADDRESS = 500


def check_neph(raw: str) -> str:
    neph = raw.strip()
    if not neph:
        raise PermisError(ErrorCode.MISSING_FIELDS, details={"field": "neph"})
    if not NEPH.match(neph):
        raise invalid("neph", "Le NEPH compte 12 chiffres.")
    return neph


def check_text(raw: str, field: str, limit: int) -> str:
    value = " ".join(raw.split())
    if not value:
        raise PermisError(ErrorCode.MISSING_FIELDS, details={"field": field})
    if len(value) > limit:
        raise invalid(field, f"{limit} caractères au plus.")
    return value


# ---- keyset paging ---------------------------------------------------------------------

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


def check_state_filter(raw: str) -> str | None:
    state = raw.strip()
    if not state:
        return None
    if state not in STATES:
        raise invalid("state", "État inconnu. États possibles : " + ", ".join(STATES) + ".")
    return state


def page_size(requested: int) -> int:
    if requested <= 0:
        return DEFAULT_PAGE_SIZE
    return min(requested, MAX_PAGE_SIZE)


def encode_page_token(ordered_at: datetime, request_number: str) -> str:
    raw = json.dumps([ordered_at.astimezone(UTC).isoformat(), request_number])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_page_token(token: str) -> tuple[datetime, str]:
    """The (ordered_at, request_number) after which the next page starts."""
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        ordered_at, request_number = json.loads(raw)
        moment = datetime.fromisoformat(ordered_at)
        if moment.tzinfo is None or not isinstance(request_number, str):
            raise ValueError(token)
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise invalid("page_token", "Jeton de pagination invalide.") from None
    return moment.astimezone(UTC), request_number
