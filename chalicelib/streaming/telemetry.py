"""Structured logs and EMF metrics for the real-time flow (aws-lambda-powertools)."""

from __future__ import annotations

from collections.abc import Mapping

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

NAMESPACE = "ShopPulse"
SERVICE = "orders-realtime"

logger = Logger(service=SERVICE)


def publish_counts(function: str, counts: Mapping[str, int]) -> None:
    """One EMF document per batch, dimension `function`.

    EphemeralMetrics keeps no state shared between instances: the local runtime runs several
    functions in one process, and their batches must not mix.
    """
    metrics = EphemeralMetrics(namespace=NAMESPACE, service=SERVICE)
    metrics.add_dimension(name="function", value=function)
    for name, value in counts.items():
        metrics.add_metric(name=name, unit=MetricUnit.Count, value=value)
    metrics.flush_metrics()
