"""How many events a consumer command dead-lettered: the queue's depth before and after.

A run whose summary said ``0 failed`` while events went to the dead-letter queue hid them
(issue 15.4); every consumer command now ends with the count and a warning when it is not 0.
The queue is the one the command was given (``--dlq-url``), else the one
``SHARDFLOW_DLQ_URL`` names, else the one named
:data:`shardflow.resources.DEAD_LETTER_QUEUE`. Depths are SQS' approximate counts: exact on
the emulators, close on AWS (other consumers of the queue change them too).
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

from consumers.deadletter_queue import queue_depth, queue_url_by_name
from shardflow import settings

if TYPE_CHECKING:
    from mypy_boto3_sqs.client import SQSClient


class DeadLetterCount:
    """Depth of the dead-letter queue at :meth:`start`, compared at :meth:`report`."""

    def __init__(self, command: str, sqs: SQSClient, *, url: str | None = None) -> None:
        self._command = command
        self._sqs = sqs
        self.url: str | None = url
        self._before: int | None = None

    def start(self) -> None:
        """Find the queue and read its depth (nothing when there is no queue)."""
        self.url = self.url or os.environ.get(settings.DLQ_URL) or queue_url_by_name(self._sqs)
        if self.url is not None:
            self._before = queue_depth(self._sqs, self.url)

    def added(self) -> int | None:
        """Messages added since :meth:`start`, or None when unknown."""
        if self.url is None or self._before is None:
            return None
        after = queue_depth(self._sqs, self.url)
        return None if after is None else max(after - self._before, 0)

    def report(self) -> int | None:
        """Print the count on stderr, and a warning when it is not 0; return it."""
        added = self.added()
        if added is None:
            return None
        say = f"shardflow {self._command}:"
        print(f"{say} {added} dead-lettered this run (queue {self.url})", file=sys.stderr)  # noqa: T201
        if added:
            print(  # noqa: T201
                f"{say} warning: {added} events were dead-lettered; `shardflow dlq list` "
                "shows them, `shardflow dlq redrive` sends them back once fixed",
                file=sys.stderr,
            )
        return added


__all__ = ("DeadLetterCount",)
