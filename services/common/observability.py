"""Metrics, traces and logs, set up the same way by every process.

- Metrics: Prometheus on ``metrics_host:metrics_port`` (0 disables the endpoint). gRPC
  services count calls by method and status code with a latency histogram
  (``ObservabilityServerInterceptor``, installed by ``grpc_server.start_server``); the
  gateway counts requests by route and status (``instrument_app``); the worker exposes
  the Temporal SDK's own metrics through ``temporal_runtime``.
- Traces: one OpenTelemetry ``TracerProvider`` per process, exporting over OTLP/gRPC
  when ``otlp_endpoint`` is set (spans exist either way, so trace ids reach the logs).
  Context travels gateway -> gRPC (``TracingClientInterceptor`` / the server
  interceptor, W3C ``traceparent`` metadata) and -> Temporal (``temporal_interceptors``).
- Logs: ``log_format=json`` writes one JSON object per line with time, level, logger,
  message, and ``request_number`` / ``trace_id`` when known (``ContextFilter``).

The request number of the work in progress lives in a contextvar: set it with
``request_number_context``; gRPC servers set it from the request's ``request_number``
field or the ``permis-request-number`` metadata, activities from their workflow id.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import grpc
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode
from prometheus_client import Counter, Histogram, start_http_server

from services.common.settings import Settings

REQUEST_NUMBER_METADATA = "permis-request-number"
_tracer = trace.get_tracer("permis")

# --- Request number --------------------------------------------------------------------

_request_number: ContextVar[str | None] = ContextVar("permis_request_number", default=None)


@contextlib.contextmanager
def request_number_context(request_number: str | None) -> Iterator[None]:
    """Marks what runs inside (logs, outgoing gRPC calls) as work on ``request_number``."""
    token = _request_number.set(request_number or None)
    try:
        yield
    finally:
        _request_number.reset(token)


def current_request_number() -> str | None:
    """The request number set by a handler, else the one of the running activity."""
    number = _request_number.get()
    if number:
        return number
    # Not imported means not in an activity: importing it here, on every process's first
    # log record, would load the Temporal SDK (~11 MiB) into services that never use it.
    activity = sys.modules.get("temporalio.activity")
    if activity is None:
        return None
    try:
        workflow_id = activity.info().workflow_id
    except Exception:  # not in an activity
        return None
    if workflow_id and "-" in workflow_id:
        from workflows.ids import request_number_of

        return request_number_of(workflow_id)
    return None


def current_trace_id() -> str | None:
    context = trace.get_current_span().get_span_context()
    return format(context.trace_id, "032x") if context.is_valid else None


# --- Logs -------------------------------------------------------------------------------


class ContextFilter(logging.Filter):
    """Adds ``request_number`` and ``trace_id`` (None when unknown) to every record."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_number", None) is None:
            record.request_number = current_request_number()
        if getattr(record, "trace_id", None) is None:
            record.trace_id = current_trace_id()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, then what is known."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key in ("request_number", "trace_id"):
            value = getattr(record, key, None)
            if value:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(settings: Settings, *, stream: Any = None) -> logging.Handler:
    """Replaces the root logger's handlers with one writing ``settings.log_format``."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(ContextFilter())
    if settings.log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(settings.log_level.upper())
    return handler


# --- Traces -----------------------------------------------------------------------------

_provider: TracerProvider | None = None


def setup_tracing(settings: Settings, process: str) -> TracerProvider:
    """The process's TracerProvider (once); OTLP export when ``otlp_endpoint`` is set."""
    global _provider
    if _provider is None:
        provider = TracerProvider(resource=Resource.create({"service.name": f"permis-{process}"}))
        if settings.otlp_endpoint:
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

            provider.add_span_processor(
                BatchSpanProcessor(OTLPSpanExporter(endpoint=settings.otlp_endpoint, insecure=True))
            )
        trace.set_tracer_provider(provider)
        _provider = provider
    return _provider


def temporal_interceptors() -> list[Any]:
    """Interceptors for ``Client.connect``: spans and context across Temporal calls,
    workflows and activities (a worker inherits its client's interceptors)."""
    from temporalio.contrib.opentelemetry import TracingInterceptor

    return [TracingInterceptor()]


# --- Metrics ----------------------------------------------------------------------------

GRPC_REQUESTS = Counter(
    "permis_grpc_server_requests",
    "gRPC calls handled, by service, method and status code.",
    ["grpc_service", "grpc_method", "grpc_code"],
)
GRPC_LATENCY = Histogram(
    "permis_grpc_server_request_duration_seconds",
    "Time to handle a gRPC call.",
    ["grpc_service", "grpc_method"],
)
HTTP_REQUESTS = Counter(
    "permis_http_requests",
    "HTTP requests answered by the gateway, by method, route and status.",
    ["method", "route", "status"],
)
HTTP_LATENCY = Histogram(
    "permis_http_request_duration_seconds",
    "Time to answer an HTTP request.",
    ["method", "route"],
)

_metrics_started: set[int] = set()


def start_metrics_server(settings: Settings) -> int | None:
    """Serve this process's Prometheus metrics (not for the worker: see temporal_runtime)."""
    port = settings.metrics_port
    if not port or port in _metrics_started:
        return None
    start_http_server(port, addr=settings.metrics_host)
    _metrics_started.add(port)
    logging.getLogger(__name__).info("metrics on http://%s:%d/metrics", settings.metrics_host, port)
    return port


_runtime: Any = None


def temporal_runtime(settings: Settings) -> Any:
    """The worker's Temporal runtime, whose core serves the SDK's metrics (Prometheus)
    on ``metrics_host:metrics_port``; None (the default runtime) when disabled.
    Created once: its endpoint binds the port."""
    global _runtime
    if not settings.metrics_port:
        return None
    if _runtime is None:
        from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig

        _runtime = Runtime(
            telemetry=TelemetryConfig(
                metrics=PrometheusConfig(
                    bind_address=f"{settings.metrics_host}:{settings.metrics_port}"
                ),
                global_tags={"service": "permis-worker"},
            )
        )
    return _runtime


def setup_process(settings: Settings, process: str, *, metrics: bool = True) -> None:
    """What every process does first: logs, traces and (unless the worker) metrics."""
    setup_logging(settings)
    setup_tracing(settings, process)
    if metrics:
        start_metrics_server(settings)


# --- gRPC -------------------------------------------------------------------------------


def _split_method(full_method: str) -> tuple[str, str]:
    service, _, method = full_method.lstrip("/").rpartition("/")
    return service or "unknown", method or full_method


class ObservabilityServerInterceptor(grpc.aio.ServerInterceptor):
    """For each unary call: a server span (continuing the caller's trace), the request
    number in context, and the calls counter and latency histogram."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        if handler is None or handler.unary_unary is None:
            return handler
        inner = handler.unary_unary
        full_method = handler_call_details.method
        service, method = _split_method(full_method)
        metadata = {
            key: value
            for key, value in (handler_call_details.invocation_metadata or ())
            if isinstance(value, str)
        }

        async def observed(request: Any, context: grpc.aio.ServicerContext) -> Any:
            number = getattr(request, "request_number", "") or metadata.get(REQUEST_NUMBER_METADATA)
            started = time.perf_counter()
            code = grpc.StatusCode.OK
            with (
                request_number_context(number if isinstance(number, str) else None),
                _tracer.start_as_current_span(
                    full_method.lstrip("/"),
                    context=propagate.extract(metadata),
                    kind=SpanKind.SERVER,
                    attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": method},
                ) as span,
            ):
                try:
                    response = await inner(request, context)
                    code = _code_of(context) or grpc.StatusCode.OK
                    return response
                except BaseException:
                    code = _code_of(context) or grpc.StatusCode.UNKNOWN
                    raise
                finally:
                    span.set_attribute("rpc.grpc.status_code", code.value[0])
                    if code != grpc.StatusCode.OK:
                        span.set_status(Status(StatusCode.ERROR, code.name))
                    GRPC_REQUESTS.labels(service, method, code.name).inc()
                    GRPC_LATENCY.labels(service, method).observe(time.perf_counter() - started)

        return grpc.unary_unary_rpc_method_handler(
            observed,
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _code_of(context: grpc.aio.ServicerContext) -> grpc.StatusCode | None:
    try:
        code = context.code()
    except Exception:
        return None
    if isinstance(code, grpc.StatusCode):
        return code
    if isinstance(code, int):  # some grpc versions give the numeric value
        return next((c for c in grpc.StatusCode if c.value[0] == code), None)
    return None


class TracingClientInterceptor(grpc.aio.UnaryUnaryClientInterceptor):
    """A client span per call; its context and the request number travel as metadata."""

    async def intercept_unary_unary(
        self, continuation: Callable[..., Any], client_call_details: Any, request: Any
    ) -> Any:
        method = client_call_details.method
        if isinstance(method, bytes):
            method = method.decode()
        service, name = _split_method(method)
        with _tracer.start_as_current_span(
            method.lstrip("/"),
            kind=SpanKind.CLIENT,
            attributes={"rpc.system": "grpc", "rpc.service": service, "rpc.method": name},
        ) as span:
            carrier: dict[str, str] = {}
            propagate.inject(carrier)
            number = current_request_number()
            if number:
                carrier[REQUEST_NUMBER_METADATA] = number
            metadata = grpc.aio.Metadata(*(tuple(client_call_details.metadata or ())))
            for key, value in carrier.items():
                metadata.add(key, value)
            call = await continuation(client_call_details._replace(metadata=metadata), request)
            try:
                await call
            except grpc.aio.AioRpcError as error:
                span.set_status(Status(StatusCode.ERROR, error.code().name))
            return call


# --- HTTP gateway ------------------------------------------------------------------------

_REQUEST_NUMBER_IN_PATH = re.compile(r"/(\d{4}[0-9A-HJKMNP-TV-Z]{8})(?:/|$)")


def instrument_app(app: Any) -> None:
    """Adds the metrics/tracing/request-number middleware to a FastAPI/Starlette app."""
    app.add_middleware(ObservabilityMiddleware)


class ObservabilityMiddleware:
    """ASGI middleware: a server span continuing ``traceparent``, the request number from
    the path, and the requests counter / latency histogram labelled by route template."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method = scope.get("method", "GET")
        path = scope.get("path", "")
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope.get("headers", [])}
        match = _REQUEST_NUMBER_IN_PATH.search(path)
        status = 500
        started = time.perf_counter()

        async def send_wrapper(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        with (
            request_number_context(match.group(1) if match else None),
            _tracer.start_as_current_span(
                f"{method} {path}",
                context=propagate.extract(headers),
                kind=SpanKind.SERVER,
                attributes={"http.request.method": method, "url.path": path},
            ) as span,
        ):
            try:
                await self.app(scope, receive, send_wrapper)
            finally:
                route_object = scope.get("route")
                route = getattr(route_object, "path", None) or "unmatched"
                span.update_name(f"{method} {route}")
                span.set_attribute("http.route", route)
                span.set_attribute("http.response.status_code", status)
                if status >= 500:
                    span.set_status(Status(StatusCode.ERROR))
                HTTP_REQUESTS.labels(method, route, str(status)).inc()
                HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)
