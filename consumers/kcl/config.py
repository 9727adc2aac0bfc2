"""The processor's configuration, read from the environment the daemon passes down.

The MultiLangDaemon starts ``python -m consumers.kcl`` with its own environment, so the
launcher (``shardflow consume kcl``) sets these variables (names in
:mod:`shardflow.settings`) and users who run the daemon themselves set them beside it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from consumers.kcl.signals import DEFAULT_TIMEOUT
from shardflow import resources, settings
from shardflow.errors import ConfigError


@dataclass(frozen=True)
class ProcessorConfig:
    """What one shard's processor needs.

    * ``stream``: the stream's name (the multilang protocol does not say it); it is part of
      every S3 key and dead-letter message.
    * ``bucket``: the S3 sink's bucket (format, prefix and flush limits are the sink's
      own settings, :meth:`consumers.sink.SinkConfig.from_env`).
    * ``dlq_url``: the dead-letter queue; without one a poison record stops the shard.
    * ``handler``: ``package.module:function`` called with each event, or None.
    * ``checkpoint_interval``: seconds between checkpoints while processing; 0 checkpoints
      after every flush that moved the checkpointable position.
    * ``checkpoint_attempts``: attempts at a throttled checkpoint (exponential backoff from
      ``checkpoint_backoff`` seconds) before waiting for the next batch.
    * ``shutdown_timeout``: seconds the processor waits, after SIGINT/SIGTERM/SIGHUP, for
      the daemon to shut it down before exiting on its own (:mod:`consumers.kcl.signals`).
    """

    stream: str
    bucket: str = resources.BUCKET
    errors_prefix: str = resources.ERRORS_PREFIX
    dlq_url: str | None = None
    handler: str | None = None
    checkpoint_interval: float = 0.0
    checkpoint_attempts: int = 5
    checkpoint_backoff: float = 0.2
    #: Attempts at a failing S3 flush or dead-letter send before the processor exits.
    io_attempts: int = 4
    shutdown_timeout: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        if not self.stream:
            raise ConfigError("stream", f"is required (set {settings.STREAM})")
        if not self.bucket:
            raise ConfigError("bucket", f"is required (set {settings.BUCKET})")
        if self.handler is not None and ":" not in self.handler:
            raise ConfigError("handler", "must be package.module:function")
        if self.checkpoint_interval < 0:
            raise ConfigError("checkpoint_interval", "must be >= 0 seconds")
        if not 1 <= self.checkpoint_attempts <= 100:
            raise ConfigError("checkpoint_attempts", "must be within 1..100")
        if self.checkpoint_backoff <= 0:
            raise ConfigError("checkpoint_backoff", "must be > 0 seconds")
        if not 1 <= self.io_attempts <= 100:
            raise ConfigError("io_attempts", "must be within 1..100")
        if self.shutdown_timeout <= 0:
            raise ConfigError("shutdown_timeout", "must be > 0 seconds")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ProcessorConfig:
        """The configuration the environment describes (defaults for what is unset)."""

        def get(name: str) -> str | None:
            return settings.env(name, environ=environ)

        def number(name: str, default: float) -> float:
            return settings.env_float(name, default, environ=environ)

        return cls(
            stream=get(settings.STREAM) or resources.STREAM,
            bucket=get(settings.BUCKET) or resources.BUCKET,
            errors_prefix=get(settings.ERRORS_PREFIX) or resources.ERRORS_PREFIX,
            dlq_url=get(settings.DLQ_URL),
            handler=get(settings.KCL_HANDLER),
            checkpoint_interval=number(settings.KCL_CHECKPOINT_INTERVAL_SECONDS, 0.0),
            checkpoint_attempts=int(number(settings.KCL_CHECKPOINT_ATTEMPTS, 5)),
            shutdown_timeout=number(settings.KCL_SHUTDOWN_TIMEOUT_SECONDS, DEFAULT_TIMEOUT),
        )
