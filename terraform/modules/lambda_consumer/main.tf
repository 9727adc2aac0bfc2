# The Lambda consumer: consumers.lambda_handler.handler behind an event source mapping that
# reports partial batch failures, with everything it touches scoped to exactly what it needs:
# the stream (read), two bucket prefixes (write), its idempotency and attempts tables, its
# two queues, its log group.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  create_kms_key = var.create_kms_key
  kms_key_arn    = local.create_kms_key ? aws_kms_key.this[0].arn : var.kms_key_arn
  partition      = data.aws_partition.current.partition
  region         = data.aws_region.current.name
  account_id     = data.aws_caller_identity.current.account_id
  stream_name    = element(split("/", var.stream_arn), 1)
  bucket_arn     = "arn:${local.partition}:s3:::${var.bucket_name}"
  log_group_name = "/aws/lambda/${var.function_name}"
  log_group_arn  = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"
  alarm_actions  = var.alarm_actions

  # The Iceberg output (output_format iceberg): the Glue table and where its files go, the
  # default warehouse of the writer (consumers.sink.iceberg.catalog), below output_prefix.
  iceberg           = var.output_format == "iceberg"
  iceberg_database  = element(split(".", var.iceberg_table), 0)
  iceberg_warehouse = "s3://${var.bucket_name}/${var.output_prefix}"
  glue_catalog_arn  = "arn:${local.partition}:glue:${local.region}:${local.account_id}:catalog"
  glue_database_arn = "arn:${local.partition}:glue:${local.region}:${local.account_id}:database/${local.iceberg_database}"
  glue_table_arn    = "arn:${local.partition}:glue:${local.region}:${local.account_id}:table/${replace(var.iceberg_table, ".", "/")}"

  # What consumers.lambda_handler reads (names in shardflow/settings.py; a test checks them).
  handler_environment = {
    SHARDFLOW_BUCKET                                 = var.bucket_name
    SHARDFLOW_OUTPUT_PREFIX                          = var.output_prefix
    SHARDFLOW_ERRORS_PREFIX                          = var.errors_prefix
    SHARDFLOW_OUTPUT_FORMAT                          = var.output_format
    SHARDFLOW_ICEBERG_CATALOG                        = local.iceberg ? "glue" : ""
    SHARDFLOW_ICEBERG_TABLE                          = local.iceberg ? var.iceberg_table : ""
    SHARDFLOW_ICEBERG_WAREHOUSE                      = local.iceberg ? local.iceberg_warehouse : ""
    SHARDFLOW_DLQ_URL                                = aws_sqs_queue.dead_letter.url
    SHARDFLOW_IDEMPOTENCY_TABLE                      = aws_dynamodb_table.idempotency.name
    SHARDFLOW_IDEMPOTENCY                            = var.idempotency
    SHARDFLOW_IDEMPOTENCY_TTL_SECONDS                = tostring(var.idempotency_ttl_seconds)
    SHARDFLOW_IDEMPOTENCY_IN_PROGRESS_EXPIRY_SECONDS = var.idempotency_in_progress_expiry_seconds == null ? "" : tostring(var.idempotency_in_progress_expiry_seconds)
    SHARDFLOW_ATTEMPTS_TABLE                         = aws_dynamodb_table.attempts.name
    SHARDFLOW_ATTEMPTS_TTL_SECONDS                   = tostring(var.attempts_ttl_seconds)
    SHARDFLOW_MAX_ATTEMPTS                           = tostring(var.max_attempts)
    SHARDFLOW_METRICS_NAMESPACE                      = var.metrics_namespace
    SHARDFLOW_TRACING                                = tostring(var.tracing_enabled)
    SHARDFLOW_PROCESSOR                              = var.processor == null ? "" : var.processor
    SHARDFLOW_LOG_LEVEL                              = var.log_level
    POWERTOOLS_SERVICE_NAME                          = var.function_name
  }

  # The mapping's settings under the names the local runner (`shardflow consume lambda`)
  # reads, so a local run can be configured exactly like the deployed mapping.
  event_source_mapping_environment = {
    SHARDFLOW_BATCH_SIZE                         = tostring(var.batch_size)
    SHARDFLOW_MAXIMUM_BATCHING_WINDOW_IN_SECONDS = tostring(var.maximum_batching_window_in_seconds)
    SHARDFLOW_STARTING_POSITION                  = var.starting_position
    SHARDFLOW_STARTING_POSITION_TIMESTAMP        = var.starting_position_timestamp == null ? "" : var.starting_position_timestamp
    SHARDFLOW_PARALLELIZATION_FACTOR             = tostring(var.parallelization_factor)
    SHARDFLOW_BISECT_BATCH_ON_FUNCTION_ERROR     = tostring(var.bisect_batch_on_function_error)
    SHARDFLOW_MAXIMUM_RETRY_ATTEMPTS             = tostring(var.maximum_retry_attempts)
    SHARDFLOW_MAXIMUM_RECORD_AGE_IN_SECONDS      = tostring(var.maximum_record_age_in_seconds)
  }

  # Plus what Lambda itself provides: the function's name, which prefixes the idempotency
  # keys and attempt counts (a local run under another name would not see the deployed
  # function's records in the shared tables) and names the runner's checkpoints.
  local_runner_environment = merge(local.handler_environment, local.event_source_mapping_environment, {
    AWS_LAMBDA_FUNCTION_NAME         = var.function_name
    SHARDFLOW_STREAM                 = local.stream_name
    SHARDFLOW_ON_FAILURE_QUEUE_URL   = aws_sqs_queue.on_failure.url
    SHARDFLOW_CHECKPOINT_TABLE       = var.create_checkpoint_table ? aws_dynamodb_table.checkpoints[0].name : ""
    SHARDFLOW_LAMBDA_TIMEOUT_SECONDS = tostring(var.timeout)
  })
}

# --- Encryption -----------------------------------------------------------------------------

data "aws_iam_policy_document" "kms_key_policy" {
  count = local.create_kms_key ? 1 : 0

  # checkov:skip=CKV_AWS_109:A key policy's "*" resource is this key; the account root delegates access to IAM policies.
  # checkov:skip=CKV_AWS_111:A key policy's "*" resource is this key; the account root delegates access to IAM policies.
  # checkov:skip=CKV_AWS_356:A key policy's "*" resource is this key.
  statement {
    sid       = "AccountAdministersKeyThroughIam"
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  statement {
    sid       = "CloudWatchLogsEncryptsThisFunctionsLogGroup"
    actions   = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = [local.log_group_arn]
    }
  }
}

resource "aws_kms_key" "this" {
  count = local.create_kms_key ? 1 : 0

  description             = "shardflow Lambda consumer ${var.function_name}: tables, queues, logs, environment"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_in_days
  policy                  = data.aws_iam_policy_document.kms_key_policy[0].json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  count = local.create_kms_key ? 1 : 0

  name          = "alias/${var.function_name}"
  target_key_id = aws_kms_key.this[0].key_id
}

# --- Queues ---------------------------------------------------------------------------------

resource "aws_sqs_queue" "dead_letter" {
  name                              = var.dead_letter_queue_name
  message_retention_seconds         = var.queue_message_retention_seconds
  kms_master_key_id                 = local.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  tags                              = var.tags

  lifecycle {
    precondition {
      condition     = var.create_kms_key || var.kms_key_arn != null
      error_message = "kms_key_arn is required when create_kms_key is false."
    }
  }
}

resource "aws_sqs_queue" "on_failure" {
  name                              = var.on_failure_queue_name
  message_retention_seconds         = var.queue_message_retention_seconds
  kms_master_key_id                 = local.kms_key_arn
  kms_data_key_reuse_period_seconds = 300
  tags                              = var.tags
}

data "aws_iam_policy_document" "queue_tls_only" {
  for_each = {
    dead_letter = aws_sqs_queue.dead_letter.arn
    on_failure  = aws_sqs_queue.on_failure.arn
  }

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["sqs:*"]
    resources = [each.value]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }
}

resource "aws_sqs_queue_policy" "dead_letter" {
  queue_url = aws_sqs_queue.dead_letter.id
  policy    = data.aws_iam_policy_document.queue_tls_only["dead_letter"].json
}

resource "aws_sqs_queue_policy" "on_failure" {
  queue_url = aws_sqs_queue.on_failure.id
  policy    = data.aws_iam_policy_document.queue_tls_only["on_failure"].json
}

# --- Tables ---------------------------------------------------------------------------------

# Powertools idempotency (DynamoDBPersistenceLayer defaults: key "id", TTL "expiration").
resource "aws_dynamodb_table" "idempotency" {
  name                        = var.idempotency_table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "id"
  deletion_protection_enabled = var.deletion_protection_enabled

  attribute {
    name = "id"
    type = "S"
  }

  ttl {
    attribute_name = "expiration"
    enabled        = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = local.kms_key_arn
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery_enabled
  }

  tags = var.tags
}

# Attempt counts of records that keep failing (poison detection before dead-lettering).
resource "aws_dynamodb_table" "attempts" {
  name                        = var.attempts_table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "record_key"
  deletion_protection_enabled = var.deletion_protection_enabled

  attribute {
    name = "record_key"
    type = "S"
  }

  ttl {
    attribute_name = "expires_at"
    enabled        = true
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = local.kms_key_arn
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery_enabled
  }

  tags = var.tags
}

# The local event-source-mapping runner's position, one item per (consumer, shard).
resource "aws_dynamodb_table" "checkpoints" {
  count = var.create_checkpoint_table ? 1 : 0

  name                        = var.checkpoint_table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "consumer"
  range_key                   = "shard_id"
  deletion_protection_enabled = var.deletion_protection_enabled

  attribute {
    name = "consumer"
    type = "S"
  }

  attribute {
    name = "shard_id"
    type = "S"
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = local.kms_key_arn
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery_enabled
  }

  tags = var.tags
}

# --- Role -----------------------------------------------------------------------------------

data "aws_iam_policy_document" "assume_role" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["lambda.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "this" {
  count = var.create_function ? 1 : 0

  name               = "${var.function_name}-role"
  assume_role_policy = data.aws_iam_policy_document.assume_role.json
  tags               = var.tags
}

# Exactly the calls the function and its mapping make (a test compares each statement with
# them): the mapping reads the stream (and decrypts it) and sends discarded batches to the
# OnFailure queue; consumers.lambda_handler writes through consumers.sink (PutObject,
# ListObjectsV2/GetObject on its manifests, DeleteObjects of superseded objects) and
# consumers.deadletter (SendMessage/SendMessageBatch, PutObject of oversize payloads), counts
# attempts (UpdateItem, GetItem) and runs powertools idempotency (GetItem, PutItem,
# UpdateItem, DeleteItem). Metrics are EMF log lines: no cloudwatch:PutMetricData.
data "aws_iam_policy_document" "function" {
  statement {
    sid       = "WriteOwnLogGroup"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = ["${local.log_group_arn}:*"]
  }

  # What the event source mapping calls with the function's role.
  statement {
    sid = "ReadStream"
    actions = [
      "kinesis:DescribeStream",
      "kinesis:DescribeStreamSummary",
      "kinesis:GetRecords",
      "kinesis:GetShardIterator",
      "kinesis:ListShards",
    ]
    resources = [var.stream_arn]
  }

  statement {
    sid     = "WriteOutputAndErrorPrefixes"
    actions = ["s3:PutObject"]
    resources = [
      "${local.bucket_arn}/${var.output_prefix}/*",
      "${local.bucket_arn}/${var.errors_prefix}/*",
    ]
  }

  # The sink's replay check: it lists and reads the flush manifests under
  # OUTPUT_PREFIX/_manifests/ (consumers.sink.layout) and deletes what a replay supersedes.
  dynamic "statement" {
    for_each = local.iceberg ? [] : [1]
    content {
      sid       = "ListOwnManifests"
      actions   = ["s3:ListBucket"]
      resources = [local.bucket_arn]

      condition {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = ["${var.output_prefix}/_manifests/*"]
      }
    }
  }

  dynamic "statement" {
    for_each = local.iceberg ? [] : [1]
    content {
      sid       = "ReadOwnManifests"
      actions   = ["s3:GetObject"]
      resources = ["${local.bucket_arn}/${var.output_prefix}/_manifests/*"]
    }
  }

  # The Iceberg writer (pyiceberg's S3 file IO) reads the table's metadata, manifest lists
  # and manifests, and checks that a new metadata file does not exist yet (HEAD, then a
  # listing of the key as a prefix) before writing it; deletes are its uncommitted data
  # files (ReplaceOwnOutputOnReplay).
  dynamic "statement" {
    for_each = local.iceberg ? [1] : []
    content {
      sid       = "ReadIcebergTable"
      actions   = ["s3:GetObject"]
      resources = ["${local.bucket_arn}/${var.output_prefix}/*"]
    }
  }

  dynamic "statement" {
    for_each = local.iceberg ? [1] : []
    content {
      sid       = "ListIcebergTable"
      actions   = ["s3:ListBucket"]
      resources = [local.bucket_arn]

      condition {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = ["${var.output_prefix}/*"]
      }
    }
  }

  # What pyiceberg's Glue catalog calls for the writer (consumers.sink.iceberg): load_table
  # (GetTable); a commit (GetTable, GetDatabase, UpdateTable with the version read); on first
  # use without the table, create_namespace_if_not_exists (CreateDatabase, refused as
  # existing when s3_output made it) and create_table (GetDatabase, CreateTable). Glue
  # authorises each call on the catalog, the database and the table.
  dynamic "statement" {
    for_each = local.iceberg ? [1] : []
    content {
      sid       = "CommitToIcebergTable"
      actions   = ["glue:GetTable", "glue:UpdateTable", "glue:CreateTable"]
      resources = [local.glue_catalog_arn, local.glue_database_arn, local.glue_table_arn]
    }
  }

  dynamic "statement" {
    for_each = local.iceberg ? [1] : []
    content {
      sid       = "ReadIcebergDatabase"
      actions   = ["glue:GetDatabase", "glue:CreateDatabase"]
      resources = [local.glue_catalog_arn, local.glue_database_arn]
    }
  }

  statement {
    sid       = "ReplaceOwnOutputOnReplay"
    actions   = ["s3:DeleteObject"]
    resources = ["${local.bucket_arn}/${var.output_prefix}/*"]
  }

  statement {
    sid = "Idempotency"
    # powertools per event: GetItem, PutItem, UpdateItem, DeleteItem; the batch store: its
    # TransactWriteItems of Puts (authorised as PutItem), BatchGetItem, BatchWriteItem.
    actions = [
      "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem",
      "dynamodb:BatchGetItem", "dynamodb:BatchWriteItem",
    ]
    resources = [aws_dynamodb_table.idempotency.arn]
  }

  statement {
    sid       = "CountAttempts"
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [aws_dynamodb_table.attempts.arn]
  }

  statement {
    sid       = "SendDeadLetters"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dead_letter.arn]
  }

  # Lambda sends the metadata of a discarded batch to the mapping's destination as the
  # function's role.
  statement {
    sid       = "SendDiscardedBatches"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.on_failure.arn]
  }

  # The module's key encrypts the tables, queues, log group and environment: DynamoDB and
  # SQS use it on the role's behalf (data keys, DescribeKey), Lambda decrypts the
  # environment with it.
  statement {
    sid       = "UseOwnKey"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
    resources = [local.kms_key_arn]
  }

  # GetRecords through the mapping: records of a KMS-encrypted stream are decrypted.
  dynamic "statement" {
    for_each = var.stream_kms_key_arn == null ? [] : [1]
    content {
      sid       = "DecryptStream"
      actions   = ["kms:Decrypt"]
      resources = [var.stream_kms_key_arn]
    }
  }

  # SSE-KMS objects: PutObject needs a data key, GetObject (manifests) decrypts.
  dynamic "statement" {
    for_each = var.bucket_kms_key_arn == null ? [] : [1]
    content {
      sid       = "EncryptOutput"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [var.bucket_kms_key_arn]
    }
  }

  dynamic "statement" {
    for_each = var.tracing_enabled ? [1] : []
    content {
      # PutTraceSegments and PutTelemetryRecords have no resource-level permissions.
      sid       = "Tracing"
      actions   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
      resources = ["*"]
    }
  }
}

resource "aws_iam_role_policy" "this" {
  count = var.create_function ? 1 : 0

  name   = "${var.function_name}-least-privilege"
  role   = aws_iam_role.this[0].id
  policy = data.aws_iam_policy_document.function.json
}

resource "aws_iam_role_policy_attachment" "vpc" {
  count = var.create_function && length(var.subnet_ids) > 0 ? 1 : 0

  role       = aws_iam_role.this[0].name
  policy_arn = "arn:${local.partition}:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole"
}

# --- Function and mapping -------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "this" {
  count = var.create_function ? 1 : 0

  name              = local.log_group_name
  retention_in_days = var.log_retention_in_days
  kms_key_id        = local.kms_key_arn
  tags              = var.tags
}

resource "aws_lambda_function" "this" {
  count = var.create_function ? 1 : 0

  # checkov:skip=CKV_AWS_116:Invoked synchronously by the event source mapping; failed batches go to the mapping's OnFailure queue, a function DLQ would only see async invocations.
  # checkov:skip=CKV_AWS_272:Code signing needs an AWS Signer profile and a signing job on an S3 object in the deployer's pipeline; this module deploys the zip `shardflow package lambda` builds, unsigned, from package_path.
  # Outside a VPC unless subnet_ids is set (Kinesis, S3, DynamoDB and SQS are public AWS
  # endpoints); X-Ray only with tracing_enabled (EMF metrics and structured logs otherwise).
  function_name                  = var.function_name
  description                    = "shardflow consumer of Kinesis stream ${local.stream_name}"
  role                           = aws_iam_role.this[0].arn
  filename                       = var.package_path
  source_code_hash               = filebase64sha256(var.package_path)
  handler                        = var.handler
  runtime                        = var.runtime
  architectures                  = [var.architecture]
  memory_size                    = var.memory_size
  timeout                        = var.timeout
  reserved_concurrent_executions = var.reserved_concurrent_executions
  kms_key_arn                    = local.kms_key_arn

  environment {
    variables = local.handler_environment
  }

  tracing_config {
    mode = var.tracing_enabled ? "Active" : "PassThrough"
  }

  logging_config {
    log_format = "Text"
    log_group  = aws_cloudwatch_log_group.this[0].name
  }

  dynamic "vpc_config" {
    for_each = length(var.subnet_ids) > 0 ? [1] : []
    content {
      subnet_ids         = var.subnet_ids
      security_group_ids = var.security_group_ids
    }
  }

  tags = var.tags

  depends_on = [aws_iam_role_policy.this, aws_iam_role_policy_attachment.vpc]

  lifecycle {
    precondition {
      condition     = var.package_path != null
      error_message = "package_path is required when create_function is true: build it with `shardflow package lambda`."
    }
  }
}

resource "aws_lambda_event_source_mapping" "this" {
  count = var.create_function ? 1 : 0

  event_source_arn                   = var.stream_arn
  function_name                      = aws_lambda_function.this[0].arn
  enabled                            = var.mapping_enabled
  starting_position                  = var.starting_position
  starting_position_timestamp        = var.starting_position == "AT_TIMESTAMP" ? var.starting_position_timestamp : null
  batch_size                         = var.batch_size
  maximum_batching_window_in_seconds = var.maximum_batching_window_in_seconds
  parallelization_factor             = var.parallelization_factor
  bisect_batch_on_function_error     = var.bisect_batch_on_function_error
  maximum_retry_attempts             = var.maximum_retry_attempts
  maximum_record_age_in_seconds      = var.maximum_record_age_in_seconds
  # The handler returns {"batchItemFailures": [...]}; without this Lambda would ignore it
  # and count a partly failed batch as a success.
  function_response_types = ["ReportBatchItemFailures"]

  destination_config {
    on_failure {
      destination_arn = aws_sqs_queue.on_failure.arn
    }
  }

  dynamic "filter_criteria" {
    for_each = length(var.filter_patterns) > 0 ? [1] : []
    content {
      dynamic "filter" {
        for_each = var.filter_patterns
        content {
          pattern = filter.value
        }
      }
    }
  }

  lifecycle {
    precondition {
      condition     = var.maximum_retry_attempts == -1 || var.maximum_retry_attempts >= var.max_attempts
      error_message = "maximum_retry_attempts must be -1 or at least max_attempts: otherwise the mapping discards a failing batch before the handler dead-letters its poison record with the payload."
    }

    precondition {
      condition     = var.starting_position != "AT_TIMESTAMP" || var.starting_position_timestamp != null
      error_message = "starting_position_timestamp is required when starting_position is AT_TIMESTAMP."
    }

    # As `shardflow consume lambda` refuses it: the default handler's S3 sink keeps one
    # writer per shard, and concurrent batches of one shard would write overlapping ranges.
    precondition {
      condition     = var.handler != "consumers.lambda_handler.handler" || var.parallelization_factor == 1
      error_message = "parallelization_factor must be 1 with the default handler (consumers.lambda_handler.handler): its S3 sink writes each shard's range from one batch at a time."
    }
  }
}

# --- Alarms ---------------------------------------------------------------------------------

resource "aws_cloudwatch_metric_alarm" "errors" {
  count = var.create_function && var.create_alarms ? 1 : 0

  alarm_name          = "${var.function_name}-errors"
  alarm_description   = "${var.function_name} raised errors (whole-batch failures; partial failures are reported, not raised)."
  namespace           = "AWS/Lambda"
  metric_name         = "Errors"
  dimensions          = { FunctionName = aws_lambda_function.this[0].function_name }
  statistic           = "Sum"
  period              = 60
  evaluation_periods  = var.alarm_evaluation_periods
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "iterator_age" {
  count = var.create_function && var.create_alarms ? 1 : 0

  alarm_name          = "${var.function_name}-iterator-age"
  alarm_description   = "${var.function_name} is falling behind ${local.stream_name}: IteratorAge above ${var.iterator_age_threshold_ms} ms."
  namespace           = "AWS/Lambda"
  metric_name         = "IteratorAge"
  dimensions          = { FunctionName = aws_lambda_function.this[0].function_name }
  statistic           = "Maximum"
  period              = 60
  evaluation_periods  = var.alarm_evaluation_periods
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.iterator_age_threshold_ms
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}

resource "aws_cloudwatch_metric_alarm" "queue_depth" {
  for_each = var.create_alarms ? {
    dead_letter = aws_sqs_queue.dead_letter.name
    on_failure  = aws_sqs_queue.on_failure.name
  } : {}

  alarm_name          = "${each.value}-depth"
  alarm_description   = "Messages are waiting in ${each.value}: records were dead-lettered or batches discarded; inspect and replay."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  treat_missing_data  = "notBreaching"
  alarm_actions       = local.alarm_actions
  ok_actions          = local.alarm_actions
  tags                = var.tags
}
