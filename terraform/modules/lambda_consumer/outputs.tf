output "lambda_function_name" {
  description = "Name of the function (null when create_function is false)."
  value       = one(aws_lambda_function.this[*].function_name)
}

output "lambda_function_arn" {
  description = "ARN of the function (null when create_function is false)."
  value       = one(aws_lambda_function.this[*].arn)
}

output "lambda_role_arn" {
  description = "ARN of the function's execution role (null when create_function is false)."
  value       = one(aws_iam_role.this[*].arn)
}

output "lambda_event_source_mapping_uuid" {
  description = "UUID of the event source mapping (null when create_function is false)."
  value       = one(aws_lambda_event_source_mapping.this[*].uuid)
}

output "lambda_log_group_name" {
  description = "CloudWatch Logs group of the function (null when create_function is false)."
  value       = one(aws_cloudwatch_log_group.this[*].name)
}

output "lambda_handler_environment" {
  description = "The function's environment: what consumers.lambda_handler reads."
  value       = local.handler_environment
}

output "lambda_local_runner_environment" {
  description = "Environment for `shardflow consume lambda` that reproduces the deployed function and mapping locally (handler variables, mapping settings, stream, OnFailure queue, checkpoint table)."
  value       = local.local_runner_environment
}

output "sqs_dead_letter_queue_url" {
  description = "URL of the dead-letter queue (poison records with their payload)."
  value       = aws_sqs_queue.dead_letter.url
}

output "sqs_dead_letter_queue_arn" {
  description = "ARN of the dead-letter queue (grant the KCL consumer sqs:SendMessage on it)."
  value       = aws_sqs_queue.dead_letter.arn
}

output "sqs_on_failure_queue_url" {
  description = "URL of the mapping's OnFailure queue (metadata of discarded batches)."
  value       = aws_sqs_queue.on_failure.url
}

output "sqs_on_failure_queue_arn" {
  description = "ARN of the mapping's OnFailure queue."
  value       = aws_sqs_queue.on_failure.arn
}

output "dynamodb_idempotency_table_name" {
  description = "Name of the powertools idempotency table."
  value       = aws_dynamodb_table.idempotency.name
}

output "dynamodb_idempotency_table_arn" {
  description = "ARN of the powertools idempotency table."
  value       = aws_dynamodb_table.idempotency.arn
}

output "dynamodb_attempts_table_name" {
  description = "Name of the attempts table."
  value       = aws_dynamodb_table.attempts.name
}

output "dynamodb_attempts_table_arn" {
  description = "ARN of the attempts table."
  value       = aws_dynamodb_table.attempts.arn
}

output "dynamodb_checkpoint_table_name" {
  description = "Name of the local runner's checkpoint table (null when create_checkpoint_table is false)."
  value       = one(aws_dynamodb_table.checkpoints[*].name)
}

output "kms_key_arn" {
  description = "ARN of the KMS key the tables, queues, logs and environment are encrypted with (grant kms:GenerateDataKey on it to whoever sends to the dead-letter queue)."
  value       = local.kms_key_arn
}
