"""``python -m console`` (or ``permis-console``): the operators' command line."""

from __future__ import annotations

from typing import Annotated

import typer

from console import contact_centre, instructor, operator
from console.runtime import ConsoleState
from services.common.settings import Settings

app = typer.Typer(
    name="permis-console",
    help=(
        "Console des instructeurs DDT, des examinateurs et du centre de contact. "
        "Adresses des services : variables PERMIS_* (ou options ci-dessous). "
        "Codes de sortie : 0 fait, 1 refusé par le service, 2 service injoignable. "
        "En développement, la console signe ses jetons de service avec PERMIS_SERVICE_SECRET "
        "(rôle selon la commande) ; en production ils viendraient de l'authentification "
        "des agents."
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def configure(
    ctx: typer.Context,
    instruction_address: Annotated[
        str, typer.Option("--instruction-address", help="host:port (PERMIS_INSTRUCTION_ADDRESS).")
    ] = "",
    production_address: Annotated[
        str, typer.Option("--production-address", help="host:port (PERMIS_PRODUCTION_ADDRESS).")
    ] = "",
    support_address: Annotated[
        str, typer.Option("--support-address", help="host:port (PERMIS_SUPPORT_ADDRESS).")
    ] = "",
) -> None:
    overrides = {
        name: value
        for name, value in (
            ("instruction_address", instruction_address),
            ("production_address", production_address),
            ("support_address", support_address),
        )
        if value
    }
    ctx.obj = ConsoleState(Settings().model_copy(update=overrides))


instructor.register(app)
contact_centre.register(app)
operator.register(app)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
