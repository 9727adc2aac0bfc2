variable "name" {
  type        = string
  description = "Name of the Kinesis data stream (shardflow's default: shardflow-events)."

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{1,128}$", var.name))
    error_message = "name must be 1-128 characters of a-z, A-Z, 0-9, '_', '-' and '.'."
  }
}

variable "stream_mode" {
  type        = string
  description = "Capacity mode: ON_DEMAND (scales by itself, billed per GB) or PROVISIONED (shard_count shards)."
  default     = "ON_DEMAND"

  validation {
    condition     = contains(["ON_DEMAND", "PROVISIONED"], var.stream_mode)
    error_message = "stream_mode must be ON_DEMAND or PROVISIONED."
  }
}

variable "shard_count" {
  type        = number
  description = "Number of shards when stream_mode is PROVISIONED (ignored in ON_DEMAND mode). Each shard takes 1 MB/s or 1,000 records/s in."
  default     = null

  validation {
    condition     = var.shard_count == null || try(var.shard_count >= 1 && var.shard_count <= 10000 && floor(var.shard_count) == var.shard_count, false)
    error_message = "shard_count must be a whole number from 1 to 10000 (or null in ON_DEMAND mode)."
  }
}

variable "retention_period_hours" {
  type        = number
  description = "How long records stay readable (hours, 24-8760). Consumers can replay or catch up for this long."
  default     = 24

  validation {
    condition     = var.retention_period_hours >= 24 && var.retention_period_hours <= 8760
    error_message = "retention_period_hours must be between 24 and 8760."
  }
}

variable "create_kms_key" {
  type        = bool
  description = "Create a customer managed KMS key (with rotation) for the stream and the alarm topic. False uses kms_key_arn, which must then be set (a boolean, not kms_key_arn == null, so that plans work when the key is created in the same apply)."
  default     = true
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of an existing KMS key, used when create_kms_key is false."
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (arn:aws:kms:...) or null."
  }
}

variable "kms_key_deletion_window_in_days" {
  type        = number
  description = "Waiting period before a created KMS key is deleted after destroy (7-30 days)."
  default     = 30

  validation {
    condition     = var.kms_key_deletion_window_in_days >= 7 && var.kms_key_deletion_window_in_days <= 30
    error_message = "kms_key_deletion_window_in_days must be between 7 and 30."
  }
}

variable "shard_level_metrics" {
  type        = list(string)
  description = "Enhanced (shard-level) CloudWatch metrics to enable; they cost per shard and metric."
  default     = ["IncomingBytes", "IncomingRecords", "OutgoingRecords", "ReadProvisionedThroughputExceeded", "WriteProvisionedThroughputExceeded", "IteratorAgeMilliseconds"]

  validation {
    condition = alltrue([
      for metric in var.shard_level_metrics : contains([
        "IncomingBytes", "IncomingRecords", "OutgoingBytes", "OutgoingRecords",
        "WriteProvisionedThroughputExceeded", "ReadProvisionedThroughputExceeded",
        "IteratorAgeMilliseconds", "ALL",
      ], metric)
    ])
    error_message = "shard_level_metrics may only name Kinesis shard-level metrics (IncomingBytes, IncomingRecords, OutgoingBytes, OutgoingRecords, WriteProvisionedThroughputExceeded, ReadProvisionedThroughputExceeded, IteratorAgeMilliseconds, ALL)."
  }
}

variable "enforce_consumer_deletion" {
  type        = bool
  description = "Deregister enhanced fan-out consumers when the stream is destroyed (otherwise destroy fails while consumers exist)."
  default     = false
}

variable "create_alarms" {
  type        = bool
  description = "Create CloudWatch alarms on iterator age and on read and write throttling."
  default     = true
}

variable "create_alarm_topic" {
  type        = bool
  description = "Create a KMS-encrypted SNS topic that every alarm notifies (its ARN is output for the other modules)."
  default     = false
}

variable "alarm_actions" {
  type        = list(string)
  description = "ARNs notified when an alarm fires or recovers (SNS topics, for example), in addition to the created topic."
  default     = []

  validation {
    condition     = alltrue([for arn in var.alarm_actions : can(regex("^arn:aws[a-zA-Z-]*:", arn))])
    error_message = "alarm_actions must be ARNs."
  }
}

variable "iterator_age_threshold_ms" {
  type        = number
  description = "Alarm when the oldest unread record is older than this (milliseconds, GetRecords.IteratorAgeMilliseconds maximum)."
  default     = 60000

  validation {
    condition     = var.iterator_age_threshold_ms > 0
    error_message = "iterator_age_threshold_ms must be positive."
  }
}

variable "throttle_threshold" {
  type        = number
  description = "Alarm when more than this many read or write requests are throttled in one alarm period."
  default     = 0

  validation {
    condition     = var.throttle_threshold >= 0
    error_message = "throttle_threshold must be zero or more."
  }
}

variable "alarm_period_seconds" {
  type        = number
  description = "Length of one alarm evaluation period (seconds; 60 or a multiple of 60)."
  default     = 60

  validation {
    condition     = var.alarm_period_seconds >= 60 && var.alarm_period_seconds % 60 == 0
    error_message = "alarm_period_seconds must be a multiple of 60."
  }
}

variable "alarm_evaluation_periods" {
  type        = number
  description = "Consecutive periods a threshold must be breached before an alarm fires."
  default     = 5

  validation {
    condition     = var.alarm_evaluation_periods >= 1
    error_message = "alarm_evaluation_periods must be at least 1."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource the module creates."
  default     = {}
}
