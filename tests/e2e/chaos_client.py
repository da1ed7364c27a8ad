"""The people of the chaos test, as sensible real clients: they retry what failed for a
passing reason and make every retry converge on the first attempt's effect.

- Candidates (HTTP, the gateway): a connection error, a timeout, 502, 503 or 504 (and
  the 500 the gateway still gives for some passing Temporal states) is retried with
  backoff, whatever the call. That is safe only because every call they make converges:
  reads; steps that set the same value again (a motif already set the same way counts as
  done); ``POST /v1/requests``, document uploads and the submission carry an
  ``Idempotency-Key``, the same on every retry; a sign-up asked again sends a fresh
  link; an activation whose link a lost first attempt already spent is recognised by
  logging in with the chosen password.
- The approved booth, the DDT instructor and the examiner (gRPC): UNAVAILABLE and
  DEADLINE_EXCEEDED are retried; claiming, deciding and recording a result are
  idempotent in the instruction service (deciding again delivers a decision that
  Temporal could not take); a booth's lost code is just an unused code.
- Candidates wait on their status emails (the mail sink's index, read incrementally)
  rather than polling the gateway, then read the request once: fifty clients polling
  would be the load, not the faults.

Every retry is counted by reason (``Retries``) so the test can print what it survived.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any, TypeVar

import grpc
import httpx

from deploy.local import demo, samples
from deploy.partners.simulator import play_partners
from permis.instruction.v1 import instruction_pb2, instruction_pb2_grpc
from permis.photocode.v1 import photocode_pb2, photocode_pb2_grpc
from services.common import auth
from services.common.auth import Principal
from services.common.clients import open_channel
from services.common.errors import ErrorCode, PermisError
from services.common.settings import Settings
from workflows.models import department_of

T = TypeVar("T")

RETRIED_HTTP = frozenset({502, 503, 504})
# The gateway answers 500 for some passing states of Temporal (a connection cut by its
# restart, a query refused while a killed worker's workflow task is retried), where 503
# is due: retried all the same (every call here converges, as with an Idempotency-Key),
# and listed apart so the test shows them. A lasting 500 still fails after PATIENCE.
SERVER_ERROR = 500
# CANCELLED: a service stopping (its grace period over) cancels the calls in flight.
RETRIED_GRPC = frozenset(
    {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.CANCELLED}
)
# One call may wait this long for the system to come back (a Temporal restart, a worker
# killed twice in a row): far beyond any fault the test injects.
PATIENCE = 150.0
HTTP_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
GRPC_TIMEOUT = 15.0
PASSWORD = demo.DEMO_PASSWORD
DEPARTMENT = department_of(demo.POSTAL_CODE)
# Waiting for an activation email before asking for a new link: the identity service
# sends it after answering, so a stop at that moment loses it (the candidate asks again).
ACTIVATION_MAIL_WAIT = 15.0


class JourneyFailed(Exception):
    """A refusal a sensible client cannot get past: the system is wrong."""


@dataclass
class Retries:
    """Retries by reason (``http 503``, ``grpc UNAVAILABLE``, ``converged …``)."""

    by_reason: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)  # calls answered 500

    def note(self, reason: str) -> None:
        self.by_reason[reason] += 1

    @property
    def total(self) -> int:
        return sum(self.by_reason.values())

    def summary(self) -> str:
        return ", ".join(f"{reason} ×{n}" for reason, n in self.by_reason.most_common()) or "none"


class Backoff:
    """Exponential backoff with jitter, within ``PATIENCE`` of the first attempt."""

    def __init__(self, what: str, rng: random.Random) -> None:
        self.what = what
        self.rng = rng
        self.deadline = time.monotonic() + PATIENCE
        self.pause = 0.2

    async def wait(self, last_error: str) -> None:
        if time.monotonic() + self.pause > self.deadline:
            raise JourneyFailed(f"{self.what}: still failing after {PATIENCE:.0f} s ({last_error})")
        await asyncio.sleep(self.pause * (0.5 + self.rng.random()))
        self.pause = min(self.pause * 2, 3.0)


# ---- the mail sink's index -------------------------------------------------------------


class MailIndex:
    """``index.jsonl`` of the mail sink, read incrementally and shared by every client."""

    def __init__(self, mail_dir: Path) -> None:
        self.mail_dir = mail_dir
        self.entries: list[dict[str, Any]] = []
        self.message_ids: set[str] = set()
        self._offset = 0
        self._lock = asyncio.Lock()

    async def refresh(self) -> list[dict[str, Any]]:
        async with self._lock:
            path = self.mail_dir / "index.jsonl"
            if path.exists():
                with path.open("rb") as index:
                    index.seek(self._offset)
                    chunk = index.read()
                complete = chunk[: chunk.rfind(b"\n") + 1]  # a line being written waits
                self._offset += len(complete)
                new = [json.loads(line) for line in complete.splitlines() if line]
                self.entries += new
                self.message_ids.update(entry["message_id"] for entry in new)
        return self.entries

    def to(self, address: str, subject_contains: str = "") -> list[dict[str, Any]]:
        return [
            entry
            for entry in self.entries
            if address.lower() in (r.lower() for r in entry["to"])
            and subject_contains in entry["subject"]
        ]

    async def wait_for_any(self, message_ids: Iterable[str], within: float) -> bool:
        """True once one of ``message_ids`` arrived; False after ``within`` seconds."""
        wanted = set(message_ids)
        deadline = time.monotonic() + within
        while True:
            await self.refresh()
            if wanted & self.message_ids:
                return True
            if time.monotonic() > deadline:
                return False
            await asyncio.sleep(0.3)


def message_id(journey: str, request_number: str, event: str) -> str:
    """The Message-ID the journeys give a status email (workflows.messages)."""
    return f"<{journey}-{request_number}.{event}@permis.example.fr>"


# ---- HTTP: the candidate ---------------------------------------------------------------


def problem_code(response: httpx.Response) -> str:
    try:
        return str(response.json().get("code", ""))
    except ValueError:
        return ""


class Candidate:
    """One candidate's browser: a session, and patience."""

    def __init__(
        self, http: httpx.AsyncClient, retries: Retries, rng: random.Random, mails: MailIndex
    ) -> None:
        self.http = http
        self.retries = retries
        self.rng = rng
        self.mails = mails
        self.email = ""

    async def call(
        self,
        method: str,
        path: str,
        *,
        expect: Iterable[int] = (200,),
        converge: Callable[[httpx.Response], Awaitable[httpx.Response | None]] | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        """The response once it has an expected status. Transient failures are retried;
        after one, ``converge`` may recognise a refusal as the first attempt's effect
        (it returns the response to use, or None to report the refusal)."""
        expected = set(expect)
        backoff = Backoff(f"{method} {path}", self.rng)
        retried = False
        while True:
            try:
                response = await self.http.request(method, path, **kwargs)
            except httpx.TransportError as error:  # refused, reset, timed out
                reason = f"http {type(error).__name__}"
            else:
                if response.status_code in expected:
                    return response
                if response.status_code == SERVER_ERROR:
                    self.retries.server_errors.append(f"{method} {path}")
                elif response.status_code not in RETRIED_HTTP:
                    if retried and converge is not None:
                        converged = await converge(response)
                        if converged is not None:
                            self.retries.note(f"converged {problem_code(response)}")
                            return converged
                    raise JourneyFailed(
                        f"{method} {path}: {response.status_code} {response.text[:300]}"
                    )
                reason = f"http {response.status_code} {problem_code(response)}".rstrip()
            self.retries.note(reason)
            retried = True
            await backoff.wait(reason)

    async def json(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        return (await self.call(method, path, **kwargs)).json()  # type: ignore[no-any-return]

    # ---- account ------------------------------------------------------------------

    async def sign_up(self, email: str, given_names: str) -> None:
        """Sign-up form, activation link from the email, password chosen (logged in)."""
        self.email = email
        form = {
            "email": email,
            "given_names": given_names,
            "family_name": "Chaos",
            "birth_date": demo.BIRTH_DATE,
        }
        while True:
            seen = len(self.mails.to(email, "Activez votre compte"))
            await self.call("POST", "/v1/accounts", json=form, expect=(202,))
            deadline = time.monotonic() + ACTIVATION_MAIL_WAIT
            while len(self.mails.to(email, "Activez votre compte")) <= seen:
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.3)
                await self.mails.refresh()
            else:
                break
            self.retries.note("activation email never came: signed up again")
        newest = self.mails.to(email, "Activez votre compte")[-1]
        token = demo.link_token(demo.mail_body(self.mails.mail_dir / newest["file"]))

        async def already_activated(refusal: httpx.Response) -> httpx.Response | None:
            # A first attempt lost on the way back spent the single-use link.
            if problem_code(refusal) != ErrorCode.LINK_USED.value:
                return None
            return await self.log_in()

        session = await self.call(
            "POST",
            "/v1/accounts/activation",
            json={"token": token, "password": PASSWORD},
            converge=already_activated,
        )
        self._use(session.json())

    async def log_in(self) -> httpx.Response:
        response = await self.call(
            "POST", "/v1/sessions", json={"login": self.email, "password": PASSWORD}
        )
        self._use(response.json())
        return response

    def _use(self, session: dict[str, Any]) -> None:
        self.http.headers["Authorization"] = f"Bearer {session['token']}"

    # ---- a request ----------------------------------------------------------------

    async def view(self, number: str) -> dict[str, Any]:
        return await self.json("GET", f"/v1/requests/{number}")

    async def wait_for_stage(
        self, number: str, stages: set[str], message_ids: Iterable[str] = (), within: float = 240
    ) -> dict[str, Any]:
        """Waits for the status email(s), reading the request when one comes (and every
        few seconds anyway, as a candidate checking the site)."""
        ids = list(message_ids)
        deadline = time.monotonic() + within
        while True:
            view = await self.view(number)
            if view["stage"] in stages:
                return view
            if time.monotonic() > deadline:
                raise JourneyFailed(f"{number} stayed at {view['stage']} (waiting for {stages})")
            if ids:
                await self.mails.wait_for_any(ids, within=5.0)
            else:
                await asyncio.sleep(1.0)

    async def filled_request(
        self,
        journey: str,
        motif: dict[str, Any],
        key: str,
        photo_code: str,
        uploads: list[Upload],
        tag: str,
    ) -> str:
        """Starts (keyed), fills every step, uploads each required document (keyed) and
        submits (keyed): the request number."""
        created = await self.json(
            "POST",
            "/v1/requests",
            json={"journey": journey},
            headers={"Idempotency-Key": f"{key}-start"},
            expect=(200, 201),
        )
        number = str(created["request_number"])

        async def same_motif(refusal: httpx.Response) -> httpx.Response | None:
            if problem_code(refusal) != ErrorCode.MOTIF_LOCKED.value:
                return None
            current = await self.call("GET", f"/v1/requests/{number}")
            chosen = current.json().get("motif") or {}
            return current if all(chosen.get(k) == v for k, v in motif.items()) else None

        view = await self.json(
            "PUT", f"/v1/requests/{number}/motif", json=motif, converge=same_motif
        )
        steps = demo.steps_after_motif(self.email, photo_code, family_name="Chaos", given_names=tag)
        for path, body in steps:
            view = await self.json("PUT", f"/v1/requests/{number}/{path}", json=body)

        issued = (date.today() - timedelta(days=20)).isoformat()
        for kind in view["required_documents"]:
            # Bytes of this upload only, so its sha256 names it among all the others.
            content = samples.pdf(f"Pièce : {kind}", [tag, number])
            response = await self.call(
                "POST",
                f"/v1/requests/{number}/documents",
                data={"kind": kind, "issued_on": issued},
                files={"file": (f"{kind}.pdf", content, "application/pdf")},
                headers={"Idempotency-Key": f"{key}-{kind}"},
                expect=(200, 201),
            )
            listed = [d for d in response.json()["documents"] if d["kind"] == kind]
            digest = hashlib.sha256(content).hexdigest()
            if [d["sha256"] for d in listed] != [digest]:
                raise JourneyFailed(f"{number}: {kind} listed as {listed}")
            uploads.append(Upload(number, kind, listed[0]["document_id"], digest))

        summary = await self.json("GET", f"/v1/requests/{number}/summary")
        if not summary["ready_to_submit"]:
            raise JourneyFailed(f"{number} not ready: {summary['missing_documents']}")
        await self.call(
            "POST", f"/v1/requests/{number}/submit", headers={"Idempotency-Key": f"{key}-submit"}
        )
        return number


@dataclass(frozen=True)
class Upload:
    request_number: str
    kind: str
    document_id: str
    sha256: str


# ---- gRPC: the booth, the DDT instructor, the examiner ---------------------------------


class Officials:
    """The people who use the services directly, one channel per role (shared)."""

    def __init__(self, settings: Settings, retries: Retries, rng: random.Random) -> None:
        self.retries = retries
        self.rng = rng
        self._channels = [
            open_channel(
                settings.photocode_address,
                settings,
                Principal(demo.DEMO_BOOTH, auth.APPROVED_BOOTH),
            ),
            open_channel(
                settings.instruction_address,
                settings,
                Principal(demo.DEMO_INSTRUCTOR, auth.DDT_INSTRUCTOR, DEPARTMENT),
            ),
            open_channel(
                settings.instruction_address,
                settings,
                Principal(demo.DEMO_EXAMINER, auth.EXAMINER),
            ),
        ]
        self.booth = photocode_pb2_grpc.PhotoCodeServiceStub(self._channels[0])
        self.ddt = instruction_pb2_grpc.InstructionServiceStub(self._channels[1])
        self.examiner = instruction_pb2_grpc.InstructionServiceStub(self._channels[2])

    async def close(self) -> None:
        for channel in self._channels:
            await channel.close()

    async def call(self, what: str, rpc: Callable[[], Awaitable[T]]) -> T:
        backoff = Backoff(what, self.rng)
        while True:
            try:
                return await rpc()
            except grpc.aio.AioRpcError as error:
                if error.code() not in RETRIED_GRPC:
                    raise
                reason = f"grpc {error.code().name}"
            self.retries.note(reason)
            await backoff.wait(reason)

    async def photo_code(self) -> str:
        code = await self.call(
            "IssueCode",
            lambda: self.booth.IssueCode(
                photocode_pb2.IssueCodeRequest(
                    booth_id=demo.DEMO_BOOTH,
                    photo=samples.png(),
                    signature=samples.png(60, 20, (20, 20, 20)),
                ),
                timeout=GRPC_TIMEOUT,
            ),
        )
        return str(code.code)

    async def accept(self, number: str) -> instruction_pb2.Decision:
        """The instructor claims the case and accepts it. After a failure, claiming a
        case already decided (by a lost first answer) goes straight to the decision,
        and deciding again the same way delivers it if Temporal could not take it."""
        try:
            await self.call(
                "ClaimCase",
                lambda: self.ddt.ClaimCase(
                    instruction_pb2.ClaimCaseRequest(
                        request_number=number,
                        instructor_id=demo.DEMO_INSTRUCTOR,
                        department=DEPARTMENT,
                    ),
                    timeout=GRPC_TIMEOUT,
                ),
            )
        except grpc.aio.AioRpcError as error:
            refusal = PermisError.from_rpc_error(error)
            if refusal is None or refusal.code is not ErrorCode.CASE_ALREADY_DECIDED:
                raise
            self.retries.note("converged case_already_decided")
        return await self.call(
            "AcceptCase",
            lambda: self.ddt.AcceptCase(
                instruction_pb2.AcceptCaseRequest(
                    request_number=number, instructor_id=demo.DEMO_INSTRUCTOR
                ),
                timeout=GRPC_TIMEOUT,
            ),
        )

    async def record_pass(self, neph: str) -> None:
        await self.call(
            "RecordExamResult",
            lambda: self.examiner.RecordExamResult(
                instruction_pb2.RecordExamResultRequest(
                    neph=neph,
                    category="B",
                    passed=True,
                    exam_date=date.today().isoformat(),
                    examiner_id=demo.DEMO_EXAMINER,
                ),
                timeout=GRPC_TIMEOUT,
            ),
        )


# ---- one journey -----------------------------------------------------------------------


@dataclass
class JourneyRecord:
    """What one journey did, for the checks afterwards."""

    index: int
    email: str = ""
    inscription: str = ""
    neph: str = ""
    title: str = ""
    title_stage: str = ""
    uploads: list[Upload] = field(default_factory=list)
    finished_at: float | None = None


INSCRIPTION_EMAILS = ("confirmation", "in-instruction", "decision")
TITLE_EMAILS = (
    "confirmation",
    "in-instruction",
    "in-production",
    "sent-1",
    "pickup-1",
    "delivered",
)


async def journey(
    record: JourneyRecord,
    *,
    gateway_url: str,
    settings: Settings,
    officials: Officials,
    mails: MailIndex,
    retries: Retries,
    rng: random.Random,
    with_title: bool,
) -> None:
    """A new candidate's inscription up to the NEPH; then, ``with_title``, the exam
    pass, the title request and the card delivered (collected at the post office)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    # Names take letters only: the index spelt in two of them.
    tag = f"Camille {letters[record.index // 26].upper()}{letters[record.index % 26]}"
    async with httpx.AsyncClient(base_url=gateway_url, timeout=HTTP_TIMEOUT) as http:
        candidate = Candidate(http, retries, rng, mails)
        record.email = f"chaos.{record.index:02d}.{rng.getrandbits(32):08x}@example.fr"
        await candidate.sign_up(record.email, tag)

        key = f"chaos-{record.index:02d}-inscription"
        number = await candidate.filled_request(
            "inscription",
            demo.FIRST_REGISTRATION_B,
            key,
            await officials.photo_code(),
            record.uploads,
            tag,
        )
        record.inscription = number
        mail = [message_id("inscription", number, "in-instruction")]
        await candidate.wait_for_stage(number, {"in_instruction"}, mail)
        decision = await officials.accept(number)
        mail = [message_id("inscription", number, "decision")]
        view = await candidate.wait_for_stage(number, {"accepted", "rejected"}, mail)
        if view["stage"] != "accepted" or view["neph"] != decision.neph:
            raise JourneyFailed(f"{number}: {view['stage']} {view.get('neph')} {decision.neph}")
        record.neph = str(view["neph"])
        attestation = await candidate.call("GET", f"/v1/requests/{number}/attestation")
        if not attestation.content.startswith(b"%PDF-"):
            raise JourneyFailed(f"{number}: attestation is not a PDF")
        if not with_title:
            return

        await officials.record_pass(record.neph)
        motif = {"motif": "exam_success_first_title", "category": "B", "neph": record.neph}
        title = await candidate.filled_request(
            "title",
            motif,
            f"chaos-{record.index:02d}-title",
            await officials.photo_code(),
            record.uploads,
            tag,
        )
        record.title = title
        mail = [message_id("title", title, "in-instruction")]
        await candidate.wait_for_stage(title, {"in_instruction"}, mail)
        await officials.accept(title)
        mail = [message_id("title", title, "in-production"), message_id("title", title, "sent-1")]
        await candidate.wait_for_stage(title, {"in_production", "sent", "awaiting_pickup"}, mail)
        card = await play_partners(settings.production_address, title, "collected")
        if card.state != "delivered":
            raise JourneyFailed(f"{title}: card {card.state}")
        mail = [message_id("title", title, "delivered")]
        view = await candidate.wait_for_stage(title, {"delivered", "returned", "destroyed"}, mail)
        record.title_stage = str(view["stage"])
