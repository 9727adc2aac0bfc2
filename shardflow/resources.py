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
#: Attribute names of the idempotency table (powertools' DynamoDB persistence defaults).
IDEMPOTENCY_KEY_ATTR: Final = "id"
IDEMPOTENCY_TTL_ATTR: Final = "expiration"
#: Checkpoints of the local event-source-mapping runner: one item per (consumer, shard).
CHECKPOINT_TABLE: Final = "shardflow-checkpoints"
CHECKPOINT_HASH_KEY: Final = "consumer"
CHECKPOINT_RANGE_KEY: Final = "shard_id"
#: Attempt counts of records that keep failing (poison detection in the Lambda consumer).
ATTEMPTS_TABLE: Final = "shardflow-attempts"
ATTEMPTS_KEY_ATTR: Final = "record_key"
ATTEMPTS_TTL_ATTR: Final = "expires_at"
#: Key attribute of the KCL lease table (created by the KCL itself, or by Terraform).
KCL_LEASE_KEY_ATTR: Final = "leaseKey"
#: Default name of the Lambda consumer function (and of the local runner's consumer).
LAMBDA_FUNCTION: Final = "shardflow-consumer"
#: Lambda's own OnFailure destination of the event source mapping: an SQS queue that gets
#: the metadata (shard, sequence range) of a batch Lambda gave up on. Separate from the DLQ,
#: whose messages carry the poison record's payload.
ON_FAILURE_QUEUE: Final = "shardflow-lambda-failures"
#: Glue database and table over the S3 output (Athena, partition projection).
GLUE_DATABASE: Final = "shardflow"
GLUE_TABLE: Final = "events"
#: Athena workgroup whose results are encrypted; results go under ``athena-results/``.
ATHENA_WORKGROUP: Final = "shardflow"
ATHENA_RESULTS_PREFIX: Final = "athena-results"
#: The KMS key alias local bootstraps encrypt with (Terraform modules create their own keys).
KMS_KEY_ALIAS: Final = "alias/shardflow"
#: KCL 3's lease-table index (hash ``leaseOwner``, range ``leaseKey``, keys only) and its two
#: other tables, named after the application: ``<app>-CoordinatorState`` (key ``key``) and
#: ``<app>-WorkerMetricStats`` (key ``wid``). Terraform may pre-create all three.
KCL_LEASE_OWNER_ATTR: Final = "leaseOwner"
KCL_LEASE_OWNER_INDEX: Final = "LeaseOwnerToLeaseKeyIndex"
KCL_COORDINATOR_STATE_SUFFIX: Final = "-CoordinatorState"
KCL_COORDINATOR_STATE_KEY_ATTR: Final = "key"
KCL_WORKER_METRICS_SUFFIX: Final = "-WorkerMetricStats"
KCL_WORKER_METRICS_KEY_ATTR: Final = "wid"
