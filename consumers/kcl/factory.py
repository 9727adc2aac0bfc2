"""Build a :class:`~consumers.kcl.processor.KclRecordProcessor` from the environment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from consumers import DeadLetterQueue, Position
from consumers.kcl.config import ProcessorConfig
from consumers.kcl.handler import load_handler
from consumers.kcl.processor import KclRecordProcessor
from consumers.sink import S3Sink, ShardWriter, SinkConfig
from shardflow import aws

if TYPE_CHECKING:
    from mypy_boto3_s3.client import S3Client
    from mypy_boto3_sqs.client import SQSClient


def build_processor(
    environ: Mapping[str, str] | None = None,
    *,
    s3_client: S3Client | None = None,
    sqs_client: SQSClient | None = None,
    sink_config: SinkConfig | None = None,
) -> KclRecordProcessor:
    """The processor the environment describes (see :class:`ProcessorConfig` and
    :meth:`consumers.sink.SinkConfig.from_env`, which ``sink_config`` replaces when given);
    clients default to ``shardflow.aws``'s."""
    config = ProcessorConfig.from_env(environ)
    s3 = s3_client if s3_client is not None else aws.client("s3")
    sink_config = sink_config or SinkConfig.from_env()
    sink = S3Sink(config.bucket, stream=config.stream, s3_client=s3, config=sink_config)
    dead_letters = None
    if config.dlq_url is not None:
        dead_letters = DeadLetterQueue(
            config.dlq_url,
            sqs_client=sqs_client if sqs_client is not None else aws.client("sqs"),
            s3_client=s3,
            bucket=config.bucket,
            errors_prefix=config.errors_prefix,
        )
    handler = load_handler(config.handler) if config.handler else None

    def writer_factory(shard_id: str, resume_from: Position | None) -> ShardWriter:
        return sink.shard(shard_id, resume_from=resume_from)

    return KclRecordProcessor(
        config, writer_factory=writer_factory, dead_letters=dead_letters, handler=handler
    )
