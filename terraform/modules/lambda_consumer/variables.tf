# --- What the consumer reads and writes ---------------------------------------------------

variable "stream_arn" {
  type        = string
  description = "ARN of the Kinesis stream the function consumes (output kinesis_stream_arn of the kinesis_stream module)."

  validation {
    condition     = can(regex("^arn:aws[a-zA-Z-]*:kinesis:[a-z0-9-]+:[0-9]{12}:stream/[a-zA-Z0-9_.-]+$", var.stream_arn))
    error_message = "stream_arn must be a Kinesis stream ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)."
  }
}

variable "stream_kms_key_arn" {
  type        = string
  description = "ARN of the KMS key the stream is encrypted with (the function gets kms:Decrypt on it); null for an unencrypted stream."
  default     = null

  validation {
    condition     = var.stream_kms_key_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kms:", var.stream_kms_key_arn))
    error_message = "stream_kms_key_arn must be a KMS key ARN or null."
  }
}

variable "bucket_name" {
  type        = string
  description = "Bucket the S3 sink writes to (output s3_bucket_name of the s3_output module)."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name (3-63 characters of a-z, 0-9, '.' and '-')."
  }
}

variable "bucket_kms_key_arn" {
  type        = string
  description = "ARN of the KMS key the bucket encrypts with (the function gets kms:GenerateDataKey and kms:Decrypt on it); null for SSE-S3."
  default     = null

  validation {
    condition     = var.bucket_kms_key_arn == null || can(regex("^arn:aws[a-zA-Z-]*:kms:", var.bucket_kms_key_arn))
    error_message = "bucket_kms_key_arn must be a KMS key ARN or null."
  }
}

variable "output_prefix" {
  type        = string
  description = "Key prefix of the event data in the bucket; the function may write only below it and below errors_prefix (SHARDFLOW_OUTPUT_PREFIX)."
  default     = "events"

  validation {
    condition     = can(regex("^[a-zA-Z0-9!_.*'()-]+(/[a-zA-Z0-9!_.*'()-]+)*$", var.output_prefix))
    error_message = "output_prefix must be a non-empty key prefix without leading or trailing '/'."
  }
}

variable "errors_prefix" {
  type        = string
  description = "Key prefix of dead-lettered payloads too large for an SQS message (SHARDFLOW_ERRORS_PREFIX)."
  default     = "errors"

  validation {
    condition     = can(regex("^[a-zA-Z0-9!_.*'()-]+(/[a-zA-Z0-9!_.*'()-]+)*$", var.errors_prefix))
    error_message = "errors_prefix must be a non-empty key prefix without leading or trailing '/'."
  }
}

variable "output_format" {
  type        = string
  description = "Format of the S3 sink: parquet or jsonl (the Hive layout), or iceberg (commits to the Iceberg table iceberg_table in the Glue catalog) (SHARDFLOW_OUTPUT_FORMAT); must match the s3_output module's table (iceberg: its table_format iceberg)."
  default     = "parquet"

  validation {
    condition     = contains(["parquet", "jsonl", "iceberg"], var.output_format)
    error_message = "output_format must be parquet, jsonl or iceberg."
  }
}

variable "iceberg_table" {
  type        = string
  description = "With output_format iceberg: the Glue database.table the function commits to (SHARDFLOW_ICEBERG_TABLE; the s3_output module's glue_iceberg_table output). Its files are under s3://BUCKET/OUTPUT_PREFIX/ (SHARDFLOW_ICEBERG_WAREHOUSE), where the function may write."
  default     = "shardflow.events"

  validation {
    condition     = can(regex("^[a-z0-9_]{1,255}\\.[a-z0-9_]{1,255}$", var.iceberg_table))
    error_message = "iceberg_table must be database.table, each lower-case letters, digits and '_'."
  }
}

# --- The function ---------------------------------------------------------------------------

variable "create_function" {
  type        = bool
  description = "Create the function, its role and its event source mapping. False creates only the tables and queues (a local run on LocalStack with the in-process runner)."
  default     = true
}

variable "function_name" {
  type        = string
  description = "Name of the Lambda function."
  default     = "shardflow-consumer"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,59}$", var.function_name))
    error_message = "function_name must be 1-59 characters of a-z, A-Z, 0-9, '_' and '-' (the role is named FUNCTION-role, at most 64)."
  }
}

variable "package_path" {
  type        = string
  description = "Path of the deployment zip built by `shardflow package lambda`; required when create_function is true."
  default     = null

  validation {
    condition     = var.package_path == null || can(regex("\\.zip$", var.package_path))
    error_message = "package_path must name a .zip file."
  }
}

variable "handler" {
  type        = string
  description = "Entry point of the function."
  default     = "consumers.lambda_handler.handler"

  validation {
    condition     = can(regex("^[A-Za-z_][A-Za-z0-9_.]*\\.[A-Za-z_][A-Za-z0-9_]*$", var.handler))
    error_message = "handler must be module.path.function."
  }
}

variable "runtime" {
  type        = string
  description = "Python runtime; must match the package's --python-version (`shardflow package lambda` builds for 3.11 by default)."
  default     = "python3.11"

  validation {
    condition     = contains(["python3.11", "python3.12", "python3.13"], var.runtime)
    error_message = "runtime must be python3.11, python3.12 or python3.13."
  }
}

variable "architecture" {
  type        = string
  description = "Instruction set: x86_64, or arm64 for a package built with `shardflow package lambda --arm64` (the wheels must match)."
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
}

variable "memory_size" {
  type        = number
  description = "Memory of the function (MB, 128-10240); CPU grows with it."
  default     = 512

  validation {
    condition     = var.memory_size >= 128 && var.memory_size <= 10240
    error_message = "memory_size must be between 128 and 10240."
  }
}

variable "timeout" {
  type        = number
  description = "Function timeout (seconds, 1-900). Leave room for a full batch plus the S3 write."
  default     = 120

  validation {
    condition     = var.timeout >= 1 && var.timeout <= 900
    error_message = "timeout must be between 1 and 900."
  }
}

variable "reserved_concurrent_executions" {
  type        = number
  description = "Concurrency reserved for (and capping) the function; one invocation per shard and parallelization factor. -1 leaves it unreserved."
  default     = -1

  validation {
    condition     = var.reserved_concurrent_executions >= -1
    error_message = "reserved_concurrent_executions must be -1 or more."
  }
}

variable "log_level" {
  type        = string
  description = "Level of the function's structured logs (SHARDFLOW_LOG_LEVEL)."
  default     = "INFO"

  validation {
    condition     = contains(["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"], var.log_level)
    error_message = "log_level must be DEBUG, INFO, WARNING, ERROR or CRITICAL."
  }
}

variable "log_retention_in_days" {
  type        = number
  description = "How long the function's logs are kept (days; a value CloudWatch Logs accepts)."
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_in_days)
    error_message = "log_retention_in_days must be a retention CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ..., 3653)."
  }
}

variable "metrics_namespace" {
  type        = string
  description = "CloudWatch namespace of the handler's EMF metrics (SHARDFLOW_METRICS_NAMESPACE)."
  default     = "shardflow"

  validation {
    condition     = can(regex("^[a-zA-Z0-9._/#:-]{1,255}$", var.metrics_namespace)) && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be 1-255 characters and must not start with AWS/."
  }
}

variable "tracing_enabled" {
  type        = bool
  description = "Turn on X-Ray tracing (Active mode) and powertools Tracer (SHARDFLOW_TRACING); build the package with `shardflow package lambda --with-tracing`."
  default     = false
}

variable "processor" {
  type        = string
  description = "Per-event processing as module:function, called with each consumers.Event (SHARDFLOW_PROCESSOR); the module must be in the package. Null: events only go to S3."
  default     = null

  validation {
    condition     = var.processor == null || can(regex("^[A-Za-z_][A-Za-z0-9_.]*:[A-Za-z_][A-Za-z0-9_]*$", var.processor))
    error_message = "processor must be module.path:function."
  }
}

variable "subnet_ids" {
  type        = list(string)
  description = "Subnets to run the function in (needs VPC endpoints or NAT for Kinesis, S3, DynamoDB, SQS); empty runs it outside a VPC."
  default     = []
}

variable "security_group_ids" {
  type        = list(string)
  description = "Security groups of the function when subnet_ids is set."
  default     = []
}

# --- Event source mapping: each variable is SHARDFLOW_<NAME> for the local runner ------------

variable "batch_size" {
  type        = number
  description = "Most records per invocation (BatchSize, 1-10000); SHARDFLOW_BATCH_SIZE for the local runner."
  default     = 100

  validation {
    condition     = var.batch_size >= 1 && var.batch_size <= 10000
    error_message = "batch_size must be between 1 and 10000."
  }
}

variable "maximum_batching_window_in_seconds" {
  type        = number
  description = "How long to gather records before invoking (0-300 s); SHARDFLOW_MAXIMUM_BATCHING_WINDOW_IN_SECONDS."
  default     = 0

  validation {
    condition     = var.maximum_batching_window_in_seconds >= 0 && var.maximum_batching_window_in_seconds <= 300
    error_message = "maximum_batching_window_in_seconds must be between 0 and 300."
  }
}

variable "starting_position" {
  type        = string
  description = "Where a new mapping starts reading: TRIM_HORIZON, LATEST or AT_TIMESTAMP; SHARDFLOW_STARTING_POSITION."
  default     = "TRIM_HORIZON"

  validation {
    condition     = contains(["TRIM_HORIZON", "LATEST", "AT_TIMESTAMP"], var.starting_position)
    error_message = "starting_position must be TRIM_HORIZON, LATEST or AT_TIMESTAMP."
  }
}

variable "starting_position_timestamp" {
  type        = string
  description = "RFC 3339 time to start from with AT_TIMESTAMP; SHARDFLOW_STARTING_POSITION_TIMESTAMP."
  default     = null

  validation {
    condition     = var.starting_position_timestamp == null || can(formatdate("YYYY", var.starting_position_timestamp))
    error_message = "starting_position_timestamp must be an RFC 3339 time such as 2026-01-31T00:00:00Z."
  }
}

variable "parallelization_factor" {
  type        = number
  description = "Concurrent batches per shard (1-10); records of one partition key stay in order; SHARDFLOW_PARALLELIZATION_FACTOR. Keep 1 for a handler that writes with the S3 sink (the default handler refuses more: the lanes of a shard would fence each other's writes)."
  default     = 1

  validation {
    condition     = var.parallelization_factor >= 1 && var.parallelization_factor <= 10
    error_message = "parallelization_factor must be between 1 and 10."
  }
}

variable "bisect_batch_on_function_error" {
  type        = bool
  description = "Split a batch in two and retry each half when the function errors, to isolate a bad record; SHARDFLOW_BISECT_BATCH_ON_FUNCTION_ERROR. On here; Lambda's API default (and the local runner's without the variable) is off."
  default     = true
}

variable "maximum_retry_attempts" {
  type        = number
  description = "Retries of a failing batch before it goes to the OnFailure queue (-1 = until the records expire, 0-10000); SHARDFLOW_MAXIMUM_RETRY_ATTEMPTS. Keep it above max_attempts, or the mapping discards records before the handler dead-letters them with their payload."
  default     = -1

  validation {
    condition     = var.maximum_retry_attempts >= -1 && var.maximum_retry_attempts <= 10000
    error_message = "maximum_retry_attempts must be -1 or between 0 and 10000."
  }
}

variable "maximum_record_age_in_seconds" {
  type        = number
  description = "Records older than this go to the OnFailure queue unprocessed (-1 = no limit, 60-604800); SHARDFLOW_MAXIMUM_RECORD_AGE_IN_SECONDS."
  default     = -1

  validation {
    condition     = var.maximum_record_age_in_seconds == -1 || (var.maximum_record_age_in_seconds >= 60 && var.maximum_record_age_in_seconds <= 604800)
    error_message = "maximum_record_age_in_seconds must be -1 or between 60 and 604800."
  }
}

variable "filter_patterns" {
  type        = list(string)
  description = "Event filter patterns (JSON, up to 5) on the record's data; records matching none are dropped before invoking. Empty passes every record. A KPL aggregate (what producers.EventProducer sends by default) is not JSON and matches no pattern: filter only events sent one per record (aggregation off)."
  default     = []

  validation {
    condition     = length(var.filter_patterns) <= 5 && alltrue([for pattern in var.filter_patterns : can(jsondecode(pattern))])
    error_message = "filter_patterns must be at most 5 JSON documents."
  }
}

variable "mapping_enabled" {
  type        = bool
  description = "Whether the event source mapping polls (false pauses consumption without deleting the mapping)."
  default     = true
}

# --- Queues ---------------------------------------------------------------------------------

variable "dead_letter_queue_name" {
  type        = string
  description = "Name of the dead-letter queue poison records go to with their payload (SHARDFLOW_DLQ_URL gets its URL)."
  default     = "shardflow-dlq"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,80}$", var.dead_letter_queue_name))
    error_message = "dead_letter_queue_name must be 1-80 characters of a-z, A-Z, 0-9, '_' and '-'."
  }
}

variable "on_failure_queue_name" {
  type        = string
  description = "Name of the mapping's OnFailure destination: metadata (shard, sequence range) of batches Lambda gave up on."
  default     = "shardflow-lambda-failures"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_-]{1,80}$", var.on_failure_queue_name))
    error_message = "on_failure_queue_name must be 1-80 characters of a-z, A-Z, 0-9, '_' and '-'."
  }
}

variable "queue_message_retention_seconds" {
  type        = number
  description = "How long messages stay in the two queues (60-1209600 s); the default is the maximum, 14 days."
  default     = 1209600

  validation {
    condition     = var.queue_message_retention_seconds >= 60 && var.queue_message_retention_seconds <= 1209600
    error_message = "queue_message_retention_seconds must be between 60 and 1209600."
  }
}

# --- Tables ---------------------------------------------------------------------------------

variable "idempotency_table_name" {
  type        = string
  description = "Powertools idempotency table (key id, TTL expiration); SHARDFLOW_IDEMPOTENCY_TABLE."
  default     = "shardflow-idempotency"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.idempotency_table_name))
    error_message = "idempotency_table_name must be 3-255 characters of a-z, A-Z, 0-9, '_', '-' and '.'."
  }
}

variable "idempotency_ttl_seconds" {
  type        = number
  description = "How long a processed event id is remembered (SHARDFLOW_IDEMPOTENCY_TTL_SECONDS); cover the longest replay you expect."
  default     = 3600

  validation {
    condition     = var.idempotency_ttl_seconds >= 60
    error_message = "idempotency_ttl_seconds must be at least 60."
  }
}

variable "idempotency" {
  type        = string
  description = "How the processing function is made idempotent (SHARDFLOW_IDEMPOTENCY): batch (an invocation's event ids locked and completed together, a few DynamoDB calls per 100 events) or event (powertools per event, two writes per event). Both use the same table and records, so switching is safe."
  default     = "batch"

  validation {
    condition     = contains(["batch", "event"], var.idempotency)
    error_message = "idempotency must be batch or event."
  }
}

variable "idempotency_in_progress_expiry_seconds" {
  type        = number
  description = "How long an in-progress idempotency record blocks a retry of the same event (SHARDFLOW_IDEMPOTENCY_IN_PROGRESS_EXPIRY_SECONDS); null uses the invocation's remaining time."
  default     = null

  validation {
    condition     = var.idempotency_in_progress_expiry_seconds == null || try(var.idempotency_in_progress_expiry_seconds >= 1, false)
    error_message = "idempotency_in_progress_expiry_seconds must be at least 1, or null."
  }
}

variable "attempts_table_name" {
  type        = string
  description = "Table of attempt counts of records that keep failing (key record_key, TTL expires_at); SHARDFLOW_ATTEMPTS_TABLE."
  default     = "shardflow-attempts"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.attempts_table_name))
    error_message = "attempts_table_name must be 3-255 characters of a-z, A-Z, 0-9, '_', '-' and '.'."
  }
}

variable "max_attempts" {
  type        = number
  description = "Attempts at a record before the handler dead-letters it with its payload and the shard moves on (SHARDFLOW_MAX_ATTEMPTS)."
  default     = 3

  validation {
    condition     = var.max_attempts >= 1 && var.max_attempts <= 100
    error_message = "max_attempts must be between 1 and 100."
  }
}

variable "attempts_ttl_seconds" {
  type        = number
  description = "How long an attempt count is kept (SHARDFLOW_ATTEMPTS_TTL_SECONDS)."
  default     = 604800

  validation {
    condition     = var.attempts_ttl_seconds >= 60
    error_message = "attempts_ttl_seconds must be at least 60."
  }
}

variable "create_checkpoint_table" {
  type        = bool
  description = "Create the local event-source-mapping runner's checkpoint table (hash consumer, range shard_id). Lambda's own mapping does not need it."
  default     = false
}

variable "checkpoint_table_name" {
  type        = string
  description = "Checkpoint table of the local runner (SHARDFLOW_CHECKPOINT_TABLE), when create_checkpoint_table is true."
  default     = "shardflow-checkpoints"

  validation {
    condition     = can(regex("^[a-zA-Z0-9_.-]{3,255}$", var.checkpoint_table_name))
    error_message = "checkpoint_table_name must be 3-255 characters of a-z, A-Z, 0-9, '_', '-' and '.'."
  }
}

variable "point_in_time_recovery_enabled" {
  type        = bool
  description = "Point-in-time recovery on the module's tables."
  default     = true
}

variable "deletion_protection_enabled" {
  type        = bool
  description = "Refuse to delete the module's tables (turn off before a deliberate destroy)."
  default     = true
}

# --- Encryption, alarms, tags ---------------------------------------------------------------

variable "create_kms_key" {
  type        = bool
  description = "Create a customer managed KMS key (with rotation) for the tables, queues, logs and environment. False uses kms_key_arn, which must then be set (a boolean, not kms_key_arn == null, so that plans work when the key is created in the same apply)."
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

variable "create_alarms" {
  type        = bool
  description = "Create CloudWatch alarms on function errors, iterator age and messages in the two queues."
  default     = true
}

variable "alarm_actions" {
  type        = list(string)
  description = "ARNs notified when an alarm fires or recovers (for example the kinesis_stream module's alarm topic)."
  default     = []

  validation {
    condition     = alltrue([for arn in var.alarm_actions : can(regex("^arn:aws[a-zA-Z-]*:", arn))])
    error_message = "alarm_actions must be ARNs."
  }
}

variable "iterator_age_threshold_ms" {
  type        = number
  description = "Alarm when the function's IteratorAge (age of the last record of a batch) exceeds this (milliseconds)."
  default     = 60000

  validation {
    condition     = var.iterator_age_threshold_ms > 0
    error_message = "iterator_age_threshold_ms must be positive."
  }
}

variable "alarm_evaluation_periods" {
  type        = number
  description = "Consecutive one-minute periods a threshold must be breached before an alarm fires."
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
