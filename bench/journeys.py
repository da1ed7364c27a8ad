"""Whole-stack benchmark: complete journeys through the gateway, measured.

    python -m bench.journeys [--journeys N] [--concurrency C] [--stored-requests K]

Starts the local stack (``LocalStack``) on free ports in a temporary directory, then:

1. drives N complete journeys, C at a time, exactly as a candidate, the DDT, the
   examiner and the partners would (inscription -> exam pass -> title -> delivered):
   journeys/s, activities/s (counted from the workflows' histories), and the latency of
   every gateway call the journeys make (httpx event hooks);
2. on the same Temporal server, N bare workflows (trivial activities, as many as one
   journey runs, own task queue, worker in this process), C at a time: the bare
   activities/s and the ratio journey rate / bare rate;
   2b. N engine-shaped workflows (``bench/shaped.py``: the journey's counts of activities,
   updates, signals, upserts, timers and children, trivial bodies), C at a time: the
   ratio journey rate / shaped rate, informational (``--no-shaped`` skips it);
3. stores K extra draft requests (workflows started directly, as the gateway would),
   then reads a request's status through the gateway at a fixed rate (open loop) and
   times the DDT queue (ListPendingCases);
4. the peak RSS (VmHWM) of every process of the stack, and the stack's peak with the
   pages its processes share counted once (``bench/memory.py``).

Each figure is printed with its target and PASS/FAIL. Exits with ``os._exit`` (a
process that used a Temporal client can abort at interpreter shutdown; PRACTICES.md).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import httpx
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client
from temporalio.worker import Worker

from bench import engine, memory, queue
from bench.bare import BARE_TASK_QUEUE, BareWorkflow, bare_step
from bench.shaped import SHAPED_TASK_QUEUE, Shape, ShapedChild, ShapedWorkflow
from deploy.local import demo
from deploy.local.stack import LocalStack, StackPorts
from deploy.partners.simulator import play_partners
from services.common.process_exit import run_then_leave
from workflows import ids
from workflows.models import StartInscription, department_of
from workflows.retention_activities import JOURNEY_TYPES, workflow_type_in

MIB = 1024**2
GIB = 1024**3
# Targets of the issue "Reliability and performance, measured".
TARGET_STACK_RSS = 1.5 * GIB
TARGET_BARE_RATIO = 0.7
TARGET_STATUS_P99 = 0.025
STATUS_RATE = 200.0
STATUS_SECONDS = 10.0
READ_CONNECTIONS = 64
DOSSIER_RATE = 50.0
QUEUE_SIZES = (1_000,)
UNATTENDED_TASK_QUEUE = "bench-unattended-drafts"
QUIET_CORES = 0.15  # the idle stack uses ~0.05 (heartbeats, pollers, timers)
QUIET_TIMEOUT = 900.0
REQUEST_NUMBER = re.compile(r"/\d{4}[0-9A-Z]{8}(?=/|$)")


def out(line: str = "") -> None:
    print(line, flush=True)


def percentile(values: Iterable[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN when there is nothing to rank."""
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = max(1, min(len(ordered), int(-(-q * len(ordered) // 100))))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


@dataclass
class CallTimer:
    """Every gateway call's latency, by ``METHOD /path`` (request numbers as ``{n}``)."""

    by_call: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))

    def hooks(self) -> dict[str, list[Callable[..., Awaitable[None]]]]:
        async def on_request(request: httpx.Request) -> None:
            request.extensions["bench_started"] = time.perf_counter()

        async def on_response(response: httpx.Response) -> None:
            await response.aread()  # the body is part of the call
            started = response.request.extensions["bench_started"]
            path = REQUEST_NUMBER.sub("/{n}", response.request.url.path)
            self.by_call[f"{response.request.method} {path}"].append(time.perf_counter() - started)

        return {"request": [on_request], "response": [on_response]}

    @property
    def all(self) -> list[float]:
        return [t for times in self.by_call.values() for t in times]


# ---- 1. complete journeys -------------------------------------------------------------


async def one_journey(stack: LocalStack, timer: CallTimer) -> None:
    """Inscription -> exam passed -> title -> delivered, as deploy.local.demo plays it."""
    settings = stack.settings
    async with httpx.AsyncClient(
        base_url=stack.gateway_url, timeout=60, event_hooks=timer.hooks()
    ) as http:
        candidate = await demo.new_candidate(http)
        view = await demo.submitted_request(candidate, settings)
        number = view["request_number"]
        department = department_of(view["address"]["postal_code"])
        await demo.instructor_decides(settings, number, department)
        view = await demo.wait_for_stage(http, number, {"accepted", "rejected"})
        if view["stage"] != "accepted" or not demo.NEPH.match(view["neph"] or ""):
            raise demo.DemoFailed(f"inscription {number}: {view['stage']}")
        attestation = await http.get(f"/v1/requests/{number}/attestation")
        if attestation.status_code != 200:
            raise demo.DemoFailed(f"attestation {number}: {attestation.status_code}")
        neph = str(view["neph"])
        await demo.examiner_records_pass(settings, neph)

        await demo.log_in(http, candidate.email, demo.DEMO_PASSWORD)
        motif = {"motif": "exam_success_first_title", "category": "B", "neph": neph}
        view = await demo.submitted_request(candidate, settings, "title", motif)
        title = view["request_number"]
        await demo.instructor_decides(settings, title, department)
        await demo.wait_for_stage(http, title, {"in_production", "sent", "awaiting_pickup"})
        await play_partners(settings.production_address, title, "collected")
        view = await demo.wait_for_stage(http, title, {"delivered", "returned", "destroyed"})
        if view["stage"] != "delivered":
            raise demo.DemoFailed(f"titre {title}: {view['stage']}")


async def bounded(
    count: int, concurrency: int, job: Callable[[int], Awaitable[None]]
) -> list[BaseException | None]:
    """Run ``job(i)`` for i < count, ``concurrency`` at a time; each one's error or None."""
    gate = asyncio.Semaphore(concurrency)

    async def guarded(i: int) -> BaseException | None:
        async with gate:
            try:
                await job(i)
            except Exception as error:  # counted and shown, the others go on
                return error
            return None

    return list(await asyncio.gather(*(guarded(i) for i in range(count))))


# ---- 2. the bare engine -----------------------------------------------------------------


async def reference_run(
    worker: Worker, count: int, concurrency: int, one: Callable[[int], Awaitable[None]]
) -> float:
    """Seconds for ``count`` runs of ``one``, ``concurrency`` at a time, with ``worker``
    (in this process) polling; one untimed run first warms the worker and its sandbox."""
    async with worker:
        await one(-1)
        started = time.perf_counter()
        errors = [e for e in await bounded(count, concurrency, one) if e is not None]
        elapsed = time.perf_counter() - started
    if errors:
        raise RuntimeError(f"{len(errors)} reference workflows failed: {errors[0]!r}")
    return elapsed


async def bare_run(client: Client, count: int, activities: int, concurrency: int) -> float:
    """Seconds for ``count`` bare workflows of ``activities`` activities each."""
    worker = Worker(
        client, task_queue=BARE_TASK_QUEUE, workflows=[BareWorkflow], activities=[bare_step]
    )

    async def one(i: int) -> None:
        await client.execute_workflow(
            BareWorkflow.run,
            activities,
            id=f"bench-bare-{uuid.uuid4().hex[:12]}",
            task_queue=BARE_TASK_QUEUE,
        )

    return await reference_run(worker, count, concurrency, one)


async def shaped_run(client: Client, count: int, shape: Shape, concurrency: int) -> float:
    """Seconds for ``count`` engine-shaped workflows: each started, sent its updates one
    after the other (as a candidate's steps come), then its signals, then awaited."""
    worker = Worker(
        client,
        task_queue=SHAPED_TASK_QUEUE,
        workflows=[ShapedWorkflow, ShapedChild],
        activities=[bare_step],  # the same trivial activity as the bare reference
    )

    async def one(i: int) -> None:
        handle = await client.start_workflow(
            ShapedWorkflow.run,
            shape,
            id=f"bench-shaped-{uuid.uuid4().hex[:12]}",
            task_queue=SHAPED_TASK_QUEUE,
        )
        for index in range(shape.updates):
            await handle.execute_update(ShapedWorkflow.step, index)
        for index in range(shape.signals):
            await handle.signal(ShapedWorkflow.event, index)
        await handle.result()

    return await reference_run(worker, count, concurrency, one)


async def measure_shaped(
    stack: LocalStack,
    count: int,
    concurrency: int,
    shape: Shape,
    journey_rate: float,
    journey_cpu: float,
) -> None:
    """Section 2b: the engine-shaped reference (``bench/shaped.py``), its rate, and the
    journeys' rate against it: what our code costs beyond the engine work it asks for."""
    client = stack.temporal_client
    assert client is not None
    out(
        f"\n[2b] {count} engine-shaped workflows ({shape.activities} activities, "
        f"{shape.updates} updates, {shape.signals} signals, {shape.upserts} upserts, "
        f"{shape.timers} timers, {shape.children} child; trivial bodies), {concurrency} at a "
        "time (same server, worker in this process)…"
    )
    cpu = CpuMeter(stack)
    seconds = await shaped_run(client, count, shape, concurrency)
    used = cpu.used()
    rate = count / seconds
    out(f"  shaped workflows/s    {rate:8.2f}")
    shaped_work = await engine.engine_work(client, f"TaskQueue = '{SHAPED_TASK_QUEUE}'")
    # Per unit, its child's history counted with it, as a journey's counts do.
    units = max(shaped_work.workflows // (1 + shape.children), 1)
    out(f"  engine work/unit      {shaped_work.describe(units)}")
    out(used.report())
    out(
        f"  journey/shaped ratio  {journey_rate / rate:8.3f}   (informational: what our code "
        "costs beyond the engine work the journey asks for)"
    )
    out(
        f"  CPU per unit          journey {journey_cpu:.2f} s; "
        f"engine-shaped workflow {used.total / count:.2f} s (Temporal server "
        f"{used.seconds.get('temporal', 0.0) / count:.2f} s)"
    )


def report_cpu_bounds(journeys: CpuUse, done: int, bare: CpuUse, bare_count: int) -> None:
    """Where the ratio's gap lies, from CPU seconds: with both runs bound by the same
    cores, the rate ratio tends to (CPU per bare workflow) / (CPU per journey); counting
    only the Temporal server's CPU per journey gives the ceiling that no saving outside
    the engine can pass."""
    per_journey = journeys.total / done
    temporal_per_journey = journeys.seconds.get("temporal", 0.0) / done
    per_bare = bare.total / bare_count
    out(
        f"  CPU per unit          journey {per_journey:.2f} s (Temporal server "
        f"{temporal_per_journey:.2f} s); bare workflow {per_bare:.2f} s (Temporal server "
        f"{bare.seconds.get('temporal', 0.0) / bare_count:.2f} s)"
    )
    out(
        f"  ratio bounds          {per_bare / per_journey:.3f} if both ran CPU-bound; "
        f"{per_bare / max(temporal_per_journey, 1e-9):.3f} if only the Temporal server's "
        "work for a journey cost CPU   (informational)"
    )


# ---- 3. stored requests, status reads, the DDT queue -------------------------------------


async def store_drafts(
    client: Client, task_queue: str, count: int, account_id: str, email: str
) -> list[str]:
    """Start ``count`` inscription drafts for one account, as POST /v1/requests would."""
    numbers = [ids.new_request_number(datetime.now(UTC)) for _ in range(count)]

    async def one(i: int) -> None:
        await client.start_workflow(
            "InscriptionWorkflow",
            StartInscription(request_number=numbers[i], account_id=account_id, account_email=email),
            id=ids.inscription_workflow_id(numbers[i]),
            task_queue=task_queue,
            search_attributes=ids.at_start("inscription", numbers[i], account_id),
        )

    errors = [e for e in await bounded(count, 64, one) if e is not None]
    if errors:
        raise RuntimeError(f"{len(errors)} drafts not started: {errors[0]!r}")
    return numbers


@dataclass
class OpenLoop:
    latencies: list[float]
    errors: int
    sent: int
    seconds: float


async def open_loop_reads(
    gateway_url: str, token: str, paths: list[str], rate: float, seconds: float
) -> OpenLoop:
    """GET each of ``paths`` in turn at a fixed rate whatever the answers' pace (open loop). A
    call's latency runs from when it was due, so a late sender or a busy connection
    counts against it.

    The sender is a bare HTTP/1.1 keep-alive client (asyncio streams, ``READ_CONNECTIONS``
    connections): httpx with hundreds of calls in flight used more CPU than the gateway
    on this 2-core machine and measured itself."""
    url = httpx.URL(gateway_url)
    host, port = url.host, url.port or 80
    latencies: list[float] = []
    errors = 0
    total = int(rate * seconds)
    due_calls: asyncio.Queue[tuple[float, str] | None] = asyncio.Queue()
    loop = asyncio.get_running_loop()

    async def connection() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        try:
            while (call := await due_calls.get()) is not None:
                due, path = call
                writer.write(
                    f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                    f"Authorization: {token}\r\n\r\n".encode()
                )
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
                length = 0
                for line in head.split("\r\n")[1:]:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                await reader.readexactly(length)
                latencies.append(loop.time() - due)
                errors += 0 if head.split(" ", 2)[1] == "200" else 1
        finally:
            writer.close()

    async with httpx.AsyncClient(
        base_url=gateway_url, headers={"Authorization": token}, timeout=60
    ) as http:
        for path in paths[:20]:  # warm the gateway and the caches a little
            await http.get(path)
    connections = [asyncio.ensure_future(connection()) for _ in range(READ_CONNECTIONS)]
    start = loop.time() + 0.1
    for i in range(total):
        due = start + i / rate
        await asyncio.sleep(max(0.0, due - loop.time()))
        due_calls.put_nowait((due, paths[i % len(paths)]))
    for _ in connections:
        due_calls.put_nowait(None)
    await asyncio.gather(*connections)
    return OpenLoop(latencies, errors, total, loop.time() - start)


# ---- CPU of each process ------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a live process used so far (0 once it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU seconds each process of the stack (and this one, ``bench``) used in a phase."""

    def __init__(self, stack: LocalStack) -> None:
        self.pids = stack_pids(stack)
        self.pids["bench"] = os.getpid()
        self.since = self.snapshot()
        self.wall = time.perf_counter()

    def snapshot(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) for name, pid in self.pids.items()}

    def used(self) -> CpuUse:
        """CPU seconds of each process since the meter started, and the wall time."""
        now = self.snapshot()
        seconds = {name: now[name] - self.since[name] for name in now}
        return CpuUse(seconds, time.perf_counter() - self.wall)

    def report(self, top: int = 6) -> str:
        return self.used().report(top)


@dataclass(frozen=True)
class CpuUse:
    seconds: dict[str, float]  # by process name
    wall: float

    @property
    def total(self) -> float:
        return sum(self.seconds.values())

    def report(self, top: int = 6) -> str:
        used = sorted(((s, n) for n, s in self.seconds.items()), reverse=True)
        shown = ", ".join(f"{n} {seconds:.1f}" for seconds, n in used[:top])
        return (
            f"  CPU seconds used      {self.total:.1f} in {self.wall:.1f} s of wall time "
            f"({self.total / self.wall:.2f} cores busy): {shown}"
        )


async def until_quiet(
    stack: LocalStack, cores: float = QUIET_CORES, within: float = QUIET_TIMEOUT
) -> bool:
    """Wait until the stack's processes together use under ``cores`` for two seconds in a
    row; False if they still did not after ``within`` seconds."""
    pids = [child.process.pid for child in stack.children]
    deadline = time.monotonic() + within
    quiet_seconds = 0
    before = sum(cpu_seconds(pid) for pid in pids)
    while quiet_seconds < 2:
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(1.0)  # so CPU seconds used over it are cores busy
        now = sum(cpu_seconds(pid) for pid in pids)
        quiet_seconds = quiet_seconds + 1 if now - before < cores else 0
        before = now
    return True


# ---- the run ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reads:
    """What section 3 reads, and how hard."""

    stored: int = 0
    # Stored drafts on a queue no worker polls: their first task waits (see main's help).
    unattended: bool = False
    status_seconds: float = STATUS_SECONDS
    status_rate: float = STATUS_RATE
    dossier_rate: float = DOSSIER_RATE
    queue_sizes: tuple[int, ...] = QUEUE_SIZES


async def bench(journeys: int, concurrency: int, reads: Reads, shaped: bool = True) -> None:
    demo.say = lambda step: None  # the helpers narrate each step; not here
    with tempfile.TemporaryDirectory(prefix="permis-bench-") as tmp:
        stack = LocalStack(Path(tmp), StackPorts.free())
        out(f"Starting the local stack in {tmp}…")
        started = time.perf_counter()
        async with stack:
            out(f"Stack up in {time.perf_counter() - started:.1f} s.")
            await measure(stack, journeys, concurrency, reads, shaped)
            out("Stopping the stack…")


async def measure(
    stack: LocalStack, journeys: int, concurrency: int, plan: Reads, shaped: bool = True
) -> None:
    stored, status_rate, status_seconds = plan.stored, plan.status_rate, plan.status_seconds
    dossier_rate, queue_sizes = plan.dossier_rate, plan.queue_sizes
    client = stack.temporal_client
    assert client is not None
    settings = stack.settings

    # 1. Journeys.
    timer = CallTimer()
    cpu = CpuMeter(stack)
    out(f"\n[1] {journeys} complete journeys, {concurrency} at a time…")
    started = time.perf_counter()
    outcomes = await bounded(journeys, concurrency, lambda i: one_journey(stack, timer))
    journeys_seconds = time.perf_counter() - started
    journeys_cpu = cpu.used()  # before the histories are read, which costs CPU too
    failures = [e for e in outcomes if e is not None]
    done = journeys - len(failures)
    # The journeys' workflows only: the daily retention purge runs on the same queue.
    work = await engine.engine_work(
        client,
        f"TaskQueue = '{settings.temporal_task_queue}' AND {workflow_type_in(JOURNEY_TYPES)}",
    )
    activities = work.count(EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED)
    per_journey = activities / max(done, 1)
    journey_rate = done / journeys_seconds
    activity_rate = activities / journeys_seconds
    calls = timer.all
    out(f"  completed {done}/{journeys} in {journeys_seconds:.1f} s")
    for error in failures[:3]:
        out(f"  failed: {error!r}")
    out(f"  journeys/s            {journey_rate:8.3f}   (target: none, informational)")
    out(
        f"  activities/s          {activity_rate:8.2f}   ({activities} activities in "
        f"{work.workflows} workflows, {per_journey:.1f} per journey)"
    )
    out(f"  engine work/journey   {work.describe(done)}")
    out(
        f"  gateway latency       p50 {ms(percentile(calls, 50))}, p99 "
        f"{ms(percentile(calls, 99))} over {len(calls)} calls   (target: none, informational)"
    )
    out(journeys_cpu.report())
    # The references below add their workflows to the Temporal server's memory; section 4's
    # verdict is on the whole run, this figure is the journeys' alone.
    so_far = stack_memory_of(stack).peak_shared_once
    out(f"  stack peak memory     {so_far / GIB:8.3f} GiB so far (see section 4)")
    out("  by call (count, p50, p99), slowest p99 first:")
    rows = sorted(timer.by_call.items(), key=lambda item: -percentile(item[1], 99))
    for call, times in rows:
        out(
            f"    {call:<44} {len(times):5d}  {ms(percentile(times, 50)):>10}  "
            f"{ms(percentile(times, 99)):>10}"
        )

    # 2. Bare engine.
    bare_activities = max(1, round(per_journey))
    out(
        f"\n[2] {journeys} bare workflows of {bare_activities} trivial activities, "
        f"{concurrency} at a time (same server, worker in this process)…"
    )
    cpu = CpuMeter(stack)
    bare_seconds = await bare_run(client, journeys, bare_activities, concurrency)
    bare_cpu = cpu.used()
    bare_rate = journeys * bare_activities / bare_seconds
    ratio = activity_rate / bare_rate
    out(f"  bare workflows/s      {journeys / bare_seconds:8.2f}")
    out(f"  bare activities/s     {bare_rate:8.2f}")
    bare_work = await engine.engine_work(client, f"TaskQueue = '{BARE_TASK_QUEUE}'")
    out(f"  engine work/workflow  {bare_work.describe(bare_work.workflows)}")
    out(bare_cpu.report())
    out(
        f"  journey/bare ratio    {ratio:8.3f}   (target >= {TARGET_BARE_RATIO})   "
        f"{verdict(ratio >= TARGET_BARE_RATIO)}"
    )
    report_cpu_bounds(journeys_cpu, max(done, 1), bare_cpu, journeys)
    if shaped:
        shape = work.shape(done)
        journey_cpu = journeys_cpu.total / max(done, 1)
        await measure_shaped(stack, journeys, concurrency, shape, journey_rate, journey_cpu)

    # 3. Stored requests, status reads, DDT queue.
    out(f"\n[3] A reader account, {stored} stored draft requests, status reads…")
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=60) as http:
        reader = await demo.new_candidate(http)
        view = demo.expect(await http.post("/v1/requests", json={"journey": "inscription"}), 201)
        token = http.headers["Authorization"]
    started = time.perf_counter()
    numbers = [view["request_number"]]
    drafts_queue = UNATTENDED_TASK_QUEUE if plan.unattended else settings.temporal_task_queue
    numbers += await store_drafts(client, drafts_queue, stored, view["account_id"], reader.email)
    if stored:
        seconds = time.perf_counter() - started
        unattended = f", unattended (task queue {drafts_queue}: no worker)"
        out(
            f"  stored {stored} drafts in {seconds:.1f} s ({stored / seconds:.1f}/s)"
            f"{unattended if plan.unattended else ''}"
        )
    # Whatever is still running (the drafts' first tasks, the last tasks of the journeys
    # and bare workflows) finishes before the reads are timed, or they measure both. The
    # last draft answering a query did not prove it: the task queue's partitions are not
    # FIFO, and a run read with the worker still busy (p99 233 ms, 7.7 ms once quiet).
    waited = time.perf_counter()
    quiet = await until_quiet(stack)
    out(
        f"  stack {'quiet' if quiet else 'STILL BUSY (reads below share the machine)'} "
        f"after waiting {time.perf_counter() - waited:.1f} s"
    )
    cpu = CpuMeter(stack)
    reads = await open_loop_reads(
        stack.gateway_url,
        token,
        [f"/v1/requests/{n}/status" for n in numbers],
        status_rate,
        status_seconds,
    )
    p99 = percentile(reads.latencies, 99)
    out(
        f"  status reads          {reads.sent} GET /v1/requests/{{n}}/status over "
        f"{len(numbers)} requests at {status_rate:.0f}/s (all answered within "
        f"{reads.seconds:.1f} s), {reads.errors} errors"
    )
    out(
        f"  status read latency   p50 {ms(percentile(reads.latencies, 50))}, p99 {ms(p99)}"
        f"   (target p99 < {ms(TARGET_STATUS_P99)})   "
        f"{verdict(p99 < TARGET_STATUS_P99 and reads.errors == 0)}"
    )
    out(cpu.report())
    if dossier_rate > 0:
        cpu = CpuMeter(stack)
        dossiers = await open_loop_reads(
            stack.gateway_url,
            token,
            [f"/v1/requests/{n}" for n in numbers],
            dossier_rate,
            status_seconds / 2,
        )
        out(
            f"  dossier reads         {dossiers.sent} GET /v1/requests/{{n}} (whole view, a "
            f"workflow query) at {dossier_rate:.0f}/s: p50 "
            f"{ms(percentile(dossiers.latencies, 50))}, p99 "
            f"{ms(percentile(dossiers.latencies, 99))}, {dossiers.errors} errors   "
            "(target: none, informational)"
        )
        out(cpu.report())
    for size in queue_sizes:
        started = time.perf_counter()
        added = await queue.fill_queue(settings, "69", size)
        filled = time.perf_counter() - started
        first, middle = await queue.page_latencies(settings, "69")
        out(
            f"  DDT queue, {size:>7} pending: first page p50 {ms(percentile(first, 50))}, p99 "
            f"{ms(percentile(first, 99))}; middle page p50 {ms(percentile(middle, 50))}, p99 "
            f"{ms(percentile(middle, 99))} ({queue.PAGE} per page; {added} cases written "
            f"in {filled:.1f} s)   (target: flat)"
        )

    # 4. Memory.
    report_memory(stack)


def stack_pids(stack: LocalStack) -> dict[str, int]:
    """Each child process of the stack by name."""
    return {child.name: child.process.pid for child in stack.children}


def stack_memory_of(stack: LocalStack) -> memory.StackMemory:
    return memory.stack_memory(stack_pids(stack), os.getpid())


def report_memory(stack: LocalStack) -> None:
    """Section 4: each process's peak, and the stack's with shared libraries counted once
    (the verdict; ``bench/memory.py`` says why the plain sum over-counts)."""
    pids = stack_pids(stack)
    figures = memory.stack_memory(pids, os.getpid())
    out("\n[4] Peak resident memory of each process of the stack (MiB):")
    out(f"    {'process':<14} {'peak RSS':>9} {'shared':>8} {'own peak':>9}")
    for name in pids:
        process = figures.processes.get(name)
        if process is None:
            out(f"    {name:<14} gone")
            continue
        out(
            f"    {name:<14} {process.peak_rss / MIB:9.1f} {process.shared_with_others / MIB:8.1f}"
            f" {process.peak_own / MIB:9.1f}"
        )
    out(
        f"  sum of peak RSS       {figures.sum_of_peaks / GIB:8.3f} GiB   (shared libraries "
        "counted once per process: informational)"
    )
    shared_once = figures.peak_shared_once
    out(
        f"  stack peak memory     {shared_once / GIB:8.3f} GiB   (own peaks + this process's "
        f"share of the libraries; target < {TARGET_STACK_RSS / GIB} GiB)   "
        f"{verdict(shared_once < TARGET_STACK_RSS)}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.journeys", description="Whole-stack benchmark of permis."
    )
    parser.add_argument("--journeys", type=int, default=10, metavar="N")
    parser.add_argument("--concurrency", type=int, default=5, metavar="C")
    parser.add_argument(
        "--stored-requests",
        type=int,
        default=0,
        metavar="K",
        help="draft requests stored before the status reads and the DDT queue",
    )
    parser.add_argument(
        "--unattended",
        action="store_true",
        help=(
            "start the stored drafts on a task queue no worker polls: a status read needs "
            "only the Temporal server, and 100,000 drafts are stored without the hour the "
            "worker would take here to run each one's first task"
        ),
    )
    parser.add_argument(
        "--status-seconds",
        type=float,
        default=STATUS_SECONDS,
        metavar="S",
        help="how long the status reads last",
    )
    parser.add_argument(
        "--status-rate",
        type=float,
        default=STATUS_RATE,
        metavar="R",
        help="status reads per second (the target is stated at 200)",
    )
    parser.add_argument(
        "--dossier-rate",
        type=float,
        default=DOSSIER_RATE,
        metavar="R",
        help="whole-view reads per second after the status reads (0: skip)",
    )
    parser.add_argument(
        "--queue-cases",
        default=",".join(str(n) for n in QUEUE_SIZES),
        metavar="K1,K2",
        help="pending cases in the DDT queue when its pages are timed, e.g. 1000,100000",
    )
    parser.add_argument(
        "--no-shaped",
        action="store_true",
        help="skip section 2b, the engine-shaped reference (bench/shaped.py)",
    )
    args = parser.parse_args(argv)
    reads = Reads(
        args.stored_requests,
        args.unattended,
        args.status_seconds,
        args.status_rate,
        args.dossier_rate,
        tuple(int(n) for n in args.queue_cases.split(",") if n),
    )
    run_then_leave(bench(args.journeys, args.concurrency, reads, shaped=not args.no_shaped))


if __name__ == "__main__":
    main()
