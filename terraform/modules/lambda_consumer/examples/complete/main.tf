# The Lambda consumer on an existing stream and bucket, tuned for throughput: bigger
# batches gathered for up to 5 s, a bounded retry budget and record age, JSON Lines output.
#
# Two settings stay at their defaults on purpose: parallelization_factor (the default
# handler's S3 sink needs one batch per shard at a time) and filter_patterns (Kinesis
# filters see the record's data as JSON, and the producer's KPL aggregates are not JSON, so
# a pattern would drop every aggregated record).

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
  maximum_retry_attempts             = 10
  maximum_record_age_in_seconds      = 86400
  max_attempts                       = 5

  tracing_enabled = true
  tags            = { example = "lambda_consumer" }
}

output "local_runner_environment" {
  description = "Run `shardflow consume lambda` with these to reproduce the mapping locally."
  value       = module.consumer.lambda_local_runner_environment
}
