# A four-shard stream kept for a week, with an alarm topic.

provider "aws" {
  region = "eu-west-1"
}

module "stream" {
  source = "../../"

  name                      = "shardflow-example-events"
  stream_mode               = "PROVISIONED"
  shard_count               = 4
  retention_period_hours    = 168
  create_alarm_topic        = true
  iterator_age_threshold_ms = 30000
  tags                      = { example = "kinesis_stream" }
}

output "stream_arn" {
  description = "ARN of the example stream."
  value       = module.stream.kinesis_stream_arn
}
