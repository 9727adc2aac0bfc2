# What a KCL 3 MultiLangDaemon running consumers.kcl needs from AWS: a role that can read one
# stream, manage exactly its own three DynamoDB tables and publish metrics in its own
# namespace, and (optionally) those tables pre-created encrypted with the key schema the KCL
# expects. Compute is yours: run the daemon on ECS/Fargate with this role as the task role,
# or on EC2 with the instance profile.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  partition      = data.aws_partition.current.partition
  region         = data.aws_region.current.name
  account_id     = data.aws_caller_identity.current.account_id
  stream_name    = element(split("/", var.stream_arn), 1)
  table_arn_base = "arn:${local.partition}:dynamodb:${local.region}:${local.account_id}:table"

  lease_table_name             = var.application_name
  coordinator_state_table_name = "${var.application_name}-CoordinatorState"
  worker_metrics_table_name    = "${var.application_name}-WorkerMetricStats"
  lease_table_arn              = "${local.table_arn_base}/${local.lease_table_name}"
  coordinator_state_table_arn  = "${local.table_arn_base}/${local.coordinator_state_table_name}"
  worker_metrics_table_arn     = "${local.table_arn_base}/${local.worker_metrics_table_name}"

  create_kms_key = var.create_tables && var.create_kms_key
  kms_key_arn    = local.create_kms_key ? aws_kms_key.this[0].arn : var.kms_key_arn
  bucket_arn     = var.bucket_name == null ? null : "arn:${local.partition}:s3:::${var.bucket_name}"

  # The Iceberg output: the sink's statements for the Hive layout's manifests are replaced
  # by the table's (its files below output_prefix) and the Glue calls of its commits.
  hive              = var.bucket_name != null && var.iceberg_table == null
  iceberg           = var.bucket_name != null && var.iceberg_table != null
  iceberg_table     = var.iceberg_table == null ? "shardflow.events" : var.iceberg_table
  glue_arn_base     = "arn:${local.partition}:glue:${local.region}:${local.account_id}"
  glue_catalog_arn  = "${local.glue_arn_base}:catalog"
  glue_database_arn = "${local.glue_arn_base}:database/${element(split(".", local.iceberg_table), 0)}"
  glue_table_arn    = "${local.glue_arn_base}:table/${replace(local.iceberg_table, ".", "/")}"

  # What KCL 3.1 calls on its tables (DynamoDBLeaseRefresher, CoordinatorStateDAO and its
  # DynamoDB lock client, WorkerMetricStatsDAO): it describes each table first and creates
  # it only when missing, and adds the LeaseOwnerToLeaseKeyIndex to a lease table without
  # it (UpdateTable). Tables Terraform creates complete need neither.
  table_actions       = ["dynamodb:DescribeTable", "dynamodb:Scan", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem"]
  lease_table_actions = concat(local.table_actions, var.create_tables ? [] : ["dynamodb:CreateTable", "dynamodb:UpdateTable"])
  other_table_actions = concat(local.table_actions, var.create_tables ? [] : ["dynamodb:CreateTable"])
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
}

resource "aws_kms_key" "this" {
  count = local.create_kms_key ? 1 : 0

  description             = "KCL application ${var.application_name}: lease, coordinator and worker-metrics tables"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_in_days
  policy                  = data.aws_iam_policy_document.kms_key_policy[0].json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  count = local.create_kms_key ? 1 : 0

  name          = "alias/${replace(var.application_name, ".", "-")}-kcl"
  target_key_id = aws_kms_key.this[0].key_id
}

# --- The KCL 3 tables -----------------------------------------------------------------------

# Lease table: one item per shard (leaseKey), and the index KCL 3 uses to find a worker's
# leases (hash leaseOwner, range leaseKey, keys only). The KCL checks both exist and skips
# creating them.
resource "aws_dynamodb_table" "lease" {
  count = var.create_tables ? 1 : 0

  name                        = local.lease_table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "leaseKey"
  deletion_protection_enabled = var.deletion_protection_enabled

  attribute {
    name = "leaseKey"
    type = "S"
  }

  attribute {
    name = "leaseOwner"
    type = "S"
  }

  global_secondary_index {
    name            = "LeaseOwnerToLeaseKeyIndex"
    hash_key        = "leaseOwner"
    range_key       = "leaseKey"
    projection_type = "KEYS_ONLY"
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = local.kms_key_arn
  }

  point_in_time_recovery {
    enabled = var.point_in_time_recovery_enabled
  }

  tags = var.tags

  lifecycle {
    precondition {
      condition     = var.create_kms_key || var.kms_key_arn != null
      error_message = "kms_key_arn is required when create_kms_key is false."
    }
  }
}

# Coordinator state: the leader lock and the 2.x-to-3.x migration state.
resource "aws_dynamodb_table" "coordinator_state" {
  count = var.create_tables ? 1 : 0

  name                        = local.coordinator_state_table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "key"
  deletion_protection_enabled = var.deletion_protection_enabled

  attribute {
    name = "key"
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

# Worker metrics (CPU per worker) that KCL 3's lease balancing reads.
resource "aws_dynamodb_table" "worker_metrics" {
  count = var.create_tables ? 1 : 0

  name                        = local.worker_metrics_table_name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "wid"
  deletion_protection_enabled = var.deletion_protection_enabled

  attribute {
    name = "wid"
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
      identifiers = var.assume_role_services
    }
  }
}

resource "aws_iam_role" "this" {
  name               = "${var.application_name}-kcl"
  assume_role_policy = data.aws_iam_policy_document.assume_role.json
  tags               = var.tags
}

# Exactly the calls the KCL 3.1 daemon and consumers.kcl make (a test compares each
# statement with them).
data "aws_iam_policy_document" "kcl" {
  # The shard list, iterators and records, and the stream summary (fan-out registration;
  # in AWS's documented minimum). KCL 3 never calls DescribeStream.
  statement {
    sid = "ReadStream"
    actions = [
      "kinesis:DescribeStreamSummary",
      "kinesis:GetRecords",
      "kinesis:GetShardIterator",
      "kinesis:ListShards",
    ]
    resources = [var.stream_arn]
  }

  dynamic "statement" {
    for_each = var.enhanced_fan_out ? [1] : []
    content {
      sid       = "RegisterFanOutConsumer"
      actions   = ["kinesis:RegisterStreamConsumer"]
      resources = [var.stream_arn]
    }
  }

  dynamic "statement" {
    for_each = var.enhanced_fan_out ? [1] : []
    content {
      sid       = "SubscribeAsFanOutConsumer"
      actions   = ["kinesis:DescribeStreamConsumer", "kinesis:SubscribeToShard"]
      resources = ["${var.stream_arn}/consumer/*"]
    }
  }

  statement {
    sid       = "LeaseTable"
    actions   = local.lease_table_actions
    resources = [local.lease_table_arn]
  }

  statement {
    sid       = "CoordinatorStateAndWorkerMetricsTables"
    actions   = local.other_table_actions
    resources = [local.coordinator_state_table_arn, local.worker_metrics_table_arn]
  }

  # A worker finds its leases through the lease table's index.
  statement {
    sid       = "FindOwnLeases"
    actions   = ["dynamodb:Query"]
    resources = ["${local.lease_table_arn}/index/LeaseOwnerToLeaseKeyIndex"]
  }

  # PutMetricData has no resource-level permissions; the condition limits it to the KCL's
  # namespace, which is the application name.
  statement {
    sid       = "PublishMetricsInOwnNamespace"
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "cloudwatch:namespace"
      values   = [var.application_name]
    }
  }

  # The tables' key: DynamoDB uses it on the role's behalf.
  dynamic "statement" {
    for_each = var.create_tables ? [1] : []
    content {
      sid       = "UseTablesKey"
      actions   = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
      resources = [local.kms_key_arn]
    }
  }

  # GetRecords on a KMS-encrypted stream.
  dynamic "statement" {
    for_each = var.stream_kms_key_arn == null ? [] : [1]
    content {
      sid       = "DecryptStream"
      actions   = ["kms:Decrypt"]
      resources = [var.stream_kms_key_arn]
    }
  }

  dynamic "statement" {
    for_each = var.bucket_name == null ? [] : [1]
    content {
      sid     = "WriteOutputAndErrorPrefixes"
      actions = ["s3:PutObject"]
      resources = [
        "${local.bucket_arn}/${var.output_prefix}/*",
        "${local.bucket_arn}/${var.errors_prefix}/*",
      ]
    }
  }

  # The sink's replay check (consumers.sink.layout): list and read the flush manifests,
  # delete what a replay supersedes.
  dynamic "statement" {
    for_each = local.hive ? [1] : []
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
    for_each = local.hive ? [1] : []
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

  dynamic "statement" {
    for_each = var.bucket_name == null ? [] : [1]
    content {
      sid       = "ReplaceOwnOutputOnReplay"
      actions   = ["s3:DeleteObject"]
      resources = ["${local.bucket_arn}/${var.output_prefix}/*"]
    }
  }

  # SSE-KMS objects: PutObject needs a data key, GetObject (manifests) decrypts.
  dynamic "statement" {
    for_each = var.bucket_name != null && var.bucket_kms_key_arn != null ? [1] : []
    content {
      sid       = "EncryptOutput"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [var.bucket_kms_key_arn]
    }
  }

  dynamic "statement" {
    for_each = var.dead_letter_queue_arn == null ? [] : [1]
    content {
      sid = "SendDeadLetters"
      # GetQueueUrl: the worker finds the queue by name when SHARDFLOW_DLQ_URL is unset;
      # GetQueueAttributes: its summary counts what a run dead-lettered.
      actions   = ["sqs:SendMessage", "sqs:GetQueueUrl", "sqs:GetQueueAttributes"]
      resources = [var.dead_letter_queue_arn]
    }
  }

  # SendMessage to a KMS-encrypted queue.
  dynamic "statement" {
    for_each = var.dead_letter_queue_arn != null && var.dead_letter_queue_kms_key_arn != null ? [1] : []
    content {
      sid       = "EncryptDeadLetters"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [var.dead_letter_queue_kms_key_arn]
    }
  }
}

resource "aws_iam_policy" "this" {
  name        = "${var.application_name}-kcl"
  description = "KCL application ${var.application_name} reading ${local.stream_name}"
  policy      = data.aws_iam_policy_document.kcl.json
  tags        = var.tags
}

resource "aws_iam_role_policy_attachment" "this" {
  role       = aws_iam_role.this.name
  policy_arn = aws_iam_policy.this.arn
}

resource "aws_iam_instance_profile" "this" {
  count = var.create_instance_profile ? 1 : 0

  name = "${var.application_name}-kcl"
  role = aws_iam_role.this.name
  tags = var.tags
}
