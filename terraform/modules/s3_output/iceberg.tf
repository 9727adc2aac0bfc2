# The Iceberg variant of the table (table_format = "iceberg"): Athena named queries that
# create it (consumers.schema's columns, dt and hr as identity partitions: the table the
# writer creates itself when it finds none, consumers.sink.iceberg.catalog) and compact it.
# tests/unit/terraform/test_glue_schema.py compares the DDL with consumers.schema.
#
# A named query rather than an aws_glue_catalog_table with open_table_format_input: with
# the AWS provider 5.x, iceberg_input takes no partition spec and Glue refuses
# partition_keys on an Iceberg table, so the table would lose the dt/hr partitions the
# writer and the Hive table's queries use; and a Terraform-owned Iceberg table is a hazard:
# every commit of the writer replaces the table's metadata_location, which a later apply
# would see as drift, and the provider's UpdateTable (without the VersionId a commit
# compares) could put back an older metadata file, dropping committed snapshots.

locals {
  iceberg                = var.table_format == "iceberg"
  iceberg_named_queries  = var.create_glue_catalog && local.iceberg
  iceberg_table          = "${var.glue_database_name}.${var.glue_table_name}"
  iceberg_warehouse      = "s3://${var.bucket_name}/${var.output_prefix}"
  iceberg_table_location = "${local.iceberg_warehouse}/${var.glue_database_name}.db/${var.glue_table_name}"
  iceberg_workgroup      = var.create_athena_workgroup ? var.athena_workgroup_name : "primary"

  # consumers.schema.SCHEMA, the columns in file order, then the partition columns.
  iceberg_create_table = <<-SQL
    CREATE TABLE `${var.glue_database_name}`.`${var.glue_table_name}` (
      `id` string COMMENT 'event id (UUIDv7), the idempotency key',
      `source` string COMMENT 'CloudEvents source: the emitting application',
      `type` string COMMENT 'event type',
      `time` timestamp COMMENT 'event time (UTC); null when the envelope has none',
      `specversion` string COMMENT 'CloudEvents spec version',
      `data` string COMMENT 'event payload as a JSON string',
      `extensions` string COMMENT 'other envelope attributes as a JSON object, or null',
      `stream` string COMMENT 'Kinesis stream name',
      `shard_id` string COMMENT 'Kinesis shard id',
      `sequence_number` string COMMENT 'Kinesis sequence number (decimal string)',
      `sub_sequence_number` bigint COMMENT 'index in the KPL aggregate; null for a plain record',
      `partition_key` string COMMENT 'partition key of the user record',
      `arrival_time` timestamp COMMENT 'Kinesis approximate arrival time (UTC)',
      `dt` string COMMENT 'UTC day of the event time',
      `hr` int COMMENT 'UTC hour of the event time'
    )
    PARTITIONED BY (`dt`, `hr`)
    LOCATION '${local.iceberg_table_location}'
    TBLPROPERTIES (
      'table_type' = 'ICEBERG',
      'format' = 'parquet',
      'vacuum_max_snapshot_age_seconds' = '${var.iceberg_vacuum_max_snapshot_age_seconds}'
    )
    SQL
}

resource "aws_athena_named_query" "iceberg_create_table" {
  count = local.iceberg_named_queries ? 1 : 0

  name        = "${var.glue_table_name}-create-iceberg-table"
  description = "Create the Iceberg table of the shardflow events (run once, before the consumers' first flush; else the writer creates the same table)"
  database    = aws_glue_catalog_database.this[0].name
  workgroup   = local.iceberg_workgroup
  query       = local.iceberg_create_table

  depends_on = [aws_athena_workgroup.this]
}

# Compaction: the many small files of frequent flushes rewritten into fewer, larger ones.
resource "aws_athena_named_query" "iceberg_optimize" {
  count = local.iceberg_named_queries ? 1 : 0

  name        = "${var.glue_table_name}-optimize"
  description = "Compact the Iceberg table's small data files (bin packing)"
  database    = aws_glue_catalog_database.this[0].name
  workgroup   = local.iceberg_workgroup
  query       = "OPTIMIZE `${var.glue_database_name}`.`${var.glue_table_name}` REWRITE DATA USING BIN_PACK"

  depends_on = [aws_athena_workgroup.this]
}

# Expires snapshots older than vacuum_max_snapshot_age_seconds and removes orphan files
# (those of a writer that died between writing and committing them).
resource "aws_athena_named_query" "iceberg_vacuum" {
  count = local.iceberg_named_queries ? 1 : 0

  name        = "${var.glue_table_name}-vacuum"
  description = "Expire old snapshots of the Iceberg table and remove its orphan files"
  database    = aws_glue_catalog_database.this[0].name
  workgroup   = local.iceberg_workgroup
  query       = "VACUUM `${var.glue_database_name}`.`${var.glue_table_name}`"

  depends_on = [aws_athena_workgroup.this]
}
