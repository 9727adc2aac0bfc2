# The task role and tables of a KCL fleet on ECS/Fargate reading an existing stream: put
# kcl_iam_role_arn in the task definition's taskRoleArn and kcl_properties in the
# MultiLangDaemon's properties file.

provider "aws" {
  region = "eu-west-1"
}

variable "stream_arn" {
  type        = string
  description = "ARN of the stream the fleet reads."
}

variable "stream_kms_key_arn" {
  type        = string
  description = "KMS key of the stream."
}

module "kcl" {
  source = "../../"

  application_name   = "shardflow-example-kcl"
  stream_arn         = var.stream_arn
  stream_kms_key_arn = var.stream_kms_key_arn
  enhanced_fan_out   = true
  tags               = { example = "kcl_consumer" }
}

output "task_role_arn" {
  description = "taskRoleArn of the ECS task definition."
  value       = module.kcl.kcl_iam_role_arn
}

output "kcl_properties" {
  description = "Properties for the MultiLangDaemon."
  value       = module.kcl.kcl_properties
}
