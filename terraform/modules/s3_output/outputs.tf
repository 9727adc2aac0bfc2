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
  description = "Glue table over the events (null when create_glue_catalog is false)."
  value       = one(aws_glue_catalog_table.events[*].name)
}

output "athena_workgroup_name" {
  description = "Athena workgroup to query with (null when create_athena_workgroup is false)."
  value       = one(aws_athena_workgroup.this[*].name)
}
