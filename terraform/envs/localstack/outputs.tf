output "endpoint" {
  description = "The endpoint to export as AWS_ENDPOINT_URL for shardflow and its tests."
  value       = var.endpoint
}

output "kinesis_stream_name" {
  description = "The stream (SHARDFLOW_STREAM)."
  value       = module.stream.kinesis_stream_name
}

output "s3_bucket_name" {
  description = "The output bucket (SHARDFLOW_BUCKET)."
  value       = module.output.s3_bucket_name
}

output "sqs_dead_letter_queue_url" {
  description = "The dead-letter queue (SHARDFLOW_DLQ_URL)."
  value       = module.lambda_consumer.sqs_dead_letter_queue_url
}

output "lambda_local_runner_environment" {
  description = "Environment for `shardflow consume lambda` against this LocalStack."
  value       = module.lambda_consumer.lambda_local_runner_environment
}

output "kcl_properties" {
  description = "MultiLangDaemon properties matching the KCL tables created here."
  value       = module.kcl_consumer.kcl_properties
}
