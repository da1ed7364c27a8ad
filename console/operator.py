"""Operators (contact centre, support): a candidate's requests, cancelling one, the log.

``requests find --email … | --account … | --request …`` lists the candidate's requests
(inscription and title journeys); ``requests cancel REQUEST --operator … --reason …``
cancels one before its decision; ``requests actions REQUEST`` shows the operators'
actions on it (the support service's audit log).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Annotated

import typer
from rich.table import Table

from console.rendering import short_time
from console.runtime import CALL_TIMEOUT, acting, fail, out, require, run
from permis.support.v1 import support_pb2
from services.common import auth

OPERATOR_ENV = "PERMIS_CONSOLE_USER"
JOURNEYS = {"inscription": "inscription", "title": "titre"}
OUTCOMES = {"recorded": "enregistrée", "delivered": "transmise", "refused": "refusée"}

requests_app = typer.Typer(
    help="Demandes des candidats (centre de contact, support) : recherche, annulation.",
    no_args_is_help=True,
)


def requests_table(requests: Iterable[support_pb2.RequestSummary]) -> Table:
    table = Table(title="Demandes du candidat", title_justify="left")
    table.add_column("Demande", no_wrap=True)
    table.add_column("Démarche")
    table.add_column("Motif")
    table.add_column("Cat.")
    table.add_column("Étape", no_wrap=True)
    table.add_column("Libellé")
    table.add_column("Créée le (UTC)", no_wrap=True)
    for request in requests:
        table.add_row(
            request.request_number,
            JOURNEYS.get(request.journey, request.journey),
            request.motif or "—",
            request.category or "—",
            request.stage or "—",
            request.stage_label or "—",
            short_time(request.created_at),
        )
    return table


def actions_table(actions: Iterable[support_pb2.OperatorAction]) -> Table:
    table = Table(title="Actions des opérateurs", title_justify="left")
    table.add_column("N°", justify="right")
    table.add_column("Quand (UTC)", no_wrap=True)
    table.add_column("Qui")
    table.add_column("Quoi")
    table.add_column("Demande", no_wrap=True)
    table.add_column("Pourquoi")
    table.add_column("Issue")
    for action in actions:
        outcome = OUTCOMES.get(action.outcome, action.outcome)
        if action.error_code:
            outcome = f"{outcome} ({action.error_code})"
        table.add_row(
            str(action.id),
            short_time(action.recorded_at),
            action.operator_id,
            action.kind,
            action.request_number,
            action.reason,
            outcome,
        )
    return table


@requests_app.command("find")
def requests_find(
    ctx: typer.Context,
    email: Annotated[str, typer.Option("--email", help="L'adresse du compte.")] = "",
    account: Annotated[str, typer.Option("--account", help="L'identifiant du compte.")] = "",
    request: Annotated[str, typer.Option("--request", help="Un numéro de demande.")] = "",
) -> None:
    """Les demandes d'un candidat (par adresse, compte ou numéro de demande)."""
    given = {
        name: value.strip()
        for name, value in (("email", email), ("account_id", account), ("request_number", request))
        if value.strip()
    }
    if len(given) != 1:
        fail("Indiquez exactement un critère : --email, --account ou --request.")
    query = support_pb2.FindRequestsRequest(**given)  # type: ignore[arg-type]
    found = run(
        acting(ctx, auth.OPERATOR, os.environ.get(OPERATOR_ENV, "")),
        "support",
        lambda clients: clients.support.FindRequests(query, timeout=CALL_TIMEOUT),
    )
    if not found.requests:
        out.print("Aucune demande trouvée.")
        return
    if found.account_id:
        out.print(f"Compte {found.account_id}")
    out.print(requests_table(found.requests))


@requests_app.command("cancel")
def requests_cancel(
    ctx: typer.Context,
    request_number: Annotated[str, typer.Argument(help="Le numéro de la demande.")],
    operator: Annotated[
        str, typer.Option("--operator", envvar=OPERATOR_ENV, help="Votre identifiant d'opérateur.")
    ] = "",
    reason: Annotated[str, typer.Option("--reason", help="Le motif, communiqué au candidat.")] = "",
) -> None:
    """Annuler une demande avant sa décision (le candidat est prévenu par courriel)."""
    operator = require(operator, "votre identifiant d'opérateur avec --operator", OPERATOR_ENV)
    reason = require(reason, "le motif de l'annulation avec --reason")
    answer = run(
        acting(ctx, auth.OPERATOR, operator),
        "support",
        lambda clients: clients.support.CancelRequest(
            support_pb2.CancelRequestRequest(
                request_number=request_number, operator_id=operator, reason=reason
            ),
            timeout=CALL_TIMEOUT,
        ),
    )
    out.print(
        f"[green]Demande {answer.action.request_number} annulée par {answer.action.operator_id}"
        f"[/] (étape : {answer.stage}, action n° {answer.action.id})."
    )


@requests_app.command("actions")
def requests_actions(
    ctx: typer.Context,
    request_number: Annotated[str, typer.Argument(help="Le numéro de la demande.")] = "",
    operator: Annotated[str, typer.Option("--operator", help="Un opérateur.")] = "",
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 100,
) -> None:
    """Le journal des actions des opérateurs (sur une demande, ou d'un opérateur)."""
    if not (request_number.strip() or operator.strip()):
        fail("Indiquez un numéro de demande ou --operator.")
    listed = run(
        acting(ctx, auth.OPERATOR, os.environ.get(OPERATOR_ENV, "")),
        "support",
        lambda clients: clients.support.ListActions(
            support_pb2.ListActionsRequest(
                request_number=request_number, operator_id=operator, limit=limit
            ),
            timeout=CALL_TIMEOUT,
        ),
    )
    if not listed.actions:
        out.print("Aucune action enregistrée.")
        return
    out.print(actions_table(listed.actions))


def register(app: typer.Typer) -> None:
    app.add_typer(requests_app, name="requests")
