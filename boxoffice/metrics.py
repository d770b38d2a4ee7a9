"""Prometheus metrics, one registry per app (no import-time globals)."""

from __future__ import annotations

import time
from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from strawberry.extensions import SchemaExtension


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.graphql_requests = Counter("boxoffice_graphql_requests", "GraphQL operations executed",
                                        ["operation_type"], registry=self.registry)
        self.graphql_latency = Histogram(
            "boxoffice_graphql_request_seconds", "GraphQL operation latency", ["operation_type"],
            buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5), registry=self.registry)
        self.holds = Counter("boxoffice_holds", "Hold attempts by outcome", ["outcome"], registry=self.registry)
        self.expired_holds = Counter("boxoffice_expired_holds", "Holds ended by the sweeper", registry=self.registry)
        # Cancelled shows' refund jobs (booking/refunds/): orders still confirmed plus refunds still owed,
        # as this process's last refund round saw them; 0 when every cancelled show is refunded.
        self.cancellation_refunds_left = Gauge("boxoffice_cancellation_refunds_left",
                                               "Orders of cancelled shows not refunded yet", registry=self.registry)
        self.hold_batch_size = Histogram(
            "boxoffice_hold_batch_size", "Reserved-seat holds per group-commit statement (booking/inventory/hold_batch.py)",
            buckets=(1, 2, 4, 8, 16, 32, 64), registry=self.registry)
        self.release_batch_size = Histogram(
            "boxoffice_release_batch_size", "Releases per group-commit statement (booking/inventory/release_batch.py)",
            buckets=(1, 2, 4, 8, 16, 32, 64), registry=self.registry)
        # Load shedding (shed_load.py), by lane: sheds/s is the rate of the first; the second counts
        # (and times) the requests that found every slot taken and waited, shed or not.
        self.shed_requests = Counter("boxoffice_shed_requests", "GraphQL requests answered 503 RATE_LIMITED",
                                     ["lane"], registry=self.registry)
        # Stripe webhooks refused (a bad signature: a wrong STRIPE_WEBHOOK_SECRET refuses them all,
        # and payments then wait for the reconciliation round).
        self.webhooks_refused = Counter("boxoffice_webhooks_refused", "Stripe webhooks answered 400",
                                        registry=self.registry)
        self.webhooks_refused_here = 0  # the same count, for the log's first, 100th and 10,000th
        self.shed_queue_wait = Histogram(
            "boxoffice_shed_queue_wait_seconds", "Wait for a slot of requests that found every slot taken",
            ["lane"], buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5), registry=self.registry)


class MetricsExtension(SchemaExtension):
    """Counts and times every operation by its type (query, mutation, subscription)."""

    def __init__(self, *, metrics: Metrics) -> None:
        self._metrics = metrics

    def on_operation(self) -> Iterator[None]:
        started = time.perf_counter()
        yield
        try:
            kind = self.execution_context.operation_type.value
        except Exception:  # the document did not parse: no operation type
            kind = "invalid"
        self._metrics.graphql_requests.labels(kind).inc()
        self._metrics.graphql_latency.labels(kind).observe(time.perf_counter() - started)
