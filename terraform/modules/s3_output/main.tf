# Where the events land: a private, KMS-encrypted, versioned bucket that only accepts TLS,
# with lifecycle rules per prefix; a Glue table over it whose partition projection follows
# the sink's key layout (no crawler, no MSCK REPAIR), or with table_format = "iceberg" the
# named queries that create and compact an Iceberg table (iceberg.tf); an Athena workgroup
# that encrypts its results.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  create_kms_key = var.create_kms_key
  kms_key_arn    = local.create_kms_key ? aws_kms_key.this[0].arn : var.kms_key_arn
  table_location = "s3://${var.bucket_name}/${var.output_prefix}/"
  storage        = local.storage_formats[var.output_format]
  # The sink's key layout (consumers.sink.layout); Athena fills ${dt} and ${hr} from the
  # projection ("$$" keeps Terraform from interpolating them).
  location_template = "${local.table_location}dt=$${dt}/hr=$${hr}/"
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
      identifiers = ["arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "this" {
  count = local.create_kms_key ? 1 : 0

  description             = "shardflow output bucket ${var.bucket_name} and its Athena results"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_key_deletion_window_in_days
  policy                  = data.aws_iam_policy_document.kms_key_policy[0].json
  tags                    = var.tags
}

resource "aws_kms_alias" "this" {
  count = local.create_kms_key ? 1 : 0

  name          = "alias/${replace(var.bucket_name, ".", "-")}"
  target_key_id = aws_kms_key.this[0].key_id
}

# --- Bucket ---------------------------------------------------------------------------------

resource "aws_s3_bucket" "this" {
  # checkov:skip=CKV_AWS_144:Cross-region replication needs a second bucket in another region that the deployer owns; the output is rebuildable from the stream within its retention.
  # checkov:skip=CKV2_AWS_62:Nothing consumes object-created events; Athena finds new partitions by projection.
  # Access logging is opt-in (access_log_bucket_name): the log bucket is account
  # infrastructure this module does not own.
  bucket        = var.bucket_name
  force_destroy = var.force_destroy
  tags          = var.tags

  lifecycle {
    precondition {
      condition     = var.create_kms_key || var.kms_key_arn != null
      error_message = "kms_key_arn is required when create_kms_key is false."
    }

    precondition {
      condition     = var.table_format == "hive" || var.output_format == "parquet"
      error_message = "table_format iceberg needs output_format parquet: Iceberg data files are Parquet."
    }
  }
}

resource "aws_s3_bucket_ownership_controls" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_public_access_block" "this" {
  bucket                  = aws_s3_bucket.this.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "this" {
  bucket = aws_s3_bucket.this.id

  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = local.kms_key_arn
    }
    # One data key per bucket instead of one KMS call per object.
    bucket_key_enabled = true
  }
}

data "aws_iam_policy_document" "bucket" {
  count = var.deny_insecure_transport ? 1 : 0

  statement {
    sid       = "DenyInsecureTransport"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]

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

  statement {
    sid       = "DenyTlsOlderThan12"
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.this.arn, "${aws_s3_bucket.this.arn}/*"]

    principals {
      type        = "*"
      identifiers = ["*"]
    }

    condition {
      test     = "NumericLessThan"
      variable = "s3:TlsVersion"
      values   = ["1.2"]
    }
  }
}

resource "aws_s3_bucket_policy" "this" {
  count = var.deny_insecure_transport ? 1 : 0

  bucket = aws_s3_bucket.this.id
  policy = data.aws_iam_policy_document.bucket[0].json

  # A policy put before the public access block can be rejected as public.
  depends_on = [aws_s3_bucket_public_access_block.this]
}

resource "aws_s3_bucket_lifecycle_configuration" "this" {
  bucket = aws_s3_bucket.this.id

  rule {
    id     = "events-to-cheaper-storage"
    status = "Enabled"

    filter {
      prefix = "${var.output_prefix}/"
    }

    dynamic "transition" {
      for_each = var.transition_to_ia_days == null ? [] : [var.transition_to_ia_days]
      content {
        days          = transition.value
        storage_class = "STANDARD_IA"
      }
    }

    dynamic "transition" {
      for_each = var.transition_to_glacier_ir_days == null ? [] : [var.transition_to_glacier_ir_days]
      content {
        days          = transition.value
        storage_class = "GLACIER_IR"
      }
    }

    dynamic "expiration" {
      for_each = var.output_expiration_days == null ? [] : [var.output_expiration_days]
      content {
        days = expiration.value
      }
    }
  }

  rule {
    id     = "expire-errors"
    status = "Enabled"

    filter {
      prefix = "${var.errors_prefix}/"
    }

    expiration {
      days = var.errors_expiration_days
    }
  }

  rule {
    id     = "expire-athena-results"
    status = "Enabled"

    filter {
      prefix = "${var.athena_results_prefix}/"
    }

    expiration {
      days = var.athena_results_expiration_days
    }
  }

  rule {
    id     = "old-versions-and-unfinished-uploads"
    status = "Enabled"

    filter {}

    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_expiration_days
    }

    abort_incomplete_multipart_upload {
      days_after_initiation = 7
    }
  }

  depends_on = [aws_s3_bucket_versioning.this]

  lifecycle {
    precondition {
      condition     = var.transition_to_ia_days == null || var.transition_to_glacier_ir_days == null || try(var.transition_to_glacier_ir_days >= var.transition_to_ia_days + 30, false)
      error_message = "transition_to_glacier_ir_days must be at least 30 days after transition_to_ia_days (S3 keeps objects 30 days in STANDARD_IA)."
    }
  }
}

resource "aws_s3_bucket_logging" "this" {
  count = var.access_log_bucket_name == null ? 0 : 1

  bucket        = aws_s3_bucket.this.id
  target_bucket = var.access_log_bucket_name
  target_prefix = "s3/${var.bucket_name}/"
}

# --- Glue and Athena ------------------------------------------------------------------------

resource "aws_glue_catalog_database" "this" {
  count = var.create_glue_catalog ? 1 : 0

  name        = var.glue_database_name
  description = "shardflow events"
  tags        = var.tags
}

resource "aws_glue_catalog_table" "events" {
  count = var.create_glue_catalog && !local.iceberg ? 1 : 0

  name          = var.glue_table_name
  database_name = aws_glue_catalog_database.this[0].name
  description   = "Events written by the shardflow S3 sink (${var.output_format}), partitioned by UTC day and hour"
  table_type    = "EXTERNAL_TABLE"

  parameters = merge(local.partition_projection, {
    "EXTERNAL"                  = "TRUE"
    "classification"            = local.storage.classification
    "storage.location.template" = local.location_template
  })

  dynamic "partition_keys" {
    for_each = local.partition_columns
    content {
      name    = partition_keys.value.name
      type    = partition_keys.value.type
      comment = partition_keys.value.comment
    }
  }

  storage_descriptor {
    location      = local.table_location
    input_format  = local.storage.input_format
    output_format = local.storage.output_format

    ser_de_info {
      serialization_library = local.storage.serde
      parameters            = local.storage.serde_params
    }

    dynamic "columns" {
      for_each = local.event_columns
      content {
        name    = columns.value.name
        type    = columns.value.type
        comment = columns.value.comment
      }
    }
  }
}

resource "aws_athena_workgroup" "this" {
  count = var.create_athena_workgroup ? 1 : 0

  name          = var.athena_workgroup_name
  description   = "Queries over the shardflow events; results KMS-encrypted"
  force_destroy = var.force_destroy

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.athena_bytes_scanned_cutoff_per_query

    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location = "s3://${aws_s3_bucket.this.id}/${var.athena_results_prefix}/"

      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = local.kms_key_arn
      }
    }
  }

  tags = var.tags
}
