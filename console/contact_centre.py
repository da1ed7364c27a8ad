"""The contact centre: a candidate's card, and sending a returned one again."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from console import rendering
from console.runtime import CALL_TIMEOUT, acting, out, require, run
from permis.production.v1 import production_pb2
from services.common import auth
from services.common.clients import ServiceClients

USER_ENV = "PERMIS_CONSOLE_USER"

title_app = typer.Typer(help="Titres de conduite (centre de contact).", no_args_is_help=True)


@title_app.command("show")
def title_show(
    ctx: typer.Context,
    request_number: Annotated[str, typer.Argument(help="Le numéro de la demande.")],
) -> None:
    """L'état du titre d'une demande et ses événements (fabrication, envois, retours)."""
    title = run(
        acting(ctx, auth.CONTACT_CENTRE, os.environ.get(USER_ENV, "")),
        "production",
        lambda clients: clients.production.GetTitle(
            production_pb2.GetTitleRequest(request_number=request_number), timeout=CALL_TIMEOUT
        ),
    )
    rendering.print_title(out, title)


@title_app.command("resend")
def title_resend(
    ctx: typer.Context,
    request_number: Annotated[str, typer.Argument(help="Le numéro de la demande.")],
    agent: Annotated[
        str, typer.Option("--agent", envvar=USER_ENV, help="Votre identifiant d'agent.")
    ] = "",
) -> None:
    """Demander le renvoi d'un titre revenu chez le producteur (dans les 6 mois)."""
    agent = require(agent, "votre identifiant d'agent avec --agent", USER_ENV)
    title = run(
        acting(ctx, auth.CONTACT_CENTRE, agent),
        "production",
        lambda clients: clients.production.RequestResend(
            production_pb2.RequestResendRequest(request_number=request_number, agent_id=agent),
            timeout=CALL_TIMEOUT,
        ),
    )
    out.print(f"[green]Renvoi du titre de la demande {request_number} demandé par {agent}.[/]")
    rendering.print_title(out, title)


async def _titles(clients: ServiceClients, state: str, limit: int) -> list[production_pb2.Title]:
    titles: list[production_pb2.Title] = []
    token = ""
    while len(titles) < limit:
        page = await clients.production.ListTitles(
            production_pb2.ListTitlesRequest(
                state=state, page_size=min(limit - len(titles), 500), page_token=token
            ),
            timeout=CALL_TIMEOUT,
        )
        titles.extend(page.titles)
        token = page.next_page_token
        if not token:
            break
    return titles[:limit]


@title_app.command("list")
def title_list(
    ctx: typer.Context,
    state: Annotated[
        str, typer.Option("--state", help="returned, awaiting_pickup, posted… (défaut : tous).")
    ] = "",
    limit: Annotated[int, typer.Option("--limit", "-n", min=1)] = 50,
) -> None:
    """Les titres par état, les plus anciens d'abord (ex. --state returned)."""
    titles = run(
        acting(ctx, auth.CONTACT_CENTRE, os.environ.get(USER_ENV, "")),
        "production",
        lambda clients: _titles(clients, state, limit),
    )
    if not titles:
        out.print("Aucun titre" + (f" dans l'état {state}." if state else "."))
        return
    out.print(rendering.titles_table(titles, state))


def register(app: typer.Typer) -> None:
    app.add_typer(title_app, name="title")
