"""Getting a machine ready for a local run: the resources Terraform would create on AWS.

Against a local endpoint (the embedded emulator, LocalStack) ``shardflow consume lambda``
creates what is missing through bootstrap's spec (:func:`local_run_spec`): the checkpoint
table, the OnFailure queue and what the handler needs (bucket, dead-letter queue,
idempotency and attempts tables), encrypted with the local key as ``shardflow bootstrap``
does. Against AWS it creates nothing unless asked: there, Terraform owns the resources.

The default handler's configuration (:func:`handler_config`) is passed to the handler as an
argument: the function name the runner checkpoints under, and the dead-letter queue's URL
once the queue exists.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING

from botocore.config import Config

from shardflow import aws, resources, settings
from shardflow_tools.bootstrap import (
    BootstrapSpec,
    KeySpec,
    QueueSpec,
    bootstrap,
    checkpoint_table,
)
from shardflow_tools.lambda_esm.config import MappingConfig, RunnerOptions

if TYPE_CHECKING:
    from consumers.lambda_handler import HandlerConfig
    from consumers.lambda_handler.clients import Clients

logger = logging.getLogger(__name__)

__all__ = ["handler_clients", "handler_config", "local_run_spec", "prepare_local_run"]

#: The settings of the handler's own clients (``consumers.lambda_handler.clients``): timeouts
#: that retry within an invocation, a pool for the runner's threads sharing one handler.
_HANDLER_CLIENT_CONFIG = Config(
    connect_timeout=5,
    read_timeout=30,
    retries={"mode": "standard", "max_attempts": 5},
    max_pool_connections=32,
)


def handler_config(
    options: RunnerOptions, overrides: Mapping[str, object] | None = None
) -> HandlerConfig | None:
    """The default handler's configuration (``overrides``, then ``SHARDFLOW_*`` variables)
    under the runner's function name; None when the handler's package (the ``lambda``
    extra) is not installed."""
    try:
        from consumers.lambda_handler import HandlerConfig  # noqa: PLC0415 - "lambda" extra
    except ImportError:
        logger.debug("handler package not available; no handler configuration")
        return None
    return HandlerConfig.from_env(**{**(overrides or {}), "function_name": options.function_name})


def handler_clients(options: RunnerOptions) -> Clients:
    """The default handler's S3, SQS and DynamoDB clients in the runner's region and at its
    endpoint (``Clients`` takes an endpoint, not a region, so they are built here)."""
    from consumers.lambda_handler.clients import Clients  # noqa: PLC0415 - "lambda" extra

    built = {
        service: aws.client(
            service,
            region=options.region,
            endpoint_url=options.endpoint_url,
            config=_HANDLER_CLIENT_CONFIG,
        )
        for service in ("s3", "sqs", "dynamodb")
    }
    return Clients(**built)


def local_run_spec(
    *, config: MappingConfig, options: RunnerOptions, handler: HandlerConfig | None
) -> BootstrapSpec:
    """The checkpoint table, the OnFailure queue (when configured) and, given the handler's
    configuration, what the handler needs, under the local key of ``shardflow bootstrap``."""
    queues: tuple[QueueSpec, ...] = ()
    if config.on_failure_queue_url:
        queues = (QueueSpec(config.on_failure_queue_url.rstrip("/").rsplit("/", 1)[-1]),)
    spec = BootstrapSpec(
        key=KeySpec(resources.KMS_KEY_ALIAS),
        tables=(checkpoint_table(options.checkpoint_table),),
        queues=queues,
    )
    if handler is None:
        return spec
    from shardflow_tools.lambda_esm.resources import handler_spec  # noqa: PLC0415 - "lambda" extra

    needs = handler_spec(handler)
    return dataclasses.replace(
        spec,
        tables=spec.tables + needs.tables,
        buckets=needs.buckets,
        queues=spec.queues + tuple(q for q in needs.queues if q not in spec.queues),
    )


def prepare_local_run(
    *,
    config: MappingConfig,
    options: RunnerOptions,
    handler: HandlerConfig | None = None,
    create: bool | None = None,
    endpoint_url: str | None = None,
    region: str | None = None,
) -> HandlerConfig | None:
    """Create the missing resources of the run (:func:`local_run_spec`) when ``create``;
    return ``handler`` with the dead-letter queue's URL filled in once it exists.

    ``create=None`` creates only when the endpoint (``endpoint_url``, else
    ``AWS_ENDPOINT_URL``) is a loopback endpoint; resources are created in ``region`` (else
    ``AWS_REGION``). Raises
    :class:`shardflow_tools.bootstrap.BootstrapError` naming a resource that failed.
    """
    endpoint_url = endpoint_url or settings.endpoint_url()
    if create is None:
        create = aws.is_local_endpoint(endpoint_url)
    if not create:
        return handler
    spec = local_run_spec(config=config, options=options, handler=handler)
    report = bootstrap(spec, endpoint_url=endpoint_url, region=region)
    if handler is None or handler.dlq_url is not None:
        return handler
    from shardflow_tools.lambda_esm.resources import dead_letter_queue_name  # noqa: PLC0415

    queue = dead_letter_queue_name(handler)
    return dataclasses.replace(handler, dlq_url=report.queue_urls[queue])
