output "kcl_iam_role_arn" {
  description = "ARN of the workers' role (ECS task role, or the instance profile's role)."
  value       = aws_iam_role.this.arn
}

output "kcl_iam_role_name" {
  description = "Name of the workers' role."
  value       = aws_iam_role.this.name
}

output "kcl_iam_policy_arn" {
  description = "ARN of the least-privilege policy attached to the role."
  value       = aws_iam_policy.this.arn
}

output "kcl_instance_profile_name" {
  description = "Name of the EC2 instance profile (null when create_instance_profile is false)."
  value       = one(aws_iam_instance_profile.this[*].name)
}

output "kcl_lease_table_name" {
  description = "Name of the lease table (the application name)."
  value       = local.lease_table_name
}

output "kcl_coordinator_state_table_name" {
  description = "Name of the CoordinatorState table."
  value       = local.coordinator_state_table_name
}

output "kcl_worker_metrics_table_name" {
  description = "Name of the WorkerMetricStats table."
  value       = local.worker_metrics_table_name
}

output "kcl_kms_key_arn" {
  description = "ARN of the KMS key the created tables are encrypted with (null when create_tables is false)."
  value       = var.create_tables ? local.kms_key_arn : null
}

output "kcl_properties" {
  description = "MultiLangDaemon properties that match this module (merge with executableName and your tuning)."
  value = {
    applicationName         = var.application_name
    streamName              = local.stream_name
    regionName              = local.region
    AwsCredentialsProvider  = "DefaultCredentialsProvider"
    initialPositionInStream = "TRIM_HORIZON"
    retrievalMode           = var.enhanced_fan_out ? "FANOUT" : "POLLING"
  }
}
