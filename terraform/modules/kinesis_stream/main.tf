# A Kinesis data stream encrypted with a customer managed KMS key, with shard-level metrics
# and alarms on the three things that hurt a stream: consumers falling behind (iterator
# age) and throttled reads or writes.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  create_kms_key = var.create_kms_key
  kms_key_arn    = local.create_kms_key ? aws_kms_key.this[0].arn : var.kms_key_arn
  alarm_actions  = concat(var.alarm_actions, aws_sns_topic.alarms[*].arn)
  account_root   = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"
}

data "aws_iam_policy_document" "kms_key_policy" {
  count = local.create_kms_key ? 1 : 0

  # checkov:skip=CKV_AWS_109:A key policy's "*" resource is this key; kms:* goes to the account root only, which delegates access to IAM policies.
  # checkov:skip=CKV_AWS_111:A key policy's "*" resource is this key; kms:* goes to the account root only, which delegates access to IAM policies.
  # checkov:skip=CKV_AWS_356:A key policy's "*" resource is this key.
  statement {
    sid       = "AccountAdministersKeyThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = [local.account_root]
    }
  }

  # CloudWatch publishes alarm notifications to the encrypted SNS topic.
  dynamic "statement" {
    for_each = var.create_alarm_topic ? [1] : []
    content {
      sid       = "CloudWatchAlarmsPublishToEncryptedTopic"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
      resources = ["*"]

      principals {
        type        = "Service"
        identifiers = ["cloudwatch.amazonaws.com"]
      }

      condition {
        test     = "StringEquals"
        variable = "aws:SourceAccount"
        values   = [data.aws_caller_identity.current.account_id]
      }
    }
  }
}

resource "aws_kms_key" "this" {
  count = local.create_kms_key ? 1 : 0

  description             = "Kinesis stream ${var.name}"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_in_days
  policy                  = data.aws_iam_policy_document.kms_key_policy[0].json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  count = local.create_kms_key ? 1 : 0

  name          = "alias/${replace(var.name, ".", "-")}-stream"
  target_key_id = aws_kms_key.this[0].key_id
}

resource "aws_kinesis_stream" "this" {
  name                      = var.name
  shard_count               = var.stream_mode == "PROVISIONED" ? var.shard_count : null
  retention_period          = var.retention_period_hours
  shard_level_metrics       = var.shard_level_metrics
  enforce_consumer_deletion = var.enforce_consumer_deletion
  encryption_type           = "KMS"
  kms_key_id                = local.kms_key_arn

  stream_mode_details {
    stream_mode = var.stream_mode
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.stream_mode == "ON_DEMAND" || var.shard_count != null
      error_message = "shard_count is required when stream_mode is PROVISIONED."
    }

    precondition {
      condition     = var.create_kms_key || var.kms_key_arn != null
      error_message = "kms_key_arn is required when create_kms_key is false."
    }
  }
}

resource "aws_sns_topic" "alarms" {
  count = var.create_alarm_topic ? 1 : 0

  name              = "${var.name}-alarms"
  kms_master_key_id = local.kms_key_arn
  tags              = var.tags
}

resource "aws_cloudwatch_metric_alarm" "iterator_age" {
  count = var.create_alarms ? 1 : 0

  alarm_name          = "${var.name}-iterator-age"
  alarm_description   = "Consumers of ${var.name} are falling behind: the oldest unread record is older than ${var.iterator_age_threshold_ms} ms."
  namespace           = "AWS/Kinesis"
  metric_name         = "GetRecords.IteratorAgeMilliseconds"
  dimensions          = { StreamName = aws_kinesis_stream.this.name }
  statistic           = "Maximum"
  period              = var.alarm_period_seconds
  evaluation_periods  = var.alarm_evaluation_periods
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.iterator_age_threshold_ms
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "write_throttles" {
  count = var.create_alarms ? 1 : 0

  alarm_name          = "${var.name}-write-throttles"
  alarm_description   = "Producers writing to ${var.name} are throttled: add shards or use ON_DEMAND."
  namespace           = "AWS/Kinesis"
  metric_name         = "WriteProvisionedThroughputExceeded"
  dimensions          = { StreamName = aws_kinesis_stream.this.name }
  statistic           = "Sum"
  period              = var.alarm_period_seconds
  evaluation_periods  = var.alarm_evaluation_periods
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.throttle_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "read_throttles" {
  count = var.create_alarms ? 1 : 0

  alarm_name          = "${var.name}-read-throttles"
  alarm_description   = "Consumers reading ${var.name} are throttled: too many consumers share the 5 reads/s per shard (consider enhanced fan-out)."
  namespace           = "AWS/Kinesis"
  metric_name         = "ReadProvisionedThroughputExceeded"
  dimensions          = { StreamName = aws_kinesis_stream.this.name }
  statistic           = "Sum"
  period              = var.alarm_period_seconds
  evaluation_periods  = var.alarm_evaluation_periods
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.throttle_threshold
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}
