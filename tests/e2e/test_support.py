"""End to end: an operator finds a candidate's request and cancels it, with the console.

The whole stack (``LocalStack`` on free ports) with the support service; a request is
driven to the DDT queue as the demo does; the console runs in-process through typer's
``CliRunner`` with only ``PERMIS_*`` variables pointing at the stack. The candidate then
sees the cancellation through the gateway, and gets the email with the reason.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from typer.testing import CliRunner, Result

from console.__main__ import app
from deploy.local.demo import mail_dir_of, new_candidate, submitted_request, wait_for_mail
from deploy.local.stack import LocalStack, StackPorts

pytestmark = pytest.mark.timeout(600)

OPERATOR = "ccc-agent-12"
REASON = "Demande déposée en double par erreur."


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    async with LocalStack(tmp_path_factory.mktemp("stack"), StackPorts.free()) as running:
        yield running


async def console(stack: LocalStack, *args: str, expect: int = 0) -> Result:
    """The console in a thread of its own: it runs its own event loop (asyncio.run)."""
    return await asyncio.to_thread(_console, stack, *args, expect=expect)


def _console(stack: LocalStack, *args: str, expect: int = 0) -> Result:
    env = {
        "PERMIS_SUPPORT_ADDRESS": stack.settings.support_address,
        "PERMIS_CONSOLE_USER": OPERATOR,
        "COLUMNS": "220",
    }
    result = CliRunner().invoke(app, list(args), env=env)
    assert result.exit_code == expect, (args, result.exit_code, result.output, result.exception)
    return result


async def test_find_then_cancel_a_request_in_instruction(stack: LocalStack) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30) as http:
        candidate = await new_candidate(http)
        view = await submitted_request(candidate, stack.settings)
        number = view["request_number"]
        assert view["stage"] == "in_instruction"

        # Visibility follows the journey closely, not instantly.
        for _ in range(50):
            found = await console(stack, "requests", "find", "--email", candidate.email)
            if number in found.output and "in_instruction" in found.output:
                break
            await asyncio.sleep(0.3)
        assert number in found.output and "in_instruction" in found.output
        assert "inscription" in found.output and "first_registration" in found.output
        by_number = await console(stack, "requests", "find", "--request", number)
        assert number in by_number.output
        nobody = await console(stack, "requests", "find", "--email", "personne@example.fr")
        assert "Aucune demande trouvée." in nobody.output

        cancelled = await console(stack, "requests", "cancel", number, "--reason", REASON)
        assert f"Demande {number} annulée par {OPERATOR}" in cancelled.output
        # The same again (a lost answer): accepted; another reason: refused, exit 1.
        await console(stack, "requests", "cancel", number, "--reason", REASON)
        refused = await console(stack, "requests", "cancel", number, "--reason", "Autre.", expect=1)
        assert "request_not_cancellable" in refused.output

        seen = await http.get(f"/v1/requests/{number}")
        assert seen.status_code == 200, seen.text
        assert seen.json()["stage"] == "cancelled"
        assert seen.json()["stage_label"] == "Demande annulée par le service"
        body = await wait_for_mail(mail_dir_of(http), candidate.email, "Annulation")
        assert REASON in body

    logged = await console(stack, "requests", "actions", number)
    assert OPERATOR in logged.output and "transmise" in logged.output
