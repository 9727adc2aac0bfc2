# The table the S3 sink writes: consumers.schema.SCHEMA and consumers.athena, restated in
# HCL. tests/unit/terraform/test_glue_schema.py compares every column, partition, projection
# parameter and SerDe here with those, so a change to the sink fails the tests until this
# file follows it.

locals {
  event_columns = [
    { name = "id", type = "string", comment = "event id (UUIDv7), the idempotency key" },
    { name = "source", type = "string", comment = "CloudEvents source: the emitting application" },
    { name = "type", type = "string", comment = "event type" },
    { name = "time", type = "timestamp", comment = "event time (UTC); null when the envelope has none" },
    { name = "specversion", type = "string", comment = "CloudEvents spec version" },
    { name = "data", type = "string", comment = "event payload as a JSON string" },
    { name = "extensions", type = "string", comment = "other envelope attributes as a JSON object, or null" },
    { name = "stream", type = "string", comment = "Kinesis stream name" },
    { name = "shard_id", type = "string", comment = "Kinesis shard id" },
    { name = "sequence_number", type = "string", comment = "Kinesis sequence number (decimal string)" },
    { name = "sub_sequence_number", type = "bigint", comment = "index in the KPL aggregate; null for a plain record" },
    { name = "partition_key", type = "string", comment = "partition key of the user record" },
    { name = "arrival_time", type = "timestamp", comment = "Kinesis approximate arrival time (UTC)" },
  ]

  # Partitions in S3 key order: PREFIX/dt=YYYY-MM-DD/hr=HH/.
  partition_columns = [
    { name = "dt", type = "string", comment = "UTC day of the event time" },
    { name = "hr", type = "int", comment = "UTC hour of the event time" },
  ]

  partition_projection = {
    "projection.enabled"          = "true"
    "projection.dt.type"          = "date"
    "projection.dt.format"        = "yyyy-MM-dd"
    "projection.dt.range"         = "2020-01-01,NOW"
    "projection.dt.interval"      = "1"
    "projection.dt.interval.unit" = "DAYS"
    "projection.hr.type"          = "integer"
    "projection.hr.range"         = "0,23"
    "projection.hr.digits"        = "2"
  }

  storage_formats = {
    parquet = {
      input_format   = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
      output_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"
      serde          = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
      serde_params   = { "serialization.format" = "1" }
      classification = "parquet"
    }
    jsonl = {
      input_format   = "org.apache.hadoop.mapred.TextInputFormat"
      output_format  = "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"
      serde          = "org.apache.hive.hcatalog.data.JsonSerDe"
      serde_params   = {}
      classification = "json"
    }
  }
}
