# An example deployment wiring every module: stream -> Lambda consumer (and, optionally, a
# KCL consumer fleet) -> S3 -> Glue/Athena, with one alarm topic. Copy it and adapt; the
# state backend is yours to add (an S3 backend with a DynamoDB lock table is usual).

provider "aws" {
  region = var.region

  default_tags {
    tags = var.tags
  }
}

module "stream" {
  source = "../../modules/kinesis_stream"

  name               = "${var.name_prefix}-events"
  stream_mode        = var.stream_mode
  shard_count        = var.shard_count
  create_alarm_topic = true
}

resource "aws_sns_topic_subscription" "alarm_email" {
  count = var.alarm_email == null ? 0 : 1

  topic_arn = module.stream.kinesis_stream_alarm_topic_arn
  protocol  = "email"
  endpoint  = var.alarm_email
}

locals {
  glue_database_name = replace(var.name_prefix, "-", "_")
  iceberg            = var.output_format == "iceberg"
}

module "output" {
  source = "../../modules/s3_output"

  bucket_name = var.bucket_name
  # Iceberg data files are Parquet.
  output_format         = local.iceberg ? "parquet" : var.output_format
  table_format          = local.iceberg ? "iceberg" : "hive"
  glue_database_name    = local.glue_database_name
  athena_workgroup_name = var.name_prefix
}

module "lambda_consumer" {
  source = "../../modules/lambda_consumer"

  function_name = "${var.name_prefix}-consumer"
  package_path  = var.lambda_package_path

  stream_arn         = module.stream.kinesis_stream_arn
  stream_kms_key_arn = module.stream.kinesis_stream_kms_key_arn
  bucket_name        = module.output.s3_bucket_name
  bucket_kms_key_arn = module.output.s3_kms_key_arn
  output_format      = var.output_format
  # The s3_output module's table (its glue_iceberg_table output), known at plan time.
  iceberg_table = "${local.glue_database_name}.events"

  dead_letter_queue_name = "${var.name_prefix}-dlq"
  on_failure_queue_name  = "${var.name_prefix}-lambda-failures"
  idempotency_table_name = "${var.name_prefix}-idempotency"
  attempts_table_name    = "${var.name_prefix}-attempts"

  alarm_actions = [module.stream.kinesis_stream_alarm_topic_arn]
}

module "kcl_consumer" {
  source = "../../modules/kcl_consumer"
  count  = var.deploy_kcl_consumer ? 1 : 0

  application_name              = "${var.name_prefix}-kcl"
  stream_arn                    = module.stream.kinesis_stream_arn
  stream_kms_key_arn            = module.stream.kinesis_stream_kms_key_arn
  bucket_name                   = module.output.s3_bucket_name
  bucket_kms_key_arn            = module.output.s3_kms_key_arn
  dead_letter_queue_arn         = module.lambda_consumer.sqs_dead_letter_queue_arn
  dead_letter_queue_kms_key_arn = module.lambda_consumer.kms_key_arn
  iceberg_table                 = local.iceberg ? "${local.glue_database_name}.events" : null
}
