"""Logs, metrics and traces of the handler: powertools Logger, Metrics (EMF), Tracer.

* Logger: JSON lines with the invocation's request id as ``correlation_id``, the function's
  context and the shard; failures name the event ``id`` (the id producers assigned, which
  correlates an event end to end).
* Metrics: one EMF document per invocation in namespace ``SHARDFLOW_METRICS_NAMESPACE``
  with ``ProcessedEvents``, ``FailedEvents``, ``DeadLetteredEvents``, ``FailedRecords`` and
  ``IteratorAgeMilliseconds`` (now minus the last record's ``approximateArrivalTimestamp``,
  as Lambda's own IteratorAge), dimensions ``service`` and ``stream``. The handler keeps its
  own metric set, so several handlers (or the local runner's concurrent invocations) never
  mix their counts.
* Tracer: only with ``SHARDFLOW_TRACING=true``; otherwise not even imported (it pulls in
  the X-Ray SDK, a cold-start cost for nothing).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from typing import Any

from aws_lambda_powertools.logging import Logger
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import (
    AmazonCloudWatchEMFProvider,
)

from shardflow import settings
from shardflow.errors import ConfigError

#: Metric names, as they appear in CloudWatch.
PROCESSED = "ProcessedEvents"
FAILED = "FailedEvents"
DEAD_LETTERED = "DeadLetteredEvents"
FAILED_RECORDS = "FailedRecords"
ITERATOR_AGE = "IteratorAgeMilliseconds"


class Observability:
    """The handler's logger, metrics and (optional) tracer."""

    def __init__(
        self,
        *,
        service: str,
        namespace: str,
        tracing: bool = False,
        logger: Logger | logging.Logger | None = None,
        metrics: AmazonCloudWatchEMFProvider | None = None,
        log_level: str | None = None,
        emit_metrics: bool = True,
    ) -> None:
        # SHARDFLOW_LOG_LEVEL (the Terraform module sets it from log_level); unset, powertools
        # decides (AWS_LAMBDA_LOG_LEVEL, POWERTOOLS_LOG_LEVEL, then INFO).
        level = log_level or settings.env(settings.LOG_LEVEL)
        self.logger: Any = logger or Logger(service=service, level=level, utc=True)
        #: False keeps the EMF documents off stdout (an embedding program's own output).
        self.emit_metrics = emit_metrics
        # A private metric set: powertools' Metrics class shares one set per process.
        self.metrics = metrics or AmazonCloudWatchEMFProvider(
            namespace=namespace,
            service=service,
            metric_set={},
            dimension_set={},
            metadata_set={},
            default_dimensions={},
        )
        self._metrics_lock = threading.Lock()
        self.tracer: Any = _tracer(service) if tracing else None

    def bind(self, **keys: Any) -> None:
        """Add keys to every log line of this thread (the invocation under way)."""
        if isinstance(self.logger, Logger):
            self.logger.thread_safe_append_keys(**keys)

    def unbind(self) -> None:
        """Drop this thread's invocation keys."""
        if isinstance(self.logger, Logger):
            self.logger.thread_safe_clear_keys()

    def publish(
        self,
        counts: Mapping[str, int],
        *,
        iterator_age_ms: float | None,
        dimensions: Mapping[str, str],
    ) -> None:
        """Emit one EMF document with the invocation's counts."""
        with self._metrics_lock:
            for dim, label in dimensions.items():
                self.metrics.add_dimension(name=dim, value=label)
            for name, count in counts.items():
                self.metrics.add_metric(name=name, unit=MetricUnit.Count, value=count)
            if iterator_age_ms is not None:
                self.metrics.add_metric(
                    name=ITERATOR_AGE, unit=MetricUnit.Milliseconds, value=iterator_age_ms
                )
            try:
                if self.emit_metrics:
                    self.metrics.flush_metrics()
            finally:
                # flush_metrics keeps the set when POWERTOOLS_METRICS_DISABLED is on; a
                # long-running local runner must not accumulate it.
                self.metrics.clear_metrics()

    @contextmanager
    def segment(self, name: str, **annotations: str | int) -> Iterator[None]:
        """An X-Ray subsegment with annotations when tracing, nothing otherwise."""
        if self.tracer is None:
            with nullcontext():
                yield
            return
        with self.tracer.provider.in_subsegment(name) as subsegment:
            for key, value in annotations.items():
                subsegment.put_annotation(key=key, value=value)
            yield


def _tracer(service: str) -> Any:
    try:
        from aws_lambda_powertools.tracing import Tracer  # noqa: PLC0415 - only when enabled
    except ImportError as exc:  # aws-xray-sdk missing
        raise ConfigError(
            settings.TRACING,
            f"tracing needs aws-xray-sdk (package the function with --with-tracing): {exc}",
        ) from exc
    return Tracer(service=service)
