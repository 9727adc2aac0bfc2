variable "bucket_name" {
  type        = string
  description = "Name of the output bucket (globally unique)."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name)) && !can(regex("\\.\\.|^\\d+\\.\\d+\\.\\d+\\.\\d+$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name (3-63 characters of a-z, 0-9, '.' and '-', not an IP address)."
  }
}

variable "force_destroy" {
  type        = bool
  description = "Let destroy delete a bucket that still holds objects (for throw-away environments only)."
  default     = false
}

variable "deny_insecure_transport" {
  type        = bool
  description = "Put the bucket policy that denies plain HTTP and TLS older than 1.2. Keep it on: only an emulator served over plain HTTP (envs/localstack with an http:// endpoint) needs it off, as every request there is insecure transport and the policy would deny them all."
  default     = true
}

variable "create_kms_key" {
  type        = bool
  description = "Create a customer managed KMS key (with rotation) for the bucket and the Athena results. False uses kms_key_arn, which must then be set (a boolean, not kms_key_arn == null, so that plans work when the key is created in the same apply)."
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

variable "output_prefix" {
  type        = string
  description = "Key prefix the sink writes events under (SHARDFLOW_OUTPUT_PREFIX); the table's location."
  default     = "events"

  validation {
    condition     = can(regex("^[a-zA-Z0-9!_.*'()-]+(/[a-zA-Z0-9!_.*'()-]+)*$", var.output_prefix))
    error_message = "output_prefix must be a non-empty key prefix without leading or trailing '/'."
  }
}

variable "errors_prefix" {
  type        = string
  description = "Key prefix of dead-lettered payloads too large for SQS (SHARDFLOW_ERRORS_PREFIX); expired after errors_expiration_days."
  default     = "errors"

  validation {
    condition     = can(regex("^[a-zA-Z0-9!_.*'()-]+(/[a-zA-Z0-9!_.*'()-]+)*$", var.errors_prefix))
    error_message = "errors_prefix must be a non-empty key prefix without leading or trailing '/'."
  }
}

variable "output_format" {
  type        = string
  description = "Format the sink writes (SHARDFLOW_OUTPUT_FORMAT): parquet or jsonl; picks the table's SerDe."
  default     = "parquet"

  validation {
    condition     = contains(["parquet", "jsonl"], var.output_format)
    error_message = "output_format must be parquet or jsonl."
  }
}

variable "table_format" {
  type        = string
  description = "Table over the output: hive (a Glue table with partition projection over the sink's Parquet or JSONL objects) or iceberg (an Apache Iceberg table the consumers commit to with SHARDFLOW_OUTPUT_FORMAT=iceberg: Athena named queries create and compact it; output_format must be parquet, the format of its data files)."
  default     = "hive"

  validation {
    condition     = contains(["hive", "iceberg"], var.table_format)
    error_message = "table_format must be hive or iceberg."
  }
}

variable "iceberg_vacuum_max_snapshot_age_seconds" {
  type        = number
  description = "Iceberg table property vacuum_max_snapshot_age_seconds: VACUUM expires only older snapshots. At least the stream's retention period: the writer finds what it committed in the snapshots, and a replay can reach back that far."
  default     = 604800

  validation {
    condition     = var.iceberg_vacuum_max_snapshot_age_seconds >= 86400
    error_message = "iceberg_vacuum_max_snapshot_age_seconds must be at least 86400 (a Kinesis stream keeps records at least 24 hours)."
  }
}

variable "transition_to_ia_days" {
  type        = number
  description = "Days after which event objects move to STANDARD_IA (Athena still reads them); null keeps them in STANDARD."
  default     = 30

  validation {
    condition     = var.transition_to_ia_days == null || try(var.transition_to_ia_days >= 30, false)
    error_message = "transition_to_ia_days must be at least 30 (the S3 minimum), or null."
  }
}

variable "transition_to_glacier_ir_days" {
  type        = number
  description = "Days after which event objects move to GLACIER_IR (instant retrieval, still queryable); null never."
  default     = 180

  validation {
    condition     = var.transition_to_glacier_ir_days == null || try(var.transition_to_glacier_ir_days >= 90, false)
    error_message = "transition_to_glacier_ir_days must be at least 90, or null."
  }
}

variable "output_expiration_days" {
  type        = number
  description = "Days after which event objects are deleted; null keeps them."
  default     = null

  validation {
    condition     = var.output_expiration_days == null || try(var.output_expiration_days >= 1, false)
    error_message = "output_expiration_days must be at least 1, or null."
  }
}

variable "errors_expiration_days" {
  type        = number
  description = "Days after which dead-lettered payloads under errors_prefix are deleted."
  default     = 30

  validation {
    condition     = var.errors_expiration_days >= 1
    error_message = "errors_expiration_days must be at least 1."
  }
}

variable "noncurrent_version_expiration_days" {
  type        = number
  description = "Days after which overwritten or deleted object versions are removed (a replay overwrites the same keys)."
  default     = 30

  validation {
    condition     = var.noncurrent_version_expiration_days >= 1
    error_message = "noncurrent_version_expiration_days must be at least 1."
  }
}

variable "access_log_bucket_name" {
  type        = string
  description = "Bucket that receives the server access logs of the output bucket; null turns access logging off."
  default     = null

  validation {
    condition     = var.access_log_bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.access_log_bucket_name))
    error_message = "access_log_bucket_name must be a valid S3 bucket name, or null."
  }
}

variable "create_glue_catalog" {
  type        = bool
  description = "Create the Glue database and the table over the output (partition projection: no crawler, no MSCK REPAIR)."
  default     = true
}

variable "glue_database_name" {
  type        = string
  description = "Glue database of the table."
  default     = "shardflow"

  validation {
    condition     = can(regex("^[a-z0-9_]{1,255}$", var.glue_database_name))
    error_message = "glue_database_name must be lower-case letters, digits and '_' (Athena's rule)."
  }
}

variable "glue_table_name" {
  type        = string
  description = "Glue table over the events."
  default     = "events"

  validation {
    condition     = can(regex("^[a-z0-9_]{1,255}$", var.glue_table_name))
    error_message = "glue_table_name must be lower-case letters, digits and '_' (Athena's rule)."
  }
}

variable "create_athena_workgroup" {
  type        = bool
  description = "Create an Athena workgroup whose query results are KMS-encrypted in this bucket."
  default     = true
}

variable "athena_workgroup_name" {
  type        = string
  description = "Name of the Athena workgroup."
  default     = "shardflow"

  validation {
    condition     = can(regex("^[a-zA-Z0-9._-]{1,128}$", var.athena_workgroup_name))
    error_message = "athena_workgroup_name must be 1-128 characters of a-z, A-Z, 0-9, '.', '_' and '-'."
  }
}

variable "athena_results_prefix" {
  type        = string
  description = "Key prefix of Athena query results in the bucket."
  default     = "athena-results"

  validation {
    condition     = can(regex("^[a-zA-Z0-9!_.*'()-]+(/[a-zA-Z0-9!_.*'()-]+)*$", var.athena_results_prefix))
    error_message = "athena_results_prefix must be a non-empty key prefix without leading or trailing '/'."
  }
}

variable "athena_results_expiration_days" {
  type        = number
  description = "Days after which Athena query results are deleted."
  default     = 7

  validation {
    condition     = var.athena_results_expiration_days >= 1
    error_message = "athena_results_expiration_days must be at least 1."
  }
}

variable "athena_bytes_scanned_cutoff_per_query" {
  type        = number
  description = "Cancel a query of the workgroup that scans more than this many bytes (at least 10 MB); null for no limit."
  default     = 107374182400

  validation {
    condition     = var.athena_bytes_scanned_cutoff_per_query == null || try(var.athena_bytes_scanned_cutoff_per_query >= 10485760, false)
    error_message = "athena_bytes_scanned_cutoff_per_query must be at least 10485760 (10 MB), or null."
  }
}

variable "tags" {
  type        = map(string)
  description = "Tags added to every resource the module creates."
  default     = {}
}
