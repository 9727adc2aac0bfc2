output "s3_bucket_name" {
  description = "Name of the output bucket (SHARDFLOW_BUCKET)."
  value       = aws_s3_bucket.this.id
}

output "s3_bucket_arn" {
  description = "ARN of the output bucket."
  value       = aws_s3_bucket.this.arn
}

output "s3_kms_key_arn" {
  description = "ARN of the KMS key the bucket and the Athena results are encrypted with; writers need kms:GenerateDataKey, readers kms:Decrypt."
  value       = local.kms_key_arn
}

output "s3_output_prefix" {
  description = "Key prefix of the events (SHARDFLOW_OUTPUT_PREFIX)."
  value       = var.output_prefix
}

output "s3_errors_prefix" {
  description = "Key prefix of oversize dead-lettered payloads (SHARDFLOW_ERRORS_PREFIX)."
  value       = var.errors_prefix
}

output "s3_table_location" {
  description = "s3:// location of the table (the events prefix)."
  value       = local.table_location
}

output "glue_database_name" {
  description = "Glue database of the table (null when create_glue_catalog is false)."
  value       = one(aws_glue_catalog_database.this[*].name)
}

output "glue_table_name" {
  description = "Glue table over the events (null when create_glue_catalog is false); with table_format iceberg the table the named query (or the consumers' first commit) creates."
  value       = var.create_glue_catalog ? (local.iceberg ? var.glue_table_name : one(aws_glue_catalog_table.events[*].name)) : null
}

output "glue_iceberg_table" {
  description = "database.table of the Iceberg table (SHARDFLOW_ICEBERG_TABLE; the consumer modules' iceberg_table); null unless table_format is iceberg."
  value       = local.iceberg ? local.iceberg_table : null
}

output "s3_iceberg_warehouse" {
  description = "s3:// warehouse of the Iceberg table (SHARDFLOW_ICEBERG_WAREHOUSE): the table's files are under WAREHOUSE/DATABASE.db/TABLE/; null unless table_format is iceberg."
  value       = local.iceberg ? local.iceberg_warehouse : null
}

output "athena_iceberg_named_query_ids" {
  description = "Ids of the Athena named queries create_table, optimize and vacuum of the Iceberg table (empty unless table_format is iceberg and create_glue_catalog)."
  value = local.iceberg_named_queries ? {
    create_table = aws_athena_named_query.iceberg_create_table[0].id
    optimize     = aws_athena_named_query.iceberg_optimize[0].id
    vacuum       = aws_athena_named_query.iceberg_vacuum[0].id
  } : {}
}

output "athena_workgroup_name" {
  description = "Athena workgroup to query with (null when create_athena_workgroup is false)."
  value       = one(aws_athena_workgroup.this[*].name)
}
