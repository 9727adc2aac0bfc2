output "kinesis_stream_name" {
  description = "Name of the stream."
  value       = aws_kinesis_stream.this.name
}

output "kinesis_stream_arn" {
  description = "ARN of the stream (for IAM policies and event source mappings)."
  value       = aws_kinesis_stream.this.arn
}

output "kinesis_stream_kms_key_arn" {
  description = "ARN of the KMS key the stream is encrypted with; producers need kms:GenerateDataKey on it, consumers kms:Decrypt."
  value       = local.kms_key_arn
}

output "kinesis_stream_alarm_topic_arn" {
  description = "ARN of the created alarm SNS topic, or null when create_alarm_topic is false."
  value       = one(aws_sns_topic.alarms[*].arn)
}

output "kinesis_stream_alarm_arns" {
  description = "ARNs of the stream's CloudWatch alarms by name (empty when create_alarms is false)."
  value = {
    for alarm in concat(aws_cloudwatch_metric_alarm.iterator_age, aws_cloudwatch_metric_alarm.write_throttles, aws_cloudwatch_metric_alarm.read_throttles) :
    alarm.alarm_name => alarm.arn
  }
}
