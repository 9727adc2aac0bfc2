# The Lambda consumer on an existing stream and bucket, tuned for throughput: bigger
# batches gathered for up to 5 s, two batches per shard, only order events.

provider "aws" {
  region = "eu-west-1"
}

variable "stream_arn" {
  type        = string
  description = "ARN of the stream to consume."
}

variable "bucket_name" {
  type        = string
  description = "Bucket the sink writes to."
}

module "consumer" {
  source = "../../"

  function_name = "shardflow-example-consumer"
  package_path  = "${path.root}/dist/shardflow-lambda.zip"
  stream_arn    = var.stream_arn
  bucket_name   = var.bucket_name
  output_format = "jsonl"

  batch_size                         = 500
  maximum_batching_window_in_seconds = 5
  parallelization_factor             = 2
  maximum_retry_attempts             = 10
  maximum_record_age_in_seconds      = 86400
  max_attempts                       = 5
  filter_patterns                    = [jsonencode({ data = { type = ["order.created", "order.paid"] } })]

  tracing_enabled = true
  tags            = { example = "lambda_consumer" }
}

output "local_runner_environment" {
  description = "Run `shardflow consume lambda` with these to reproduce the mapping locally."
  value       = module.consumer.lambda_local_runner_environment
}
