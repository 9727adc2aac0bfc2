"""The KCL consumer's dead-letter queue, from the launcher's side.

The processors read ``SHARDFLOW_DLQ_URL``. When neither ``--dlq-url`` nor the variable names
a queue, the launcher looks up the queue ``shardflow bootstrap`` creates by name, as the
Lambda consumer does, and passes its URL on: without one, the first poison record stops its
shard. When the daemon exits, the launcher counts what the run added to the queue.
"""

from __future__ import annotations

import dataclasses
import os
import sys
from typing import TYPE_CHECKING

from consumers.deadletter_queue import queue_depth, queue_url_by_name
from consumers.kcl.launcher import LaunchConfig
from shardflow import resources, settings

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient

_PREFIX = "shardflow consume kcl"


def _say(message: str) -> None:
    print(f"{_PREFIX}: {message}", file=sys.stderr)  # noqa: T201 - the launcher's terminal


def with_dead_letter_queue(config: LaunchConfig, sqs: SQSClient) -> tuple[LaunchConfig, str | None]:
    """``config`` with the dead-letter queue's URL for the processors, and that URL.

    Says on stderr which queue dead letters go to, or warns that there is none.
    """
    url = config.processor_env.get(settings.DLQ_URL) or os.environ.get(settings.DLQ_URL)
    if url:
        _say(f"dead letters go to {url}")
        return config, url
    url = queue_url_by_name(sqs, resources.DEAD_LETTER_QUEUE)
    if url is None:
        _say(
            f"warning: no dead-letter queue ({settings.DLQ_URL} unset, no queue named "
            f"{resources.DEAD_LETTER_QUEUE}): the first poison record stops its shard; "
            "create one with `shardflow bootstrap` or pass --dlq-url"
        )
        return config, None
    _say(f"dead letters go to {url} (the queue named {resources.DEAD_LETTER_QUEUE})")
    env = {**config.processor_env, settings.DLQ_URL: url}
    return dataclasses.replace(config, processor_env=env), url


def report_dead_letters(sqs: SQSClient, url: str | None, before: int | None) -> None:
    """Count what the run added to the queue; warn when it is anything."""
    if url is None or before is None:
        return
    after = queue_depth(sqs, url)
    if after is None:
        return
    added = max(after - before, 0)
    _say(f"{added} dead-lettered this run ({after} in {url})")
    if added:
        _say(f"warning: {added} events were dead-lettered: see `shardflow dlq list`")


__all__ = ("report_dead_letters", "with_dead_letter_queue")
