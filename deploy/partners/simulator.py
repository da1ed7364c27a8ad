"""The printer and the post, simulated for the local stack and the demo.

The real partners (the card printer and La Poste) are outside the system: they report
what happens to each card to the production service through its gRPC API. This module
plays both of them against that API, and only that API (it imports nothing of the
service itself, only how calls carry credentials: each partner's service token, role
``printer`` or ``post``), so it shows what a partner integration has to do:

- the printer polls ``ListTitles(state=ordered)``, makes each card and reports
  MANUFACTURED;
- the post reports POSTED with its tracking number (``LP`` + 11 digits + ``FR``), then,
  as the scenario says, DELIVERED; or PICKUP_NOTICE_LEFT then COLLECTED; or
  PICKUP_NOTICE_LEFT then, once the card has waited its 15 days at the post office,
  RETURNED;
- a card the delivery journey ships again after a resend request (``posted`` again,
  without a tracking number) gets a new tracking number and its own scenario.

Every event has a stable id (partner, request number, shipment, event), and the same
tracking number on every retry: a partner retries what the service could not take now
(UNAVAILABLE), and a repeat is harmless. Replaying a scenario resumes it.

    python -m deploy.partners.simulator --production 127.0.0.1:50056 --scenario delivered
        # watch: play every ordered card until Ctrl-C
    python -m deploy.partners.simulator --request 2603K7Q3ZP9A --scenario returned \\
        --pickup-wait 5    # one card, then exit (0 when it reached the scenario's end)

From code (the demo): ``await play_partners(address, request_number, "collected")``.

It is a development tool: it is not part of the images' processes, compose or k8s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import TracebackType

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from permis.production.v1 import production_pb2, production_pb2_grpc
from services.common import auth
from services.common.auth import Principal
from services.common.clients import open_channel
from services.common.settings import Settings

log = logging.getLogger(__name__)

DEFAULT_ADDRESS = "127.0.0.1:50056"
PRINTER = "imprimerie"
POST = "la-poste"
# The notice: 15 days from the postman's first visit to collect the card.
PICKUP_WINDOW = timedelta(days=15)

Event = production_pb2.PartnerEventType
MANUFACTURED = production_pb2.PARTNER_EVENT_TYPE_MANUFACTURED
POSTED = production_pb2.PARTNER_EVENT_TYPE_POSTED
PICKUP_NOTICE_LEFT = production_pb2.PARTNER_EVENT_TYPE_PICKUP_NOTICE_LEFT
DELIVERED = production_pb2.PARTNER_EVENT_TYPE_DELIVERED
COLLECTED = production_pb2.PARTNER_EVENT_TYPE_COLLECTED
RETURNED = production_pb2.PARTNER_EVENT_TYPE_RETURNED

# gRPC statuses after which a partner tries the same event again later.
RETRYABLE = frozenset(
    {
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.RESOURCE_EXHAUSTED,
    }
)
CALL_TIMEOUT = 15.0


class Scenario(StrEnum):
    DELIVERED = "delivered"  # handed over at home
    COLLECTED = "collected"  # nobody home, collected at the post office
    RETURNED = "returned"  # nobody home, never collected: back to the producer
    IN_TRANSIT = "in_transit"  # posted, nothing more yet
    PICKUP_NOTICE = "pickup_notice"  # notice left, neither collected nor returned yet


# What the post reports after handing over, by scenario.
_AFTER_POSTING: dict[Scenario, tuple[int, ...]] = {
    Scenario.DELIVERED: (DELIVERED,),
    Scenario.COLLECTED: (PICKUP_NOTICE_LEFT, COLLECTED),
    Scenario.RETURNED: (PICKUP_NOTICE_LEFT, RETURNED),
    Scenario.IN_TRANSIT: (),
    Scenario.PICKUP_NOTICE: (PICKUP_NOTICE_LEFT,),
}
# Where the card is once a scenario has been played.
FINAL_STATE: dict[Scenario, str] = {
    Scenario.DELIVERED: "delivered",
    Scenario.COLLECTED: "delivered",
    Scenario.RETURNED: "returned",
    Scenario.IN_TRANSIT: "posted",
    Scenario.PICKUP_NOTICE: "awaiting_pickup",
}
_SAID: dict[int, str] = {
    MANUFACTURED: "titre fabriqué",
    POSTED: "titre remis à La Poste",
    PICKUP_NOTICE_LEFT: "avis de passage déposé",
    DELIVERED: "titre distribué au domicile",
    COLLECTED: "titre retiré au bureau de poste",
    RETURNED: "titre retourné au producteur (non réclamé)",
}


def events_of(scenario: Scenario | str, shipment: int = 1) -> tuple[int, ...]:
    """The events to report: the first shipment starts at the printer; a card shipped
    again is already made and starts at the post."""
    start = (MANUFACTURED, POSTED) if shipment == 1 else (POSTED,)
    return start + _AFTER_POSTING[Scenario(scenario)]


def partner_of(kind: int) -> str:
    return PRINTER if kind == MANUFACTURED else POST


def event_name(kind: int) -> str:
    return Event.Name(kind).removeprefix("PARTNER_EVENT_TYPE_").lower()  # type: ignore[arg-type]


def event_id(request_number: str, shipment: int, kind: int) -> str:
    """Stable: the same event always has the same id, so a retry is recognised."""
    return f"{partner_of(kind)}:{request_number}:{shipment}:{event_name(kind)}"


def tracking_number(request_number: str, shipment: int) -> str:
    """``LP`` + 11 digits + ``FR``, the same for every retry of one shipment."""
    digest = hashlib.sha256(f"{request_number}:{shipment}".encode()).hexdigest()
    return f"LP{int(digest, 16) % 10**11:011d}FR"


class SimulationError(Exception):
    """The production service refused an event for good (``reason``: its stable code)."""

    def __init__(self, message: str, reason: str = "", status: str = "") -> None:
        super().__init__(message)
        self.reason = reason
        self.status = status


def _refusal(error: grpc.aio.AioRpcError) -> tuple[str, str]:
    """The service's stable code (``google.rpc.ErrorInfo`` reason) and its message."""
    status = rpc_status.from_call(error)  # type: ignore[arg-type]
    if status is not None:
        for detail in status.details:
            if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                detail.Unpack(info)
                return info.reason, status.message
    return "", error.details() or ""


def _print(line: str) -> None:
    print(line, flush=True)


class Partners:
    """The printer and the post, talking to the production service at ``address``.

    ``pickup_wait``: how long the post office keeps a card before returning it, counted
    from the pickup notice (the notice's 15 days; the demo shortens it along with the
    journey's). ``retry_for``: how long an event the service cannot take now is retried.
    """

    def __init__(
        self,
        address: str,
        *,
        pickup_wait: timedelta = PICKUP_WINDOW,
        poll_interval: float = 0.5,
        retry_for: float = 60.0,
        wait_for_title: float = 120.0,
        say: Callable[[str], None] | None = None,
        settings: Settings | None = None,
    ) -> None:
        self.address = address
        # Each partner calls with its own service token (roles printer and post).
        self.settings = settings or Settings()
        self.pickup_wait = pickup_wait
        self.poll_interval = poll_interval
        self.retry_for = retry_for
        self.wait_for_title = wait_for_title
        self.say = say or (lambda line: log.info("%s", line))
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._stubs: dict[str, production_pb2_grpc.ProductionServiceStub] = {}

    async def __aenter__(self) -> Partners:
        for partner, role in ((PRINTER, auth.PRINTER), (POST, auth.POST)):
            channel = open_channel(self.address, self.settings, Principal(partner, role))
            self._channels[partner] = channel
            self._stubs[partner] = production_pb2_grpc.ProductionServiceStub(channel)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
        self._stubs.clear()

    def stub_of(self, partner: str) -> production_pb2_grpc.ProductionServiceStub:
        if partner not in self._stubs:
            raise RuntimeError("use `async with Partners(...) as partners:`")
        return self._stubs[partner]

    @property
    def stub(self) -> production_pb2_grpc.ProductionServiceStub:
        """The printer's: it polls for orders and looks cards up."""
        return self.stub_of(PRINTER)

    # ---- one card --------------------------------------------------------------------

    async def play(
        self, request_number: str, scenario: Scenario | str, *, shipment: int = 1
    ) -> production_pb2.Title:
        """Report the scenario's events for one card and return it as the service has it.

        Shipment 1 waits for the order; shipment n > 1 waits until the journey has had
        the card shipped again n - 1 times. Already reported events are repeats (same
        ids): playing again resumes where it stopped.
        """
        scenario = Scenario(scenario)
        title = await self._wait_for(request_number, shipment)
        for kind in events_of(scenario, shipment):
            if kind == RETURNED:
                await self._keep_at_post_office(title)
            title = await self.report(request_number, shipment, kind)
        return title

    async def report(self, request_number: str, shipment: int, kind: int) -> production_pb2.Title:
        """One event, retried while the service cannot take it now."""
        event = production_pb2.PartnerEvent(
            event_id=event_id(request_number, shipment, kind),
            request_number=request_number,
            type=kind,  # type: ignore[arg-type]
            tracking_number=tracking_number(request_number, shipment) if kind == POSTED else "",
            occurred_at=datetime.now(UTC).isoformat(),
            partner=partner_of(kind),
        )
        deadline = time.monotonic() + self.retry_for
        pause = 0.2
        while True:
            try:
                title = await self.stub_of(partner_of(kind)).RecordPartnerEvent(
                    event, timeout=CALL_TIMEOUT
                )
            except grpc.aio.AioRpcError as error:
                reason, message = _refusal(error)
                if error.code() in RETRYABLE and time.monotonic() + pause < deadline:
                    log.info("%s not taken now (%s): retrying", event.event_id, reason or error)
                    await asyncio.sleep(pause)
                    pause = min(pause * 2, 2.0)
                    continue
                raise SimulationError(
                    f"{partner_of(kind)} : « {_SAID[kind]} » refusé pour {request_number} :"
                    f" {message} ({reason or error.code().name})",
                    reason,
                    error.code().name,
                ) from error
            suffix = f" ({event.tracking_number})" if event.tracking_number else ""
            self.say(f"{partner_of(kind)} : {request_number} — {_SAID[kind]}{suffix}")
            return title

    async def _wait_for(self, request_number: str, shipment: int) -> production_pb2.Title:
        deadline = time.monotonic() + self.wait_for_title
        while True:
            try:
                title = await self.stub.GetTitle(
                    production_pb2.GetTitleRequest(request_number=request_number),
                    timeout=CALL_TIMEOUT,
                )
                if shipment == 1 or title.shipments >= shipment:
                    return title
                waiting_for = f"la réexpédition n° {shipment - 1}"
            except grpc.aio.AioRpcError as error:
                if error.code() not in RETRYABLE | {grpc.StatusCode.NOT_FOUND}:
                    reason, message = _refusal(error)
                    raise SimulationError(message, reason, error.code().name) from error
                waiting_for = "la commande du titre"
            if time.monotonic() > deadline:
                raise SimulationError(f"{request_number} : {waiting_for} n'est pas arrivée")
            await asyncio.sleep(self.poll_interval)

    async def _keep_at_post_office(self, title: production_pb2.Title) -> None:
        """The post returns a card once it has waited ``pickup_wait`` since the notice."""
        if title.state != "awaiting_pickup":
            return  # already returned (a replay), or elsewhere: the service will say
        notices = [e for e in title.events if e.type == PICKUP_NOTICE_LEFT]
        since = datetime.fromisoformat(notices[-1].occurred_at) if notices else datetime.now(UTC)
        remaining = (since + self.pickup_wait - datetime.now(UTC)).total_seconds()
        if remaining > 0:
            self.say(
                f"{POST} : {title.request_number} — en instance au bureau de poste"
                f" ({remaining:.0f} s avant le retour)"
            )
            await asyncio.sleep(remaining)

    # ---- every card ------------------------------------------------------------------

    async def watch(
        self,
        scenario: Scenario | str,
        stop: asyncio.Event,
        *,
        resent_scenario: Scenario | str = Scenario.DELIVERED,
    ) -> None:
        """Until ``stop``: play ``scenario`` for every ordered card, and
        ``resent_scenario`` for every card shipped again."""
        scenario, resent_scenario = Scenario(scenario), Scenario(resent_scenario)
        playing: dict[tuple[str, int], asyncio.Task[production_pb2.Title]] = {}
        try:
            while not stop.is_set():
                try:
                    for title in await self._all("ordered"):
                        self._start(playing, title.request_number, 1, scenario)
                    for title in await self._all("posted"):
                        if not title.tracking_number and title.shipments > 1:
                            self._start(
                                playing, title.request_number, title.shipments, resent_scenario
                            )
                except grpc.aio.AioRpcError as error:
                    log.warning("production service not reachable: %s", error.code().name)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.poll_interval)
        finally:
            for task in playing.values():
                task.cancel()
            await asyncio.gather(*playing.values(), return_exceptions=True)

    def _start(
        self,
        playing: dict[tuple[str, int], asyncio.Task[production_pb2.Title]],
        request_number: str,
        shipment: int,
        scenario: Scenario,
    ) -> None:
        if (request_number, shipment) in playing:
            return
        task = asyncio.create_task(self.play(request_number, scenario, shipment=shipment))
        task.add_done_callback(_report_failure)
        playing[(request_number, shipment)] = task

    async def _all(self, state: str) -> list[production_pb2.Title]:
        titles: list[production_pb2.Title] = []
        token = ""
        while True:
            page = await self.stub.ListTitles(
                production_pb2.ListTitlesRequest(state=state, page_size=200, page_token=token),
                timeout=CALL_TIMEOUT,
            )
            titles += page.titles
            token = page.next_page_token
            if not token:
                return titles


def _report_failure(task: asyncio.Task[production_pb2.Title]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("partners: %s", task.exception())


async def play_partners(
    production_address: str,
    request_number: str,
    scenario: Scenario | str = Scenario.DELIVERED,
    *,
    shipment: int = 1,
    pickup_wait: timedelta = PICKUP_WINDOW,
    say: Callable[[str], None] | None = None,
    wait_for_title: float = 120.0,
) -> production_pb2.Title:
    """Play the printer and the post for one card; the card as the service has it after.

    Raises ``SimulationError`` when the service refuses an event for good (the card is
    not where the scenario expects it).
    """
    async with Partners(
        production_address, pickup_wait=pickup_wait, say=say, wait_for_title=wait_for_title
    ) as partners:
        return await partners.play(request_number, scenario, shipment=shipment)


# ---- python -m deploy.partners.simulator ----------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m deploy.partners.simulator",
        description="Simule l'imprimerie et La Poste face au service de production.",
    )
    parser.add_argument(
        "--production",
        default=os.environ.get("PERMIS_PRODUCTION_ADDRESS", DEFAULT_ADDRESS),
        help="adresse gRPC du service de production (défaut : %(default)s)",
    )
    parser.add_argument("--scenario", choices=[s.value for s in Scenario], default="delivered")
    parser.add_argument(
        "--request", default="", help="un seul titre (numéro de demande), puis s'arrêter"
    )
    parser.add_argument(
        "--shipment", type=int, default=1, help="avec --request : n° d'envoi (2 = premier renvoi)"
    )
    parser.add_argument(
        "--resent-scenario",
        choices=[s.value for s in Scenario],
        default="delivered",
        help="sans --request : scénario des titres réexpédiés",
    )
    parser.add_argument(
        "--pickup-wait",
        type=float,
        default=PICKUP_WINDOW.total_seconds(),
        help="secondes de garde au bureau de poste avant retour (défaut : 15 jours)",
    )
    parser.add_argument("--poll", type=float, default=1.0, help="secondes entre deux relevés")
    return parser


async def _main(args: argparse.Namespace) -> int:
    partners = Partners(
        args.production,
        pickup_wait=timedelta(seconds=args.pickup_wait),
        poll_interval=args.poll,
        say=_print,
    )
    async with partners:
        if args.request:
            title = await partners.play(args.request, args.scenario, shipment=args.shipment)
            _print(f"{title.request_number} : {title.state}")
            return 0 if title.state == FINAL_STATE[Scenario(args.scenario)] else 1
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        _print(
            f"Partenaires simulés ({args.scenario}) sur {args.production} ; Ctrl-C pour arrêter."
        )
        await partners.watch(args.scenario, stop, resent_scenario=args.resent_scenario)
        return 0


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        code = asyncio.run(_main(args))
    except SimulationError as error:
        print(str(error), file=sys.stderr, flush=True)
        code = 1
    except KeyboardInterrupt:
        code = 130
    sys.stdout.flush()
    sys.stderr.flush()
    sys.exit(code)


if __name__ == "__main__":
    main()
