variable "region" {
  type        = string
  description = "AWS region to deploy to."
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must look like eu-west-1."
  }
}

variable "name_prefix" {
  type        = string
  description = "Prefix of every name (environment or team), so several deployments share an account; the names after it are shardflow/resources.py's."
  default     = "shardflow"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,30}[a-z0-9]$", var.name_prefix))
    error_message = "name_prefix must be 3-32 characters of a-z, 0-9 and '-', starting with a letter."
  }
}

variable "bucket_name" {
  type        = string
  description = "Globally unique name of the output bucket (for example shardflow-output-ACCOUNT_ID)."

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name."
  }
}

variable "lambda_package_path" {
  type        = string
  description = "Deployment zip built by `shardflow package lambda`."

  validation {
    condition     = can(regex("\\.zip$", var.lambda_package_path))
    error_message = "lambda_package_path must name a .zip file."
  }
}

variable "stream_mode" {
  type        = string
  description = "ON_DEMAND or PROVISIONED."
  default     = "ON_DEMAND"

  validation {
    condition     = contains(["ON_DEMAND", "PROVISIONED"], var.stream_mode)
    error_message = "stream_mode must be ON_DEMAND or PROVISIONED."
  }
}

variable "shard_count" {
  type        = number
  description = "Shards in PROVISIONED mode."
  default     = null

  validation {
    condition     = var.shard_count == null || try(var.shard_count >= 1, false)
    error_message = "shard_count must be at least 1, or null for ON_DEMAND."
  }
}

variable "output_format" {
  type        = string
  description = "Format the sinks write and the Glue table reads: parquet or jsonl (a Hive table), or iceberg (an Iceberg table the consumers commit to; docs/iceberg.md)."
  default     = "parquet"

  validation {
    condition     = contains(["parquet", "jsonl", "iceberg"], var.output_format)
    error_message = "output_format must be parquet, jsonl or iceberg."
  }
}

variable "alarm_email" {
  type        = string
  description = "E-mail address subscribed to the alarm topic (confirm the subscription mail); null subscribes nobody."
  default     = null

  validation {
    condition     = var.alarm_email == null || can(regex("^[^@\\s]+@[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an e-mail address or null."
  }
}

variable "deploy_kcl_consumer" {
  type        = bool
  description = "Also create the KCL consumer's role and tables (run the daemon on ECS with the role as task role)."
  default     = true
}

variable "tags" {
  type        = map(string)
  description = "Tags on every resource."
  default     = { project = "shardflow" }
}
