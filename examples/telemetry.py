"""Tracing and metrics with OpenTelemetry: a span per call, a child span per HTTP attempt, and
the GenAI metrics, printed by the SDK's console exporter.

    pip install "torouter[otel]" opentelemetry-sdk
    python examples/telemetry.py

Runs against the fake gateway of torouter.testing on 127.0.0.1 (no key, no network).  In an
application, configure the SDK once at start-up (or use ``opentelemetry-instrument``) with the
exporter of your backend (OTLP, Jaeger, ...) instead of the console.
"""

from __future__ import annotations

import sys
import textwrap

import torouter
from torouter.testing import FakeGateway, Outcome

try:
    from opentelemetry import metrics, trace
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor
except ImportError:
    sys.exit("this example needs the OpenTelemetry SDK: pip install opentelemetry-sdk")

SHOWN = ("gen_ai.", "torouter.", "error.type", "http.", "server.")


def one_line(span: ReadableSpan) -> str:
    """A compact rendering for the console exporter (its default is one JSON document a span)."""
    ms = ((span.end_time or 0) - (span.start_time or 0)) / 1e6
    indent = "    " if span.parent is not None else ""  # an attempt, under its call
    head = f"{indent}{span.name!r} {ms:.1f} ms {span.status.status_code.name}"
    attrs = " ".join(f"{k}={v!r}" for k, v in (span.attributes or {}).items()
                     if k.startswith(SHOWN) and k not in ("server.address", "server.port"))
    lines = [head, textwrap.fill(attrs, 96, initial_indent=indent + "  ",
                                 subsequent_indent=indent + "  ", break_long_words=False)]
    lines += [f"{indent}  event {e.name} {dict(e.attributes or {})}" for e in span.events]
    return "\n".join(lines) + "\n"


def setup() -> InMemoryMetricReader:
    """Global providers, as an application sets them up once (torouter uses them by default)."""
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(formatter=one_line)))
    trace.set_tracer_provider(provider)
    reader = InMemoryMetricReader()  # in an app: a PeriodicExportingMetricReader(OTLP...)
    metrics.set_meter_provider(MeterProvider(metric_readers=[reader]))
    return reader


def print_metrics(reader: InMemoryMetricReader) -> None:
    data = reader.get_metrics_data()
    for rm in data.resource_metrics if data else ():
        for sm in rm.scope_metrics:
            for metric in sm.metrics:
                print(f"{metric.name} ({metric.unit})")
                for point in metric.data.data_points:
                    a = point.attributes or {}
                    labels = ", ".join(f"{k}={a[k]}" for k in (
                        "gen_ai.operation.name", "gen_ai.request.model", "gen_ai.token.type",
                        "error.type") if k in a)
                    print(f"    {labels}: count={point.count} sum={point.sum:.4g}")


def main() -> None:
    reader = setup()
    gateway = FakeGateway(reply="Rivers carve valleys.")
    key = gateway.add_key(models="gpt-5-mini,text-embedding-3-small")
    messages = [{"role": "user", "content": "One sentence about rivers."}]
    with gateway.serve() as server, \
            torouter.ToRouter(api_key=key, base_url=server.base_url) as client:
        print("== a chat completion ==")
        client.chat.completions.create(model="gpt-5-mini", messages=messages, max_tokens=50)

        print("== the gateway answers 503 once: two attempts under one call span ==")
        gateway.script(Outcome.upstream_unavailable(503))
        client.chat.completions.create(model="gpt-5-mini", messages=messages)

        print("== a stream: its span ends when the stream does ==")
        with client.chat.completions.create(model="gpt-5-mini", messages=messages, stream=True,
                                            stream_options={"include_usage": True}) as stream:
            text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
        print(f"(streamed {text!r})")

        print("== a model this key may not use: a typed error ==")
        try:
            client.chat.completions.create(model="gpt-5", messages=messages)
        except torouter.AccessDenied as err:
            print(f"(caught {type(err).__name__})")

        print("== embeddings ==")
        client.embeddings.create(model="text-embedding-3-small", input="rivers")

    print("== metrics ==")
    print_metrics(reader)


if __name__ == "__main__":
    main()
