"""The MultiLangDaemon's properties file, as a validated value (pure code, no I/O).

:class:`DaemonProperties` holds what ``shardflow consume kcl`` tells the daemon; ``render()``
writes the Java properties text. Every property name here is one the KCL 3.1 multilang
daemon reads (``MultiLangDaemonConfiguration``); anything else can be passed through
``extra``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final, Literal

from shardflow.errors import ConfigError

InitialPosition = Literal["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"]
MetricsLevel = Literal["NONE", "SUMMARY", "DETAILED"]
RetrievalMode = Literal["POLLING", "FANOUT"]

INITIAL_POSITIONS: Final = ("TRIM_HORIZON", "LATEST", "AT_TIMESTAMP")
METRICS_LEVELS: Final = ("NONE", "SUMMARY", "DETAILED")
RETRIEVAL_MODES: Final = ("POLLING", "FANOUT")

#: Timings that make a local run (emulator, tests) react within seconds instead of the
#: KCL's production defaults (lease failover 10 s, shard sync 60 s, lease assignment 20 s,
#: worker metrics 30 s). Measured with KCL 3.1.3 against moto: first record ~26 s after a
#: fresh start. They multiply DynamoDB and ListShards calls, so against AWS the launcher
#: leaves the KCL's defaults unless a flag asks otherwise.
LOCAL_TIMINGS: Final[dict[str, int]] = {
    "idleTimeBetweenReadsInMillis": 500,
    "failoverTimeMillis": 5000,
    "shardSyncIntervalMillis": 5000,
    "parentShardPollIntervalMillis": 1000,
    "leaseAssignmentIntervalMillis": 2000,
    "workerMetricsReporterFreqInMillis": 2000,
}
TIMING_PROPERTIES: Final = tuple(LOCAL_TIMINGS)

# DynamoDB table names: the application name is the lease table's name.
_TABLE_NAME = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")
# Kinesis stream names.
_STREAM_NAME = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_PROPERTY_KEY = re.compile(r"^[A-Za-z][A-Za-z0-9_.]*$")


def _escape(value: str) -> str:
    # Java properties: backslash escapes; a leading blank would be eaten by the parser.
    escaped = value.replace("\\", "\\\\")
    if escaped[:1].isspace():
        escaped = "\\" + escaped
    return escaped


@dataclass(frozen=True)
class DaemonProperties:
    """What the MultiLangDaemon needs to consume one stream as one application.

    ``application`` names the lease table (and the ``-CoordinatorState`` and
    ``-WorkerMetricStats`` tables KCL 3 creates beside it). ``endpoint_url`` (LocalStack,
    the embedded emulator) sets the Kinesis and DynamoDB endpoints; ``None`` means AWS.
    Timings left ``None`` are the KCL's defaults.
    """

    stream: str
    application: str
    executable: str
    region: str
    endpoint_url: str | None = None
    initial_position: InitialPosition = "TRIM_HORIZON"
    initial_timestamp: datetime | None = None
    credentials_provider: str = "DefaultCredentialsProvider"
    shutdown_grace_millis: int = 20_000
    metrics_level: MetricsLevel = "NONE"
    retrieval_mode: RetrievalMode = "POLLING"
    max_records: int = 10_000
    timings: dict[str, int] = field(default_factory=dict)
    worker_id: str | None = None
    #: The processor flushes a quiet shard's buffer on these empty calls.
    call_process_records_for_empty_batches: bool = True
    processing_language: str = "python"
    extra: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        self._check_names()
        self._check_choices()
        self._check_numbers()
        self._check_extra()

    def _check_names(self) -> None:
        if not _STREAM_NAME.match(self.stream):
            raise ConfigError("stream", f"{self.stream!r} is not a Kinesis stream name")
        if not _TABLE_NAME.match(self.application):
            raise ConfigError(
                "application",
                f"{self.application!r} must be a DynamoDB table name "
                "(3-255 characters of A-Z a-z 0-9 _ . -): it names the lease table",
            )
        for name in ("executable", "region", "credentials_provider"):
            value = getattr(self, name)
            if not value or "\n" in value:
                raise ConfigError(name, "must be a non-empty single line")
        if self.endpoint_url is not None and "\n" in self.endpoint_url:
            raise ConfigError("endpoint_url", "must be a single line")

    def _check_choices(self) -> None:
        if self.initial_position not in INITIAL_POSITIONS:
            raise ConfigError("initial_position", f"must be one of {INITIAL_POSITIONS}")
        if (self.initial_position == "AT_TIMESTAMP") != (self.initial_timestamp is not None):
            raise ConfigError("initial_timestamp", "is required with AT_TIMESTAMP and only with it")
        if self.metrics_level not in METRICS_LEVELS:
            raise ConfigError("metrics_level", f"must be one of {METRICS_LEVELS}")
        if self.retrieval_mode not in RETRIEVAL_MODES:
            raise ConfigError("retrieval_mode", f"must be one of {RETRIEVAL_MODES}")

    def _check_numbers(self) -> None:
        if self.shutdown_grace_millis <= 0:
            raise ConfigError("shutdown_grace_millis", "must be > 0")
        if not 1 <= self.max_records <= 10_000:
            raise ConfigError("max_records", "must be within 1..10000 (the GetRecords limit)")
        for key, value in self.timings.items():
            if key not in TIMING_PROPERTIES:
                raise ConfigError("timings", f"unknown timing {key!r}; known: {TIMING_PROPERTIES}")
            if value <= 0:
                raise ConfigError(f"timings.{key}", "must be > 0 ms")

    def _check_extra(self) -> None:
        for key, value in self.extra:
            if not _PROPERTY_KEY.match(key):
                raise ConfigError("extra", f"{key!r} is not a property name")
            if "\n" in value:
                raise ConfigError(f"extra.{key}", "must be a single line")

    def items(self) -> list[tuple[str, str]]:
        """The properties in file order (later ``extra`` entries override earlier keys)."""
        props: dict[str, str] = {
            "executableName": self.executable,
            "streamName": self.stream,
            "applicationName": self.application,
            "regionName": self.region,
            "AwsCredentialsProvider": self.credentials_provider,
            "processingLanguage": self.processing_language,
            "initialPositionInStream": self.initial_position,
            "shutdownGraceMillis": str(self.shutdown_grace_millis),
            "metricsLevel": self.metrics_level,
            "retrievalMode": self.retrieval_mode,
            "maxRecords": str(self.max_records),
            "callProcessRecordsEvenForEmptyRecordList": str(
                self.call_process_records_for_empty_batches
            ).lower(),
        }
        if self.initial_timestamp is not None:
            props["initialPositionInStreamExtended"] = str(int(self.initial_timestamp.timestamp()))
        if self.endpoint_url is not None:
            props["kinesisEndpoint"] = self.endpoint_url
            props["dynamoDBEndpoint"] = self.endpoint_url
        if self.worker_id is not None:
            props["workerId"] = self.worker_id
        for key in TIMING_PROPERTIES:
            if key in self.timings:
                props[key] = str(self.timings[key])
        props.update(self.extra)
        return list(props.items())

    def render(self) -> str:
        """The properties file's text."""
        lines = ["# Written by shardflow consume kcl; read by the KCL MultiLangDaemon."]
        lines += [f"{key} = {_escape(value)}" for key, value in self.items()]
        return "\n".join(lines) + "\n"
