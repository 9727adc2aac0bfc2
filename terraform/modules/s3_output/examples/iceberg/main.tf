# Output bucket for the Iceberg output: the consumers commit to the table
# analytics.events (SHARDFLOW_OUTPUT_FORMAT=iceberg); Athena named queries create it, compact
# it and vacuum it.

provider "aws" {
  region = "eu-west-1"
}

module "output" {
  source = "../../"

  bucket_name        = "shardflow-example-iceberg-123456789012"
  table_format       = "iceberg"
  glue_database_name = "analytics"
  # Two weeks: at least the stream's retention, so that VACUUM keeps what a replay checks.
  iceberg_vacuum_max_snapshot_age_seconds = 1209600
  tags                                    = { example = "s3_output-iceberg" }
}

output "iceberg_table" {
  description = "SHARDFLOW_ICEBERG_TABLE, and the consumer modules' iceberg_table."
  value       = module.output.glue_iceberg_table
}

output "iceberg_named_queries" {
  description = "Athena named queries: create_table (run once), optimize, vacuum."
  value       = module.output.athena_iceberg_named_query_ids
}
