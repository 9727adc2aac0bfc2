variable "application_name" {
  type        = string
  description = "KCL applicationName; also the lease table's name and the prefix of the CoordinatorState and WorkerMetricStats tables, and the CloudWatch namespace of the KCL's metrics."
  default     = "shardflow-kcl"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,60}$", var.application_name))
    error_message = "application_name must be 3-60 characters of a-z, A-Z, 0-9, '_', '-' and '.' (it names the tables and, with a suffix, the IAM role, whose name has at most 64)."
  }
}

variable "stream_arn" {
  type        = string
  description = "ARN of the Kinesis stream the KCL workers read."

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:kinesis:[a-z0-9-]+:[0-9]{12}:stream/[a-zA-Z0-9_.-]+$", var.stream_arn))
    error_message = "stream_arn must be a Kinesis stream ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)."
  }
}

variable "stream_kms_key_arn" {
  type        = string
  description = "ARN of the KMS key the stream is encrypted with (workers get kms:Decrypt on it); null for an unencrypted stream."
  default     = null

  validation {
    condition     = var.stream_kms_key_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kms:", var.stream_kms_key_arn))
    error_message = "stream_kms_key_arn must be a KMS key ARN or null."
  }
}

variable "enhanced_fan_out" {
  type        = bool
  description = "Allow the workers to register and use an enhanced fan-out consumer (retrievalMode FANOUT); false allows polling only."
  default     = false
}

variable "create_tables" {
  type        = bool
  description = "Create the KCL 3 tables (lease table with its LeaseOwnerToLeaseKeyIndex, CoordinatorState, WorkerMetricStats) encrypted and with PITR; the workers then get no dynamodb:CreateTable. False lets the KCL create them with its own defaults."
  default     = true
}

variable "point_in_time_recovery_enabled" {
  type        = bool
  description = "Point-in-time recovery on the created tables."
  default     = true
}

variable "deletion_protection_enabled" {
  type        = bool
  description = "Refuse to delete the created tables (turn off before a deliberate destroy)."
  default     = true
}

variable "create_kms_key" {
  type        = bool
  description = "Create a customer managed KMS key (with rotation) for the created tables. False uses kms_key_arn, which must then be set (a boolean, not kms_key_arn == null, so that plans work when the key is created in the same apply)."
  default     = true
}

variable "kms_key_arn" {
  type        = string
  description = "ARN of an existing KMS key, used when create_kms_key is false."
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kms:", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN or null."
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

variable "assume_role_services" {
  type        = list(string)
  description = "Service principals that may assume the workers' role: ecs-tasks.amazonaws.com for ECS/Fargate tasks, ec2.amazonaws.com for instances (with create_instance_profile)."
  default     = ["ecs-tasks.amazonaws.com"]

  validation {
    condition     = length(var.assume_role_services) > 0 && alltrue([for service in var.assume_role_services : contains(["ecs-tasks.amazonaws.com", "ec2.amazonaws.com", "eks.amazonaws.com"], service)])
    error_message = "assume_role_services must list ecs-tasks.amazonaws.com, ec2.amazonaws.com or eks.amazonaws.com."
  }
}

variable "create_instance_profile" {
  type        = bool
  description = "Create an EC2 instance profile for the role (for workers on EC2)."
  default     = false
}

variable "bucket_name" {
  type        = string
  description = "Bucket the workers' S3 sink writes to; null grants no S3 access."
  default     = null

  validation {
    condition     = var.bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name or null."
  }
}

variable "bucket_kms_key_arn" {
  type        = string
  description = "ARN of the KMS key the bucket encrypts with; null for SSE-S3."
  default     = null

  validation {
    condition     = var.bucket_kms_key_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kms:", var.bucket_kms_key_arn))
    error_message = "bucket_kms_key_arn must be a KMS key ARN or null."
  }
}

variable "output_prefix" {
  type        = string
  description = "Key prefix of the event data the workers write (SHARDFLOW_OUTPUT_PREFIX)."
  default     = "events"

  validation {
    condition     = can(regex("^[a-zA-Z0-9!_.*'()-]+(/[a-zA-Z0-9!_.*'()-]+)*$", var.output_prefix))
    error_message = "output_prefix must be a non-empty key prefix without leading or trailing '/'."
  }
}

variable "errors_prefix" {
  type        = string
  description = "Key prefix of dead-lettered payloads too large for SQS (SHARDFLOW_ERRORS_PREFIX)."
  default     = "errors"

  validation {
    condition     = can(regex("^[a-zA-Z0-9!_.*'()-]+(/[a-zA-Z0-9!_.*'()-]+)*$", var.errors_prefix))
    error_message = "errors_prefix must be a non-empty key prefix without leading or trailing '/'."
  }
}

variable "iceberg_table" {
  type        = string
  description = "With the Iceberg output (SHARDFLOW_OUTPUT_FORMAT=iceberg, SHARDFLOW_ICEBERG_CATALOG=glue): the Glue database.table the workers commit to (SHARDFLOW_ICEBERG_TABLE; the s3_output module's glue_iceberg_table output), its files below output_prefix; the role then gets its Glue calls instead of the Hive layout's manifests. Null: the Hive layout. Needs bucket_name."
  default     = null

  validation {
    condition     = var.iceberg_table == null || can(regex("^[a-z0-9_]{1,255}\\.[a-z0-9_]{1,255}$", var.iceberg_table))
    error_message = "iceberg_table must be database.table, each lower-case letters, digits and '_', or null."
  }
}

variable "dead_letter_queue_arn" {
  type        = string
  description = "ARN of the dead-letter queue the workers send poison records to (the lambda_consumer module's sqs_dead_letter_queue_arn); null grants no SQS access."
  default     = null

  validation {
    condition     = var.dead_letter_queue_arn == null || can(regex("^arn:aws[a-zA-Z-]*:sqs:", var.dead_letter_queue_arn))
    error_message = "dead_letter_queue_arn must be an SQS queue ARN or null."
  }
}

variable "dead_letter_queue_kms_key_arn" {
  type        = string
  description = "ARN of the KMS key the dead-letter queue is encrypted with; null when it is not encrypted with a customer managed key."
  default     = null

  validation {
    condition     = var.dead_letter_queue_kms_key_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kms:", var.dead_letter_queue_kms_key_arn))
    error_message = "dead_letter_queue_kms_key_arn must be a KMS key ARN or null."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource the module creates."
  default     = {}
}
