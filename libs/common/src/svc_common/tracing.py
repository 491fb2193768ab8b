"""Distributed tracing (OpenTelemetry): one business story is one trace.

A request's server span (FastAPI instrumentation) is the parent of the
events the request emits: the envelope's `traceparent` (CloudEvents
distributed-tracing extension) is the span's context. A consumer's span
continues that context and is in turn the parent of what its handler emits,
so a filing accepted by eia-svc, reserved by quota-svc and settled back in
eia-svc is one trace across three processes. Database statements are spans
too (SQLAlchemy instrumentation), and the relay's publishing is a producer
span per event.

The exporter is configured by the standard variables only: with
OTEL_EXPORTER_OTLP_ENDPOINT (or …_TRACES_ENDPOINT) spans go over OTLP
(http/protobuf), with OTEL_TRACES_EXPORTER=console to stdout; with neither,
tracing is off and costs nothing (no middleware, no listeners, no thread).
OTEL_SDK_DISABLED, OTEL_TRACES_SAMPLER(_ARG), OTEL_RESOURCE_ATTRIBUTES,
OTEL_BSP_* and OTEL_EXPORTER_OTLP_HEADERS/TIMEOUT/COMPRESSION act as the
specification says. Nothing connects anywhere at start-up: spans are sent
in the background after they end.

Each service has its own tracer provider, so in the embedded default (three
services in one process) every span names the service it belongs to.

The aiokafka instrumentation is not used: it reads and writes a bare
`traceparent` header, while the envelope carries `ce_traceparent` (binary
mode), and it times fetches rather than the handling of an event. The
producer and consumer spans here follow the messaging conventions instead and
work the same over the in-process transport.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import structlog
from opentelemetry import trace
from opentelemetry.trace import SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

if TYPE_CHECKING:
    from fastapi import FastAPI
    from fastapi.telemetry import TelemetryConfig
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter
    from sqlalchemy.ext.asyncio import AsyncEngine

log = structlog.get_logger(__name__)

#: FastAPI's own OpenTelemetry hooks, off in every app here: a request's span
#: is this module's (the FastAPI instrumentation, only when tracing is on)
#: and metrics are Prometheus's. Left on, FastAPI asks OpenTelemetry for its
#: global providers on every request (4 µs) only to find them unconfigured.
FASTAPI_TELEMETRY: TelemetryConfig = {"tracing": False, "metrics": False, "logs": False}

_propagator = TraceContextTextMapPropagator()
#: Set by tests (`use_exporter`): every service started meanwhile exports
#: synchronously to it, whatever the environment says.
_test_exporter: SpanExporter | None = None


def current_traceparent() -> str | None:
    """The W3C traceparent of the active span, or None when no span is active."""
    ctx = trace.get_current_span().get_span_context()
    if not ctx.is_valid:
        return None
    return f"00-{ctx.trace_id:032x}-{ctx.span_id:016x}-{int(ctx.trace_flags):02x}"


def _parent(traceparent: str | None) -> Any:
    return _propagator.extract({"traceparent": traceparent}) if traceparent else None


class Tracing:
    """One service's tracing: its tracer, or nothing when tracing is off."""

    def __init__(self, service: str, provider: TracerProvider | None = None) -> None:
        self.service = service
        self.provider = provider
        self.tracer = (provider or trace.NoOpTracerProvider()).get_tracer("svc_common")
        self._engine_tracers: list[Any] = []

    @property
    def enabled(self) -> bool:
        return self.provider is not None

    def instrument_app(self, app: FastAPI, prefix: str) -> None:
        if self.provider is None:
            return
        from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

        # Probes and scrapes would be most of the spans of an idle service.
        quiet = ",".join(f"{base}/(health|ready|metrics)$" for base in ("^", f"^{prefix}"))
        FastAPIInstrumentor.instrument_app(
            app,
            tracer_provider=self.provider,
            excluded_urls=quiet,
            exclude_spans=["receive", "send"],
        )

    def instrument_engine(self, engine: AsyncEngine) -> None:
        """Statement spans for one engine. `SQLAlchemyInstrumentor().instrument`
        is process-wide and binds the first tracer provider to every engine
        created afterwards; an `EngineTracer` per engine keeps each service's
        statements under its own provider."""
        if self.provider is None:
            return
        from opentelemetry.instrumentation.sqlalchemy import __version__
        from opentelemetry.instrumentation.sqlalchemy.engine import EngineTracer
        from opentelemetry.metrics import get_meter

        tracer = self.provider.get_tracer("opentelemetry.instrumentation.sqlalchemy", __version__)
        usage = get_meter("opentelemetry.instrumentation.sqlalchemy").create_up_down_counter(
            "db.client.connections.usage", unit="connections"
        )
        self._engine_tracers.append(EngineTracer(tracer, engine.sync_engine, usage))

    @contextlib.contextmanager
    def consumer_span(
        self,
        *,
        event_id: str,
        event_type: str,
        source: str,
        topic: str,
        group: str,
        traceparent: str | None,
        attempt: int,
    ) -> Iterator[str | None]:
        """The span of one attempt at handling an event, child of the span
        that emitted it; yields its traceparent (None when tracing is off)."""
        if self.provider is None:
            yield None
            return
        with self.tracer.start_as_current_span(
            f"process {event_type}",
            context=_parent(traceparent),
            kind=SpanKind.CONSUMER,
            attributes={
                "messaging.system": "kafka",
                "messaging.operation.type": "process",
                "messaging.destination.name": topic,
                "messaging.consumer.group.name": group,
                "messaging.message.id": event_id,
                "cloudevents.event_id": event_id,
                "cloudevents.event_type": event_type,
                "cloudevents.event_source": source,
                "svc.attempt": attempt,
            },
        ):
            yield current_traceparent()

    def publish_spans(
        self, envelopes: Sequence[dict[str, Any]], topics: Sequence[str]
    ) -> list[Any]:
        """Producer spans for a batch the relay is about to publish, each a
        child of the span that emitted the event; end them with `end_publish`."""
        if self.provider is None:
            return []
        return [
            self.tracer.start_span(
                f"publish {env.get('type')}",
                context=_parent(env.get("traceparent")),
                kind=SpanKind.PRODUCER,
                attributes={
                    "messaging.system": "kafka",
                    "messaging.operation.type": "send",
                    "messaging.destination.name": topic,
                    "messaging.message.id": str(env.get("id")),
                    "cloudevents.event_type": str(env.get("type")),
                },
            )
            for env, topic in zip(envelopes, topics, strict=True)
        ]

    @staticmethod
    def end_publish(spans: list[Any], results: Sequence[BaseException | None]) -> None:
        for span, err in zip(spans, results, strict=False):
            if err is not None:
                span.record_exception(err)
                span.set_status(Status(StatusCode.ERROR, type(err).__name__))
            span.end()

    def shutdown(self) -> None:
        if self.provider is not None:
            self.provider.shutdown()


def _exporters() -> list[SpanExporter]:
    if os.environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return []
    names = os.environ.get("OTEL_TRACES_EXPORTER")
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    wanted = (
        [n.strip().lower() for n in names.split(",") if n.strip()]
        if names
        else (["otlp"] if endpoint else [])
    )
    exporters: list[SpanExporter] = []
    for name in wanted:
        if name == "otlp":
            protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
                "OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"
            )
            if protocol != "http/protobuf":
                log.warning(
                    "only OTLP over http/protobuf is installed; exporting with it",
                    protocol=protocol,
                )
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            exporters.append(OTLPSpanExporter())  # reads the OTEL_EXPORTER_OTLP_* variables
        elif name == "console":
            from opentelemetry.sdk.trace.export import ConsoleSpanExporter

            exporters.append(ConsoleSpanExporter())
        elif name != "none":
            log.warning("unknown OTEL_TRACES_EXPORTER ignored", exporter=name)
    return exporters


def _sampler() -> Any:
    """The sampler OTEL_TRACES_SAMPLER names (parent-based always-on by
    default), except that a database statement outside any trace (the relay's
    sweeps, the metrics refresh, sweepers) starts none: those would be a
    trace of one span every few seconds."""
    from opentelemetry.sdk.trace import sampling

    configured = sampling._get_from_env_or_default()

    class NoLoneStatements(sampling.Sampler):
        def should_sample(
            self,
            parent_context: Any,
            trace_id: int,
            name: str,
            kind: SpanKind | None = None,
            attributes: Any = None,
            links: Any = None,
            trace_state: Any = None,
        ) -> sampling.SamplingResult:
            parent = trace.get_current_span(parent_context).get_span_context()
            if kind == SpanKind.CLIENT and not parent.is_valid:
                return sampling.SamplingResult(sampling.Decision.DROP)
            return configured.should_sample(
                parent_context, trace_id, name, kind, attributes, links, trace_state
            )

        def get_description(self) -> str:
            return f"NoLoneStatements({configured.get_description()})"

    return NoLoneStatements()


def setup(service: str) -> Tracing:
    """The service's tracing as the environment (or a test) configures it."""
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create({SERVICE_NAME: service})
    if _test_exporter is not None:
        provider = TracerProvider(resource=resource, sampler=_sampler())
        provider.add_span_processor(SimpleSpanProcessor(_test_exporter))
        return Tracing(service, provider)
    exporters = _exporters()
    if not exporters:
        return Tracing(service)
    provider = TracerProvider(resource=resource, sampler=_sampler())
    for exporter in exporters:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    log.info("tracing on", service=service, exporters=[type(e).__name__ for e in exporters])
    return Tracing(service, provider)


@contextlib.contextmanager
def use_exporter(exporter: SpanExporter) -> Iterator[SpanExporter]:
    """Tests: services set up inside the block export every span to `exporter`
    (e.g. the SDK's InMemorySpanExporter) as soon as it ends."""
    global _test_exporter
    previous, _test_exporter = _test_exporter, exporter
    try:
        yield exporter
    finally:
        _test_exporter = previous
