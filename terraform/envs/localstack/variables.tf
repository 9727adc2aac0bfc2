variable "endpoint" {
  type        = string
  description = "LocalStack's edge endpoint (tflocal sets it from LOCALSTACK_HOSTNAME/EDGE_PORT; plain terraform uses this)."
  default     = "http://localhost:4566"

  validation {
    condition     = can(regex("^https?://[^/]+$", var.endpoint))
    error_message = "endpoint must be a URL like http://localhost:4566 (no path)."
  }
}

variable "region" {
  type        = string
  description = "Region the resources are created in (LocalStack accepts any)."
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.region))
    error_message = "region must look like us-east-1."
  }
}

variable "shard_count" {
  type        = number
  description = "Shards of the local stream (shardflow bootstrap creates 2; keep them equal)."
  default     = 2

  validation {
    condition     = var.shard_count >= 1 && var.shard_count <= 16
    error_message = "shard_count must be between 1 and 16 for a local stream."
  }
}

variable "lambda_package_path" {
  type        = string
  description = "Deployment zip from `shardflow package lambda`. Set it to deploy the function and its event source mapping into LocalStack (needs LocalStack's Lambda, i.e. its Docker socket); null creates only what the in-process runner needs."
  default     = null

  validation {
    condition     = var.lambda_package_path == null || can(regex("\\.zip$", var.lambda_package_path))
    error_message = "lambda_package_path must name a .zip file, or be null."
  }
}
