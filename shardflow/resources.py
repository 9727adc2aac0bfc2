"""Default names of the AWS resources shardflow uses, in one place.

The Terraform environments (``terraform/envs/*``), the embedded emulator's bootstrap and
the consumers' configuration all start from these names, so a local run, the tests and a
deployment agree on them. Each can be overridden by the environment variable named beside
it (see :mod:`shardflow.settings`) or by an explicit argument.
"""

from __future__ import annotations

from typing import Final

#: The Kinesis stream events go to.
STREAM: Final = "shardflow-events"
#: The bucket the S3 sink writes Athena-ready output to.
BUCKET: Final = "shardflow-output"
#: Prefix of the event data in the bucket (``events/dt=…/hr=…/``).
OUTPUT_PREFIX: Final = "events"
#: Prefix of oversize dead-lettered payloads in the bucket.
ERRORS_PREFIX: Final = "errors"
#: The SQS dead-letter queue poison records go to, with their payload.
DEAD_LETTER_QUEUE: Final = "shardflow-dlq"
#: The KCL application name, which is also its lease table's name.
KCL_APPLICATION: Final = "shardflow-kcl"
#: Powertools idempotency table of the Lambda consumer.
IDEMPOTENCY_TABLE: Final = "shardflow-idempotency"
