"""Logs, traces and metrics of services.common.observability, without the stack."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import grpc
import httpx
import pytest
from fastapi import FastAPI
from grpc_health.v1 import health_pb2, health_pb2_grpc
from opentelemetry import trace
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client import REGISTRY
from temporalio import activity
from temporalio.testing import ActivityEnvironment

from services.common import observability
from services.common.clients import open_channel
from services.common.grpc_server import start_server
from services.common.settings import Settings
from workflows import ids

REQUEST_NUMBER = "2611K7Q3ZP9A"


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    provider = observability.setup_tracing(Settings(), "tests")
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    """Root logging as a production process sets it up, into a buffer."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    observability.setup_logging(Settings(log_format="json", log_level="DEBUG"), stream=stream)
    yield stream
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in saved[0]:
        root.addHandler(handler)
    root.setLevel(saved[1])


def records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_logs_are_one_object_per_line_with_the_basics(json_lines: io.StringIO) -> None:
    log = logging.getLogger("permis.test")
    log.info("bonjour %s", "é\nà")
    log.warning("deux")
    first, second = records(json_lines)
    assert set(first) == {"time", "level", "logger", "message"}
    assert first["level"] == "INFO" and first["logger"] == "permis.test"
    assert first["message"] == "bonjour é\nà"
    assert str(first["time"]).endswith("+00:00")
    assert second["level"] == "WARNING"


def test_json_logs_carry_exceptions(json_lines: io.StringIO) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("permis.test").exception("échec")
    (entry,) = records(json_lines)
    assert "ValueError: boom" in str(entry["exception"])


def test_request_number_and_trace_id_when_known(
    json_lines: io.StringIO, spans: InMemorySpanExporter
) -> None:
    log = logging.getLogger("permis.test")
    tracer = trace.get_tracer("tests")
    with observability.request_number_context(REQUEST_NUMBER), tracer.start_as_current_span("x"):
        trace_id = format(trace.get_current_span().get_span_context().trace_id, "032x")
        log.info("dans la demande")
    log.info("après")
    inside, after = records(json_lines)
    assert inside["request_number"] == REQUEST_NUMBER
    assert inside["trace_id"] == trace_id
    assert "request_number" not in after and "trace_id" not in after


def test_text_format_still_has_the_fields_for_formatters(spans: InMemorySpanExporter) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(observability.ContextFilter())
    handler.setFormatter(logging.Formatter("%(request_number)s %(trace_id)s %(message)s"))
    log = logging.getLogger("permis.test.text")
    log.addHandler(handler)
    try:
        log.warning("sans contexte")
        with observability.request_number_context(REQUEST_NUMBER):
            log.warning("avec")
    finally:
        log.removeHandler(handler)
    assert stream.getvalue().splitlines() == [
        "None None sans contexte",
        f"{REQUEST_NUMBER} None avec",
    ]


async def test_activities_log_their_journeys_request_number(json_lines: io.StringIO) -> None:
    @activity.defn
    async def step() -> str | None:
        activity.logger.info("étape")
        logging.getLogger("permis.activity").info("étape simple")
        return observability.current_request_number()

    env = ActivityEnvironment()
    env.info = env.info.__class__(
        **{**env.info.__dict__, "workflow_id": ids.inscription_workflow_id(REQUEST_NUMBER)}
    )
    assert await env.run(step) == REQUEST_NUMBER
    logged = [e for e in records(json_lines) if str(e["message"]).startswith("étape")]
    assert [e.get("request_number") for e in logged] == [REQUEST_NUMBER] * 2, records(json_lines)


def sample(name: str, labels: dict[str, str]) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_grpc_calls_are_counted_traced_and_carry_the_request_number(
    spans: InMemorySpanExporter,
) -> None:
    seen: list[tuple[str | None, str | None]] = []

    class Spy(grpc.aio.ServerInterceptor):
        async def intercept_service(self, continuation, details):  # type: ignore[no-untyped-def]
            handler = await continuation(details)
            inner = handler.unary_unary

            async def spy(request, context):  # type: ignore[no-untyped-def]
                seen.append(
                    (observability.current_request_number(), observability.current_trace_id())
                )
                return await inner(request, context)

            return grpc.unary_unary_rpc_method_handler(
                spy, handler.request_deserializer, handler.response_serializer
            )

    server, port = await start_server([], "127.0.0.1:0", interceptors=[Spy()])
    labels = {"grpc_service": "grpc.health.v1.Health", "grpc_method": "Check"}
    ok = {**labels, "grpc_code": "OK"}
    not_found = {**labels, "grpc_code": "NOT_FOUND"}
    before_ok = sample("permis_grpc_server_requests_total", ok)
    before_missing = sample("permis_grpc_server_requests_total", not_found)
    before_count = sample("permis_grpc_server_request_duration_seconds_count", labels)
    channel = open_channel(f"127.0.0.1:{port}", Settings())
    try:
        stub = health_pb2_grpc.HealthStub(channel)
        spans.clear()
        with (
            observability.request_number_context(REQUEST_NUMBER),
            trace.get_tracer("tests").start_as_current_span("appelant"),
        ):
            caller_trace = observability.current_trace_id()
            response = await stub.Check(health_pb2.HealthCheckRequest(service=""))
        assert response.status == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.Check(health_pb2.HealthCheckRequest(service="inconnu"))
        assert raised.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        await channel.close()
        await server.stop(None)

    assert sample("permis_grpc_server_requests_total", ok) == before_ok + 1
    assert sample("permis_grpc_server_requests_total", not_found) == before_missing + 1
    assert sample("permis_grpc_server_request_duration_seconds_count", labels) == before_count + 2
    # The server continued the caller's trace and knew the request number.
    assert seen[0] == (REQUEST_NUMBER, caller_trace)
    server_spans = [
        s
        for s in spans.get_finished_spans()
        if s.kind == trace.SpanKind.SERVER and s.name == "grpc.health.v1.Health/Check"
    ]
    assert format(server_spans[0].context.trace_id, "032x") == caller_trace


async def test_gateway_requests_are_counted_by_route_and_status(
    json_lines: io.StringIO, spans: InMemorySpanExporter
) -> None:
    app = FastAPI()
    observability.instrument_app(app)

    @app.get("/v1/requests/{request_number}")
    async def show(request_number: str) -> dict[str, str | None]:
        logging.getLogger("permis.gateway.test").info("lecture")
        return {"trace_id": observability.current_trace_id()}

    route = {"method": "GET", "route": "/v1/requests/{request_number}"}
    before = sample("permis_http_requests_total", {**route, "status": "200"})
    before_missing = sample(
        "permis_http_requests_total", {"method": "GET", "route": "unmatched", "status": "404"}
    )
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get(f"/v1/requests/{REQUEST_NUMBER}", headers={"traceparent": parent})
        assert (await http.get("/nulle-part")).status_code == 404
    assert response.status_code == 200
    # The gateway continues the caller's trace.
    assert response.json()["trace_id"] == "0af7651916cd43dd8448eb211c80319c"
    assert sample("permis_http_requests_total", {**route, "status": "200"}) == before + 1
    assert (
        sample(
            "permis_http_requests_total", {"method": "GET", "route": "unmatched", "status": "404"}
        )
        == before_missing + 1
    )
    (entry,) = [e for e in records(json_lines) if e["logger"] == "permis.gateway.test"]
    assert entry["request_number"] == REQUEST_NUMBER
    assert entry["trace_id"] == "0af7651916cd43dd8448eb211c80319c"


def test_settings_default_to_no_metrics_text_logs_and_no_export() -> None:
    settings = Settings()
    assert settings.metrics_port == 0
    assert settings.log_format == "text"
    assert settings.otlp_endpoint == ""
    assert observability.temporal_runtime(settings) is None


def test_grafana_dashboard_shows_the_metrics_we_export() -> None:
    path = Path(__file__).resolve().parents[1] / "deploy/grafana/permis-dashboard.json"
    dashboard = json.loads(path.read_text())
    exprs = " ".join(
        target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])
    )
    for metric in (
        "permis_http_requests_total",
        "permis_http_request_duration_seconds_bucket",
        "permis_grpc_server_requests_total",
        "permis_grpc_server_request_duration_seconds_bucket",
        "temporal_workflow_completed",
        "temporal_activity_execution_latency_bucket",
    ):
        assert metric in exprs, metric
