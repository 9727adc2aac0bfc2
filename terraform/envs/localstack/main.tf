# Everything a local shardflow run needs, on LocalStack: the same modules as on AWS, with the
# pieces LocalStack's free edition lacks (Glue, Athena) and the alarms turned off, one KMS
# key for everything, and tables that may be destroyed.
#
# shardflow_tools/bootstrap.py creates exactly this with boto3 (for machines without Docker:
# `shardflow local` + `shardflow bootstrap`); tests/unit/terraform/test_drift.py parses this
# file and the modules and fails if the two disagree on names, keys, TTL or encryption.
# The names are shardflow/resources.py's.

provider "aws" {
  region                      = var.region
  access_key                  = "test"
  secret_key                  = "test"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  s3_use_path_style           = true

  endpoints {
    cloudwatch = var.endpoint
    dynamodb   = var.endpoint
    iam        = var.endpoint
    kinesis    = var.endpoint
    kms        = var.endpoint
    lambda     = var.endpoint
    logs       = var.endpoint
    s3         = var.endpoint
    sns        = var.endpoint
    sqs        = var.endpoint
    sts        = var.endpoint
  }
}

data "aws_caller_identity" "current" {}

data "aws_iam_policy_document" "key" {
  # checkov:skip=CKV_AWS_109:A key policy's "*" resource is this key; the account root delegates access to IAM policies.
  # checkov:skip=CKV_AWS_111:A key policy's "*" resource is this key; the account root delegates access to IAM policies.
  # checkov:skip=CKV_AWS_356:A key policy's "*" resource is this key.
  statement {
    sid       = "AccountAdministersKeyThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "local" {
  description             = "shardflow local resources"
  enable_key_rotation     = true
  deletion_window_in_days = 7
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "local" {
  name          = "alias/shardflow"
  target_key_id = aws_kms_key.local.key_id
}

module "stream" {
  source = "../../modules/kinesis_stream"

  name                   = "shardflow-events"
  stream_mode            = "PROVISIONED"
  shard_count            = var.shard_count
  retention_period_hours = 24
  create_kms_key         = false
  kms_key_arn            = aws_kms_key.local.arn
  create_alarms          = false
}

module "output" {
  source = "../../modules/s3_output"

  bucket_name    = "shardflow-output"
  output_prefix  = "events"
  errors_prefix  = "errors"
  create_kms_key = false
  kms_key_arn    = aws_kms_key.local.arn
  force_destroy  = true
  # Over a plain-HTTP endpoint every request is insecure transport: the TLS-only policy
  # would deny them all where the emulator enforces bucket policies (moto does), as
  # shardflow bootstrap leaves it out there too.
  deny_insecure_transport = startswith(var.endpoint, "https://")
  create_glue_catalog     = false
  create_athena_workgroup = false
}

module "lambda_consumer" {
  source = "../../modules/lambda_consumer"

  create_function = var.lambda_package_path != null
  package_path    = var.lambda_package_path

  stream_arn         = module.stream.kinesis_stream_arn
  stream_kms_key_arn = aws_kms_key.local.arn
  bucket_name        = module.output.s3_bucket_name
  bucket_kms_key_arn = aws_kms_key.local.arn
  output_prefix      = "events"
  errors_prefix      = "errors"

  dead_letter_queue_name  = "shardflow-dlq"
  on_failure_queue_name   = "shardflow-lambda-failures"
  idempotency_table_name  = "shardflow-idempotency"
  attempts_table_name     = "shardflow-attempts"
  create_checkpoint_table = true
  checkpoint_table_name   = "shardflow-checkpoints"

  create_kms_key              = false
  kms_key_arn                 = aws_kms_key.local.arn
  deletion_protection_enabled = false
  create_alarms               = false
}

module "kcl_consumer" {
  source = "../../modules/kcl_consumer"

  application_name              = "shardflow-kcl"
  stream_arn                    = module.stream.kinesis_stream_arn
  stream_kms_key_arn            = aws_kms_key.local.arn
  create_tables                 = true
  create_kms_key                = false
  kms_key_arn                   = aws_kms_key.local.arn
  deletion_protection_enabled   = false
  bucket_name                   = module.output.s3_bucket_name
  bucket_kms_key_arn            = aws_kms_key.local.arn
  dead_letter_queue_arn         = module.lambda_consumer.sqs_dead_letter_queue_arn
  dead_letter_queue_kms_key_arn = aws_kms_key.local.arn
}
