# Output bucket for gzip JSON Lines, events kept two years, with access logs.

provider "aws" {
  region = "eu-west-1"
}

module "output" {
  source = "../../"

  bucket_name            = "shardflow-example-output-123456789012"
  output_format          = "jsonl"
  output_expiration_days = 730
  access_log_bucket_name = "example-access-logs-123456789012"
  tags                   = { example = "s3_output" }
}

output "athena_workgroup" {
  description = "Workgroup to query the example table with."
  value       = module.output.athena_workgroup_name
}
