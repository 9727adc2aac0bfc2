"""Getting a machine ready for a local run: the resources Terraform would create on AWS.

Against a local endpoint (the embedded emulator, LocalStack) ``shardflow consume lambda``
creates what is missing: the checkpoint table, the OnFailure queue and what the handler
needs (bucket, dead-letter queue, idempotency and attempts tables). Against AWS it creates
nothing unless asked: there, Terraform owns the resources.
"""

from __future__ import annotations

import importlib
import logging
import os
from typing import Any

from botocore.exceptions import ClientError

from shardflow import aws, settings
from shardflow_tools.lambda_esm.checkpoints import ensure_table
from shardflow_tools.lambda_esm.config import MappingConfig, RunnerOptions

logger = logging.getLogger(__name__)

#: Module whose ``ensure_resources(...)`` creates what the default handler needs.
_HANDLER_RESOURCES = "consumers.lambda_handler.resources"


def prepare_local_run(
    *,
    stream: str,
    config: MappingConfig,
    options: RunnerOptions,
    create: bool | None = None,
    dynamodb_client: Any = None,
    sqs_client: Any = None,
) -> bool:
    """Name the function for the handler and create missing resources; True if it created.

    ``create=None`` creates only when ``AWS_ENDPOINT_URL`` is a loopback endpoint.
    """
    # The handler reads its function name from the variable the Lambda runtime sets.
    os.environ.setdefault(settings.LAMBDA_FUNCTION_NAME, options.function_name)
    if create is None:
        create = aws.is_local_endpoint(settings.endpoint_url())
    if not create:
        return False
    ddb = dynamodb_client or aws.client("dynamodb")
    ensure_table(ddb, options.checkpoint_table)
    if config.on_failure_queue_url:
        sqs = sqs_client or aws.client("sqs")
        name = config.on_failure_queue_url.rstrip("/").rsplit("/", 1)[-1]
        try:
            sqs.create_queue(QueueName=name)
        except ClientError as exc:
            logger.warning("cannot create OnFailure queue %s: %s", name, exc)
    del stream  # the handler learns its stream from each event
    try:
        module = importlib.import_module(_HANDLER_RESOURCES)
    except ImportError:
        logger.debug("handler resources module not available; skipping")
    else:
        handler_config = module.ensure_resources()
        # The default handler builds its configuration from the environment.
        os.environ.setdefault(settings.DLQ_URL, handler_config.dlq_url)
    return True
