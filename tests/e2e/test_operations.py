"""Operating the real stack: journeys found by their search attributes, metrics that move.

The whole system runs as child processes (LocalStack on free ports); one demo journey
is played, and what an operator relies on is checked around it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from temporalio.client import Client
from temporalio.common import SearchAttributeKey

from deploy.local.demo import inscription_journey
from deploy.local.stack import METRICS_PROCESSES, LocalStack, StackPorts
from services.common.payload_codec import data_converter
from services.common.settings import SERVICE_NAMES
from workflows import ids

pytestmark = pytest.mark.timeout(600)

Samples = list[tuple[str, dict[str, str], float]]


async def scrape(url: str) -> Samples:
    async with httpx.AsyncClient(timeout=10) as http:
        response = await http.get(url)
    response.raise_for_status()
    return [
        (sample.name, dict(sample.labels), float(sample.value))
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    ]


def everything(labels: dict[str, str]) -> bool:
    return True


def total(
    samples: Samples, name: str, where: Callable[[dict[str, str]], bool] = everything
) -> float:
    """Sum of the samples called ``name`` (with or without ``_total``) matching ``where``."""
    names = {name, f"{name}_total"}
    return sum(value for n, labels, value in samples if n in names and where(labels))


@dataclass
class Journey:
    request_number: str
    before: dict[str, Samples]


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LocalStack]:
    async with LocalStack(tmp_path_factory.mktemp("ops"), StackPorts.free()) as running:
        yield running


@pytest.fixture(scope="module")
async def temporal(stack: LocalStack) -> Client:
    return await Client.connect(
        stack.settings.temporal_address,
        namespace=stack.settings.temporal_namespace,
        data_converter=data_converter(stack.settings),
    )


@pytest.fixture(scope="module")
async def journey(stack: LocalStack) -> Journey:
    """Every process's metrics, then one complete demo inscription."""
    before = {name: await scrape(stack.metrics_url(name)) for name in METRICS_PROCESSES}
    result = await inscription_journey(stack.gateway_url, stack.settings)
    number = result[0] if isinstance(result, tuple) else result
    return Journey(str(number), before)


async def test_every_process_serves_metrics(stack: LocalStack) -> None:
    for name in METRICS_PROCESSES:
        assert await scrape(stack.metrics_url(name)), name
    assert "Métriques" in stack.summary()


async def test_every_search_attribute_finds_the_journey(temporal: Client, journey: Journey) -> None:
    workflow_id = ids.inscription_workflow_id(journey.request_number)
    description = await temporal.get_workflow_handle(workflow_id).describe()
    attributes = description.typed_search_attributes
    for key in ids.SEARCH_ATTRIBUTES:
        value = attributes.get(key)
        assert value, f"{key.name} is not set on {workflow_id}"
        query = f"{key.name} = '{value}'"
        found = await poll_visibility(temporal, query, workflow_id)
        assert found, f"{query} does not find {workflow_id}"
    assert attributes.get(ids.REQUEST_NUMBER) == journey.request_number


async def poll_visibility(
    temporal: Client, query: str, workflow_id: str, seconds: float = 20.0
) -> bool:
    """Visibility is eventually consistent: ask again for a little while."""
    deadline = time.monotonic() + seconds
    while True:
        found = [w.id async for w in temporal.list_workflows(query)]
        if workflow_id in found:
            return True
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(0.5)


def test_search_attributes_are_all_keywords() -> None:
    assert len(ids.SEARCH_ATTRIBUTES) == 7
    assert all(isinstance(key, SearchAttributeKey) for key in ids.SEARCH_ATTRIBUTES)


async def test_gateway_metrics_count_the_journeys_requests(
    stack: LocalStack, journey: Journey
) -> None:
    after = await scrape(stack.metrics_url("gateway"))
    name = "permis_http_requests"

    def request_routes(labels: dict[str, str]) -> bool:
        return labels.get("route", "").startswith("/v1/requests")

    assert total(after, name) > total(journey.before["gateway"], name)
    assert total(after, name, request_routes) > total(
        journey.before["gateway"], name, request_routes
    )
    latency = "permis_http_request_duration_seconds_count"
    assert total(after, latency) > total(journey.before["gateway"], latency)


async def test_grpc_services_count_their_calls(stack: LocalStack, journey: Journey) -> None:
    name = "permis_grpc_server_requests"

    def business(labels: dict[str, str]) -> bool:
        return (
            labels.get("grpc_service", "").startswith("permis.") and labels.get("grpc_code") == "OK"
        )

    for service in ("identity", "instruction"):
        assert service in SERVICE_NAMES
        after = await scrape(stack.metrics_url(service))
        assert total(after, name, business) > total(journey.before[service], name, business), (
            service
        )
        latency = "permis_grpc_server_request_duration_seconds_count"
        assert total(after, latency) > total(journey.before[service], latency), service


async def test_worker_exposes_the_temporal_sdks_metrics(
    stack: LocalStack, journey: Journey
) -> None:
    before = journey.before["worker"]
    deadline = time.monotonic() + 20
    while True:
        after = await scrape(stack.metrics_url("worker"))
        moved = {
            name: total(after, name) > total(before, name)
            for name in (
                "temporal_workflow_completed",
                "temporal_activity_execution_latency_count",
                "temporal_workflow_task_execution_latency_count",
            )
        }
        if all(moved.values()) or time.monotonic() > deadline:
            break
        await asyncio.sleep(1)
    names = sorted({n for n, _, _ in after if n.startswith("temporal_")})
    assert all(moved.values()), (moved, names)
