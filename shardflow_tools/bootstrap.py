"""Create the AWS resources a local shardflow run needs, on any endpoint.

This is the Python twin of ``terraform/envs/localstack``: :func:`default_spec` declares the
same KMS key alias, stream, tables (keys, TTL attribute, encryption, point-in-time
recovery, the KCL lease index), bucket (versioning, SSE-KMS, public access block, TLS-only
policy) and queues (SSE-KMS) that the Terraform environment declares, and
:func:`bootstrap` creates them, idempotently, on the embedded emulator, LocalStack or any
other endpoint. ``tests/unit/terraform/test_drift.py`` parses the HCL and compares it with
:func:`default_spec`, so the two cannot drift apart.

What the Terraform modules add on AWS and this module leaves out: IAM roles, CloudWatch
alarms, the Lambda function and its event source mapping, the Glue table and Athena
workgroup, lifecycle rules (an emulator does not age objects).

Bootstrapping converges: a missing resource is created; an existing one gets the settings
it lacks (TTL, encryption, PITR, bucket configuration); a table whose key schema differs
from the spec is an error (code written for one key schema fails in confusing ways on
another). A setting the endpoint does not implement is reported, not fatal.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal

from botocore.exceptions import BotoCoreError, ClientError

from shardflow import aws, resources
from shardflow.errors import ConfigError, ShardflowError

__all__ = [
    "BootstrapError",
    "BootstrapReport",
    "BootstrapSpec",
    "BucketSpec",
    "IndexSpec",
    "KeySpec",
    "Outcome",
    "QueueSpec",
    "ResourceOutcome",
    "StreamSpec",
    "TableSpec",
    "attempts_table",
    "bootstrap",
    "checkpoint_table",
    "default_spec",
    "idempotency_table",
    "kcl_tables",
    "puts_tls_only_policy",
    "tls_only_policy",
]

logger = logging.getLogger(__name__)

#: Error codes with which emulators answer an operation they do not implement.
_UNSUPPORTED_CODES: Final = frozenset(
    {
        "NotImplemented",
        "NotImplementedError",
        "InternalFailure",
        "UnknownOperationException",
        "UnsupportedOperation",
        "InvalidAction",
    }
)
_POLL_INTERVAL: Final = 0.1
_DEFAULT_WAIT: Final = 60.0

Outcome = Literal["created", "updated", "exists", "unsupported"]


class BootstrapError(ShardflowError):
    """A resource could not be created or is incompatible with the spec.

    ``resource`` names it (``"dynamodb table shardflow-idempotency"``); ``error_code`` is
    the AWS error code when the endpoint returned one.
    """

    def __init__(self, message: str, *, resource: str, error_code: str | None = None) -> None:
        super().__init__(f"{resource}: {message}")
        self.resource = resource
        self.error_code = error_code


# --- Specs ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class KeySpec:
    """A customer managed KMS key, found and named by its alias (``alias/...``)."""

    alias: str
    description: str = "shardflow local resources"

    def __post_init__(self) -> None:
        if not self.alias.startswith("alias/") or self.alias.startswith("alias/aws/"):
            raise ConfigError("KeySpec.alias", f"{self.alias!r} must start with alias/ (not aws/)")


@dataclass(frozen=True, slots=True)
class StreamSpec:
    """A Kinesis stream: ``shard_count`` shards (PROVISIONED) or ON_DEMAND when None."""

    name: str
    shard_count: int | None = 2
    retention_hours: int = 24
    encrypted: bool = True

    def __post_init__(self) -> None:
        if self.shard_count is not None and self.shard_count < 1:
            raise ConfigError("StreamSpec.shard_count", f"{self.shard_count} must be >= 1")
        if not 24 <= self.retention_hours <= 8760:
            raise ConfigError(
                "StreamSpec.retention_hours", f"{self.retention_hours} must be in 24..8760"
            )

    @property
    def mode(self) -> Literal["PROVISIONED", "ON_DEMAND"]:
        """The capacity mode the shard count implies."""
        return "ON_DEMAND" if self.shard_count is None else "PROVISIONED"


@dataclass(frozen=True, slots=True)
class IndexSpec:
    """A global secondary index (string keys)."""

    name: str
    hash_key: str
    range_key: str | None = None
    projection: Literal["KEYS_ONLY", "ALL"] = "KEYS_ONLY"


@dataclass(frozen=True, slots=True)
class TableSpec:
    """A PAY_PER_REQUEST DynamoDB table with string keys."""

    name: str
    hash_key: str
    range_key: str | None = None
    ttl_attribute: str | None = None
    encrypted: bool = True
    point_in_time_recovery: bool = True
    indexes: tuple[IndexSpec, ...] = ()

    @property
    def key_schema(self) -> tuple[tuple[str, str], ...]:
        """``((attribute, "HASH"), (attribute, "RANGE"))`` as DynamoDB describes it."""
        keys = [(self.hash_key, "HASH")]
        if self.range_key:
            keys.append((self.range_key, "RANGE"))
        return tuple(keys)

    @property
    def attributes(self) -> tuple[str, ...]:
        """Every attribute a key of the table or of an index names, sorted."""
        names = {self.hash_key, *(i.hash_key for i in self.indexes)}
        names |= {k for k in (self.range_key, *(i.range_key for i in self.indexes)) if k}
        return tuple(sorted(names))


@dataclass(frozen=True, slots=True)
class BucketSpec:
    """An S3 bucket: versioned, SSE-KMS with the spec's key, private, TLS-only."""

    name: str
    versioned: bool = True
    encrypted: bool = True
    block_public_access: bool = True
    tls_only: bool = True


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """An SQS queue, SSE-KMS with the spec's key."""

    name: str
    encrypted: bool = True
    message_retention_seconds: int = 1_209_600


@dataclass(frozen=True, slots=True)
class BootstrapSpec:
    """Everything :func:`bootstrap` creates. ``key`` encrypts every resource whose spec says
    ``encrypted`` (without a key they get the service's default encryption)."""

    key: KeySpec | None
    streams: tuple[StreamSpec, ...] = ()
    tables: tuple[TableSpec, ...] = ()
    buckets: tuple[BucketSpec, ...] = ()
    queues: tuple[QueueSpec, ...] = ()

    def with_prefix(self, prefix: str) -> BootstrapSpec:
        """The same spec with ``prefix`` before every name (parallel stacks, tests).

        A prefix keeps the KCL's ``<application>-CoordinatorState`` naming intact.
        """
        if prefix != prefix.lower():
            raise ConfigError("prefix", f"{prefix!r} must be lower case (it prefixes bucket names)")
        return BootstrapSpec(
            key=None
            if self.key is None
            else replace(self.key, alias=f"alias/{prefix}{self.key.alias[len('alias/') :]}"),
            streams=tuple(replace(s, name=prefix + s.name) for s in self.streams),
            tables=tuple(replace(t, name=prefix + t.name) for t in self.tables),
            buckets=tuple(replace(b, name=prefix + b.name) for b in self.buckets),
            queues=tuple(replace(q, name=prefix + q.name) for q in self.queues),
        )


def idempotency_table(name: str = resources.IDEMPOTENCY_TABLE) -> TableSpec:
    """Powertools' idempotency table of the Lambda consumer (key ``id``, TTL ``expiration``)."""
    return TableSpec(
        name, hash_key=resources.IDEMPOTENCY_KEY_ATTR, ttl_attribute=resources.IDEMPOTENCY_TTL_ATTR
    )


def attempts_table(name: str = resources.ATTEMPTS_TABLE) -> TableSpec:
    """The Lambda consumer's attempt counts of failing events (TTL ``expires_at``)."""
    return TableSpec(
        name, hash_key=resources.ATTEMPTS_KEY_ATTR, ttl_attribute=resources.ATTEMPTS_TTL_ATTR
    )


def checkpoint_table(name: str = resources.CHECKPOINT_TABLE) -> TableSpec:
    """The local event source mapping's checkpoints: one item per (consumer, shard)."""
    return TableSpec(
        name, hash_key=resources.CHECKPOINT_HASH_KEY, range_key=resources.CHECKPOINT_RANGE_KEY
    )


def kcl_tables(application: str = resources.KCL_APPLICATION) -> tuple[TableSpec, ...]:
    """KCL 3's three tables for ``application``: leases (with the owner index), coordinator
    state and worker metrics."""
    return (
        TableSpec(
            application,
            hash_key=resources.KCL_LEASE_KEY_ATTR,
            indexes=(
                IndexSpec(
                    resources.KCL_LEASE_OWNER_INDEX,
                    hash_key=resources.KCL_LEASE_OWNER_ATTR,
                    range_key=resources.KCL_LEASE_KEY_ATTR,
                ),
            ),
        ),
        TableSpec(
            application + resources.KCL_COORDINATOR_STATE_SUFFIX,
            hash_key=resources.KCL_COORDINATOR_STATE_KEY_ATTR,
        ),
        TableSpec(
            application + resources.KCL_WORKER_METRICS_SUFFIX,
            hash_key=resources.KCL_WORKER_METRICS_KEY_ATTR,
        ),
    )


def default_spec() -> BootstrapSpec:
    """What ``terraform/envs/localstack`` declares, with the names in :mod:`shardflow.resources`."""
    return BootstrapSpec(
        key=KeySpec(alias=resources.KMS_KEY_ALIAS),
        streams=(StreamSpec(resources.STREAM, shard_count=2, retention_hours=24),),
        tables=(idempotency_table(), attempts_table(), checkpoint_table(), *kcl_tables()),
        buckets=(BucketSpec(resources.BUCKET),),
        queues=(QueueSpec(resources.DEAD_LETTER_QUEUE), QueueSpec(resources.ON_FAILURE_QUEUE)),
    )


# --- Report -----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ResourceOutcome:
    """What bootstrapping did to one resource (``detail`` says what was updated or missing)."""

    resource: str
    outcome: Outcome
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.outcome:<11} {self.resource}" + (f" ({self.detail})" if self.detail else "")


@dataclass(slots=True)
class BootstrapReport:
    """The outcome per resource, in creation order, and the identifiers callers need."""

    outcomes: list[ResourceOutcome] = field(default_factory=list)
    key_arn: str | None = None
    queue_urls: dict[str, str] = field(default_factory=dict)

    def __iter__(self) -> Iterator[ResourceOutcome]:
        return iter(self.outcomes)

    def by_outcome(self, outcome: Outcome) -> list[str]:
        """Names of the resources with ``outcome``."""
        return [o.resource for o in self.outcomes if o.outcome == outcome]

    @property
    def changed(self) -> bool:
        """True when anything was created or updated."""
        return any(o.outcome in ("created", "updated") for o in self.outcomes)


# --- Bootstrapping ----------------------------------------------------------------------------


def bootstrap(
    spec: BootstrapSpec | None = None,
    *,
    endpoint_url: str | None = None,
    region: str | None = None,
    client_factory: Callable[[str], Any] | None = None,
    clients: Mapping[str, Any] | None = None,
    wait_timeout: float = _DEFAULT_WAIT,
) -> BootstrapReport:
    """Create what ``spec`` (default: :func:`default_spec`) declares; return what was done.

    ``clients`` maps a service name (``"s3"``, ``"dynamodb"``, ...) to the boto3 client to
    use for it; the other clients come from ``client_factory(service_name)``, by default
    :func:`shardflow.aws.client` with ``endpoint_url`` (else ``AWS_ENDPOINT_URL``) and
    ``region``. Waits for streams and tables to become ACTIVE for at most ``wait_timeout``
    seconds each. Raises :class:`BootstrapError` naming the resource on failure.
    """
    spec = spec or default_spec()
    factory = client_factory or (
        lambda service: aws.client(service, endpoint_url=endpoint_url, region=region)
    )
    run = _Run(factory, wait_timeout, dict(clients or {}))
    if spec.key is not None:
        run.report.key_arn = run.key(spec.key)
    for stream in spec.streams:
        run.stream(stream)
    for table in spec.tables:
        run.table(table)
    for bucket in spec.buckets:
        run.bucket(bucket)
    for queue in spec.queues:
        run.queue(queue)
    return run.report


class _Run:
    """One bootstrap: lazily built clients, the key ARN, the report."""

    def __init__(
        self, factory: Callable[[str], Any], wait_timeout: float, clients: dict[str, Any]
    ) -> None:
        self._factory = factory
        self._clients = clients
        self._wait_timeout = wait_timeout
        self.report = BootstrapReport()

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._factory(service)
        return self._clients[service]

    def _record(self, resource: str, outcome: Outcome, detail: str = "") -> None:
        entry = ResourceOutcome(resource, outcome, detail)
        logger.info("%s", entry)
        self.report.outcomes.append(entry)

    def _call(self, resource: str, what: str, fn: Callable[..., Any], **kwargs: Any) -> Any:
        """``fn(**kwargs)`` with errors translated to :class:`BootstrapError`."""
        try:
            return fn(**kwargs)
        except ClientError as exc:
            raise BootstrapError(
                f"{what} failed: {exc}", resource=resource, error_code=aws.error_code(exc)
            ) from exc
        except BotoCoreError as exc:
            raise BootstrapError(f"{what} failed: {exc}", resource=resource) from exc

    def _optional(
        self, resource: str, what: str, fn: Callable[..., Any], **kwargs: Any
    ) -> tuple[bool, Any]:
        """Like :meth:`_call`, but an operation the endpoint does not implement gives
        ``(False, None)`` instead of an error."""
        try:
            return True, fn(**kwargs)
        except ClientError as exc:
            if aws.error_code(exc) in _UNSUPPORTED_CODES:
                logger.warning("%s: %s not supported by this endpoint: %s", resource, what, exc)
                return False, None
            raise BootstrapError(
                f"{what} failed: {exc}", resource=resource, error_code=aws.error_code(exc)
            ) from exc
        except BotoCoreError as exc:
            raise BootstrapError(f"{what} failed: {exc}", resource=resource) from exc

    def _describe(
        self, resource: str, what: str, missing: str, fn: Callable[..., Any], **kwargs: Any
    ) -> Any:
        """``fn(**kwargs)``, or None when the endpoint answers with the ``missing`` error code
        (the resource does not exist yet); other errors as :class:`BootstrapError`."""
        try:
            return fn(**kwargs)
        except ClientError as exc:
            if aws.error_code(exc) == missing:
                return None
            raise BootstrapError(
                f"{what} failed: {exc}", resource=resource, error_code=aws.error_code(exc)
            ) from exc

    def _wait(self, resource: str, is_ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + self._wait_timeout
        while not is_ready():
            if time.monotonic() > deadline:
                raise BootstrapError(
                    f"not ACTIVE after {self._wait_timeout:.0f}s", resource=resource
                )
            time.sleep(_POLL_INTERVAL)

    # --- KMS ------------------------------------------------------------------------------

    def key(self, spec: KeySpec) -> str:
        resource = f"kms key {spec.alias}"
        kms = self._client("kms")
        found = self._describe(
            resource, "DescribeKey", "NotFoundException", kms.describe_key, KeyId=spec.alias
        )
        if found is not None:
            self._record(resource, "exists")
            arn: str = found["KeyMetadata"]["Arn"]
            return arn
        meta = self._call(resource, "CreateKey", kms.create_key, Description=spec.description)
        arn = meta["KeyMetadata"]["Arn"]
        self._call(resource, "CreateAlias", kms.create_alias, AliasName=spec.alias, TargetKeyId=arn)
        detail = ""
        ok, _ = self._optional(resource, "EnableKeyRotation", kms.enable_key_rotation, KeyId=arn)
        if not ok:
            detail = "rotation not supported by this endpoint"
        self._record(resource, "created", detail)
        return arn

    # --- Kinesis --------------------------------------------------------------------------

    def stream(self, spec: StreamSpec) -> None:
        resource = f"kinesis stream {spec.name}"
        kinesis = self._client("kinesis")

        def summary() -> dict[str, Any] | None:
            found = self._describe(
                resource,
                "DescribeStreamSummary",
                "ResourceNotFoundException",
                kinesis.describe_stream_summary,
                StreamName=spec.name,
            )
            return None if found is None else found["StreamDescriptionSummary"]

        def active() -> bool:
            current = summary()
            return current is not None and current["StreamStatus"] == "ACTIVE"

        current = summary()
        outcome: Outcome = "exists"
        details: list[str] = []
        if current is None:
            kwargs: dict[str, Any] = {
                "StreamName": spec.name,
                "StreamModeDetails": {"StreamMode": spec.mode},
            }
            if spec.shard_count is not None:
                kwargs["ShardCount"] = spec.shard_count
            self._call(resource, "CreateStream", kinesis.create_stream, **kwargs)
            outcome = "created"
        self._wait(resource, active)
        current = summary()
        assert current is not None
        if current.get("RetentionPeriodHours", 24) < spec.retention_hours:
            self._call(
                resource,
                "IncreaseStreamRetentionPeriod",
                kinesis.increase_stream_retention_period,
                StreamName=spec.name,
                RetentionPeriodHours=spec.retention_hours,
            )
            self._wait(resource, active)
            details.append(f"retention {spec.retention_hours} h")
        if spec.encrypted and current.get("EncryptionType", "NONE") != "KMS":
            key = self.report.key_arn or "alias/aws/kinesis"
            ok, _ = self._optional(
                resource,
                "StartStreamEncryption",
                kinesis.start_stream_encryption,
                StreamName=spec.name,
                EncryptionType="KMS",
                KeyId=key,
            )
            if ok:
                self._wait(resource, active)
                details.append("encryption KMS")
            else:
                details.append("encryption not supported by this endpoint")
        self._record(resource, _converged(outcome, details), ", ".join(details))

    # --- DynamoDB -------------------------------------------------------------------------

    def table(self, spec: TableSpec) -> None:
        resource = f"dynamodb table {spec.name}"
        ddb = self._client("dynamodb")

        def describe() -> dict[str, Any] | None:
            found = self._describe(
                resource,
                "DescribeTable",
                "ResourceNotFoundException",
                ddb.describe_table,
                TableName=spec.name,
            )
            return None if found is None else found["Table"]

        def active() -> bool:
            current = describe()
            return current is not None and current.get("TableStatus") == "ACTIVE"

        current = describe()
        outcome: Outcome = "exists"
        details: list[str] = []
        if current is None:
            self._call(resource, "CreateTable", ddb.create_table, **_create_table_args(spec, self))
            outcome = "created"
        else:
            _check_key_schema(spec, current, resource)
            if spec.encrypted and current.get("SSEDescription", {}).get("Status") not in (
                "ENABLED",
                "ENABLING",
            ):
                ok, _ = self._optional(
                    resource,
                    "UpdateTable(SSESpecification)",
                    ddb.update_table,
                    TableName=spec.name,
                    SSESpecification=_sse_specification(self.report.key_arn),
                )
                details.append("encryption KMS" if ok else "encryption not supported")
        self._wait(resource, active)
        if spec.ttl_attribute:
            details += self._table_ttl(spec, resource)
        if spec.point_in_time_recovery:
            details += self._table_pitr(spec, resource)
        self._record(resource, _converged(outcome, details), ", ".join(details))

    def _table_ttl(self, spec: TableSpec, resource: str) -> list[str]:
        ddb = self._client("dynamodb")
        ok, ttl = self._optional(
            resource, "DescribeTimeToLive", ddb.describe_time_to_live, TableName=spec.name
        )
        if not ok:
            return ["TTL not supported by this endpoint"]
        desc = ttl.get("TimeToLiveDescription", {})
        if desc.get("TimeToLiveStatus") in ("ENABLED", "ENABLING"):
            if desc.get("AttributeName") != spec.ttl_attribute:
                raise BootstrapError(
                    f"TTL is on attribute {desc.get('AttributeName')!r}, "
                    f"the spec says {spec.ttl_attribute!r}",
                    resource=resource,
                )
            return []
        self._call(
            resource,
            "UpdateTimeToLive",
            ddb.update_time_to_live,
            TableName=spec.name,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": spec.ttl_attribute},
        )
        return [f"TTL on {spec.ttl_attribute}"]

    def _table_pitr(self, spec: TableSpec, resource: str) -> list[str]:
        ddb = self._client("dynamodb")
        ok, backups = self._optional(
            resource,
            "DescribeContinuousBackups",
            ddb.describe_continuous_backups,
            TableName=spec.name,
        )
        if ok:
            status = (
                backups.get("ContinuousBackupsDescription", {})
                .get("PointInTimeRecoveryDescription", {})
                .get("PointInTimeRecoveryStatus")
            )
            if status == "ENABLED":
                return []
            ok, _ = self._optional(
                resource,
                "UpdateContinuousBackups",
                ddb.update_continuous_backups,
                TableName=spec.name,
                PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True},
            )
        return ["point-in-time recovery" if ok else "PITR not supported by this endpoint"]

    # --- S3 -------------------------------------------------------------------------------

    def bucket(self, spec: BucketSpec) -> None:
        resource = f"s3 bucket {spec.name}"
        s3 = self._client("s3")
        outcome: Outcome = "exists"
        try:
            s3.head_bucket(Bucket=spec.name)
        except ClientError as exc:
            if aws.error_code(exc) not in ("404", "NoSuchBucket", "NotFound"):
                raise BootstrapError(
                    f"HeadBucket failed: {exc}", resource=resource, error_code=aws.error_code(exc)
                ) from exc
            kwargs: dict[str, Any] = {"Bucket": spec.name}
            region = s3.meta.region_name
            if region and region != "us-east-1":
                kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
            self._call(resource, "CreateBucket", s3.create_bucket, **kwargs)
            outcome = "created"
        # Each Put below is idempotent: run them every time so an existing bucket converges.
        unsupported: list[str] = []
        steps: list[tuple[str, Callable[..., Any], dict[str, Any]]] = [
            (
                "PutBucketOwnershipControls",
                s3.put_bucket_ownership_controls,
                {
                    "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
                },
            ),
        ]
        if spec.block_public_access:
            steps.append(
                (
                    "PutPublicAccessBlock",
                    s3.put_public_access_block,
                    {
                        "PublicAccessBlockConfiguration": {
                            "BlockPublicAcls": True,
                            "IgnorePublicAcls": True,
                            "BlockPublicPolicy": True,
                            "RestrictPublicBuckets": True,
                        }
                    },
                )
            )
        if spec.versioned:
            steps.append(
                (
                    "PutBucketVersioning",
                    s3.put_bucket_versioning,
                    {"VersioningConfiguration": {"Status": "Enabled"}},
                )
            )
        if spec.encrypted:
            steps.append(
                (
                    "PutBucketEncryption",
                    s3.put_bucket_encryption,
                    {"ServerSideEncryptionConfiguration": _bucket_encryption(self.report.key_arn)},
                )
            )
        left_out = ""
        if spec.tls_only and not puts_tls_only_policy(spec, str(s3.meta.endpoint_url)):
            left_out = "TLS-only policy left out: the endpoint is plain HTTP"
        elif spec.tls_only:
            steps.append(
                ("PutBucketPolicy", s3.put_bucket_policy, {"Policy": tls_only_policy(spec.name)})
            )
        for what, fn, kwargs in steps:
            ok, _ = self._optional(resource, what, fn, Bucket=spec.name, **kwargs)
            if not ok:
                unsupported.append(what)
        details = [left_out] if left_out else []
        if unsupported:
            details.append(f"not supported: {', '.join(unsupported)}")
        self._record(resource, outcome, "; ".join(details))

    # --- SQS ------------------------------------------------------------------------------

    def queue(self, spec: QueueSpec) -> None:
        resource = f"sqs queue {spec.name}"
        sqs = self._client("sqs")
        attributes = {"MessageRetentionPeriod": str(spec.message_retention_seconds)}
        if spec.encrypted:
            attributes |= _queue_encryption(self.report.key_arn)
        try:
            url: str = sqs.get_queue_url(QueueName=spec.name)["QueueUrl"]
        except ClientError as exc:
            if aws.error_code(exc) not in (
                "AWS.SimpleQueueService.NonExistentQueue",
                "QueueDoesNotExist",
            ):
                raise BootstrapError(
                    f"GetQueueUrl failed: {exc}", resource=resource, error_code=aws.error_code(exc)
                ) from exc
            url = self._call(
                resource,
                "CreateQueue",
                sqs.create_queue,
                QueueName=spec.name,
                Attributes=attributes,
            )["QueueUrl"]
            self.report.queue_urls[spec.name] = url
            self._record(resource, "created")
            return
        self.report.queue_urls[spec.name] = url
        current = self._call(
            resource,
            "GetQueueAttributes",
            sqs.get_queue_attributes,
            QueueUrl=url,
            AttributeNames=["All"],
        ).get("Attributes", {})
        missing = {k: v for k, v in attributes.items() if k not in current}
        if (
            spec.encrypted
            and "KmsMasterKeyId" not in current
            and current.get("SqsManagedSseEnabled") != "true"
        ):
            missing |= _queue_encryption(self.report.key_arn)
        if missing:
            self._call(
                resource,
                "SetQueueAttributes",
                sqs.set_queue_attributes,
                QueueUrl=url,
                Attributes=missing,
            )
            self._record(resource, "updated", ", ".join(sorted(missing)))
        else:
            self._record(resource, "exists")


def _converged(outcome: Outcome, details: list[str]) -> Outcome:
    if outcome == "created" or not details:
        return outcome
    if all("not supported" in d for d in details):
        return "unsupported"
    return "updated"


def _sse_specification(key_arn: str | None) -> dict[str, Any]:
    sse: dict[str, Any] = {"Enabled": True, "SSEType": "KMS"}
    if key_arn:
        sse["KMSMasterKeyId"] = key_arn
    return sse


def _create_table_args(spec: TableSpec, run: _Run) -> dict[str, Any]:
    args: dict[str, Any] = {
        "TableName": spec.name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": name, "AttributeType": "S"} for name in spec.attributes
        ],
        "KeySchema": [{"AttributeName": name, "KeyType": kind} for name, kind in spec.key_schema],
    }
    if spec.encrypted:
        args["SSESpecification"] = _sse_specification(run.report.key_arn)
    if spec.indexes:
        args["GlobalSecondaryIndexes"] = [
            {
                "IndexName": index.name,
                "KeySchema": [{"AttributeName": index.hash_key, "KeyType": "HASH"}]
                + (
                    [{"AttributeName": index.range_key, "KeyType": "RANGE"}]
                    if index.range_key
                    else []
                ),
                "Projection": {"ProjectionType": index.projection},
            }
            for index in spec.indexes
        ]
    return args


def _check_key_schema(spec: TableSpec, current: Mapping[str, Any], resource: str) -> None:
    found = tuple((k["AttributeName"], k["KeyType"]) for k in current.get("KeySchema", []))
    if found != spec.key_schema:
        raise BootstrapError(
            f"exists with key schema {list(found)}, the spec says {list(spec.key_schema)}; "
            "delete it or choose another name",
            resource=resource,
        )


def _bucket_encryption(key_arn: str | None) -> dict[str, Any]:
    default: dict[str, Any] = {"SSEAlgorithm": "aws:kms"}
    if key_arn:
        default["KMSMasterKeyID"] = key_arn
    return {"Rules": [{"ApplyServerSideEncryptionByDefault": default, "BucketKeyEnabled": True}]}


def _queue_encryption(key_arn: str | None) -> dict[str, str]:
    return {
        "KmsMasterKeyId": key_arn or "alias/aws/sqs",
        "KmsDataKeyReusePeriodSeconds": "300",
    }


def puts_tls_only_policy(spec: BucketSpec, endpoint_url: str) -> bool:
    """Whether the bucket gets :func:`tls_only_policy` at this endpoint: as ``tls_only`` says,
    except over plain HTTP. Every request to a plain-HTTP endpoint is insecure transport: the
    policy would deny them all (moto enforces it) and the bucket would be unusable.
    ``terraform/envs/localstack`` decides the same (``deny_insecure_transport``)."""
    return spec.tls_only and not endpoint_url.startswith("http://")


def tls_only_policy(bucket: str) -> str:
    """The bucket policy the Terraform module puts: deny plain HTTP and TLS older than 1.2."""
    resources_ = [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    deny = {"Effect": "Deny", "Principal": "*", "Action": "s3:*", "Resource": resources_}
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "DenyInsecureTransport",
                    **deny,
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
                {
                    "Sid": "DenyTlsOlderThan12",
                    **deny,
                    "Condition": {"NumericLessThan": {"s3:TlsVersion": "1.2"}},
                },
            ],
        }
    )
