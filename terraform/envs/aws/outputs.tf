output "kinesis_stream_name" {
  description = "The stream producers write to (SHARDFLOW_STREAM)."
  value       = module.stream.kinesis_stream_name
}

output "kinesis_stream_kms_key_arn" {
  description = "Producers need kms:GenerateDataKey on this key to write to the stream."
  value       = module.stream.kinesis_stream_kms_key_arn
}

output "lambda_function_name" {
  description = "The Lambda consumer."
  value       = module.lambda_consumer.lambda_function_name
}

output "lambda_local_runner_environment" {
  description = "Environment that makes `shardflow consume lambda` behave like the deployed mapping."
  value       = module.lambda_consumer.lambda_local_runner_environment
}

output "sqs_dead_letter_queue_url" {
  description = "Poison records with their payload (SHARDFLOW_DLQ_URL)."
  value       = module.lambda_consumer.sqs_dead_letter_queue_url
}

output "athena_workgroup_name" {
  description = "Query the events with this workgroup."
  value       = module.output.athena_workgroup_name
}

output "glue_table" {
  description = "database.table to query."
  value       = "${module.output.glue_database_name}.${module.output.glue_table_name}"
}

output "kcl_iam_role_arn" {
  description = "Task role of the KCL workers (null when deploy_kcl_consumer is false)."
  value       = one(module.kcl_consumer[*].kcl_iam_role_arn)
}

output "kcl_properties" {
  description = "MultiLangDaemon properties for the KCL workers (null when deploy_kcl_consumer is false)."
  value       = one(module.kcl_consumer[*].kcl_properties)
}
