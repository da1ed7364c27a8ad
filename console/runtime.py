"""What every command shares: the settings, the identity, and how a call ends.

A command is a coroutine run against ``ServiceClients``; ``run`` turns what the
services answer into exit codes: a ``PermisError`` (a refusal) exits 1 with its French
message and stable code, an unreachable service exits 2.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

import grpc
import typer
from rich.console import Console

from services.common.auth import Principal
from services.common.clients import ServiceClients
from services.common.errors import ErrorCode, PermisError
from services.common.settings import ServiceName, Settings

T = TypeVar("T")

EXIT_REFUSED = 1
EXIT_UNREACHABLE = 2
# Seconds a single call may take; a console user should not stare at a frozen prompt.
CALL_TIMEOUT = 20.0

out = Console(highlight=False, soft_wrap=False)
err = Console(stderr=True, highlight=False)


@dataclass
class ConsoleState:
    """Built once by the app's callback from ``Settings()`` and the global options."""

    settings: Settings = field(default_factory=Settings)
    # Who the command's calls act as (its role, from the command; see ``acting``).
    acting_as: Principal | None = None

    def address(self, service: ServiceName) -> str:
        return self.settings.address_of(service)


def state_of(ctx: typer.Context) -> ConsoleState:
    if not isinstance(ctx.obj, ConsoleState):  # a command invoked without the callback
        ctx.obj = ConsoleState()
    return ctx.obj


def acting(ctx: typer.Context, role: str, subject: str = "", department: str = "") -> ConsoleState:
    """The state, its calls acting as ``role`` (subject: the agent's identifier)."""
    state = state_of(ctx)
    state.acting_as = principal(role, subject, department)
    return state


def require(value: str, option: str, envvar: str | None = None) -> str:
    value = value.strip()
    if not value:
        hint = f" (ou la variable {envvar})" if envvar else ""
        fail(f"Indiquez {option}{hint}.")
    return value


def fail(message: str, code: int = EXIT_REFUSED) -> None:
    err.print(f"[bold red]{message}[/]")
    raise typer.Exit(code)


def principal(role: str, subject: str, department: str = "") -> Principal:
    """Who a command acts as. In development the console mints its own service token
    with the shared ``PERMIS_SERVICE_SECRET``; in production the agent's token would come
    from identity / the ministry's SSO after they sign in, never from a shared secret."""
    return Principal(subject.strip() or "console", role, department.strip() or None)


def run(
    state: ConsoleState,
    service: ServiceName,
    action: Callable[[ServiceClients], Awaitable[T]],
) -> T:
    """Runs one command's calls as ``state.acting_as`` (see ``acting``); any refusal or
    transport failure ends the process."""

    async def main() -> T:
        clients = ServiceClients(state.settings, state.acting_as)
        try:
            return await action(clients)
        finally:
            await clients.close()

    try:
        return asyncio.run(main())
    except grpc.aio.AioRpcError as error:
        report_rpc_error(error, service, state.address(service))
        raise AssertionError("unreachable") from error  # report_rpc_error always exits


def report_rpc_error(error: grpc.aio.AioRpcError, service: str, address: str) -> None:
    refusal = PermisError.from_rpc_error(error)
    if refusal is not None:
        details = "".join(f"\n  {key} : {value}" for key, value in refusal.details.items())
        err.print(f"[bold red]{refusal.message}[/] [red]({refusal.code.value})[/]{details}")
        code = EXIT_UNREACHABLE if refusal.code is ErrorCode.SERVICE_UNAVAILABLE else EXIT_REFUSED
        raise typer.Exit(code)
    status = error.code()
    if status in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        err.print(
            f"[bold red]Le service {service} est injoignable à {address}[/] "
            f"[red]({status.name.lower()} : {error.details()})[/]\n"
            f"Vérifiez qu'il tourne, ou son adresse (--{service}-address ou "
            f"PERMIS_{service.upper()}_ADDRESS)."
        )
        raise typer.Exit(EXIT_UNREACHABLE)
    if status is grpc.StatusCode.UNIMPLEMENTED:
        err.print(
            f"[bold red]Le service {service} à {address} ne propose pas encore cette opération.[/]"
            " [red](unimplemented)[/]"
        )
        raise typer.Exit(EXIT_REFUSED)
    err.print(
        f"[bold red]Le service {service} a refusé l'appel.[/] "
        f"[red]({status.name.lower()} : {error.details()})[/]"
    )
    raise typer.Exit(EXIT_REFUSED)
