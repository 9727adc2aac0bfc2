"""Apache Iceberg output (format ``iceberg``, extra ``iceberg``): each flush one append,
committed exactly once by the table itself. See :mod:`consumers.sink.iceberg.writer` and
docs/iceberg.md."""

from consumers.sink.iceberg.config import IcebergConfig
from consumers.sink.iceberg.writer import IcebergShardWriter, IcebergSink

__all__ = ["IcebergConfig", "IcebergShardWriter", "IcebergSink"]
