# Least-privilege policies for the pods. Object actions are limited to the key prefix.
#
# s3:ListBucket is granted on the whole bucket on purpose: without it S3 answers a GET of a
# missing key with 403 instead of 404, and the origin relies on 404 to tell "not stored (yet)"
# from a failure. That permission reveals key names only, which is why the bucket should be
# dedicated to relay.

data "aws_partition" "current" {}

locals {
  objects_arn = "${aws_s3_bucket.this.arn}/${local.key_root}*"
}

data "aws_iam_policy_document" "writer" {
  statement {
    sid = "ReadWriteObjects"
    actions = [
      "s3:GetObject",
      "s3:PutObject",
      "s3:DeleteObject",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]
    resources = [local.objects_arn]
  }

  statement {
    sid       = "ListKeys"
    actions   = ["s3:ListBucket", "s3:ListBucketMultipartUploads"]
    resources = [aws_s3_bucket.this.arn]
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]

    content {
      sid       = "UseBucketKey"
      actions   = ["kms:GenerateDataKey", "kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

data "aws_iam_policy_document" "reader" {
  statement {
    sid       = "ReadObjects"
    actions   = ["s3:GetObject"]
    resources = [local.objects_arn]
  }

  statement {
    sid       = "ListKeys"
    actions   = ["s3:ListBucket"]
    resources = [aws_s3_bucket.this.arn]
  }

  dynamic "statement" {
    for_each = var.kms_key_arn == null ? [] : [var.kms_key_arn]

    content {
      sid       = "UseBucketKey"
      actions   = ["kms:Decrypt"]
      resources = [statement.value]
    }
  }
}

resource "aws_iam_policy" "writer" {
  name_prefix = "relay-media-writer-"
  description = "relay ingest and api pods: read and write ${var.bucket_name}/${local.key_root}*"
  policy      = data.aws_iam_policy_document.writer.json
  tags        = var.tags
}

resource "aws_iam_policy" "reader" {
  name_prefix = "relay-media-reader-"
  description = "relay origin pods: read ${var.bucket_name}/${local.key_root}*"
  policy      = data.aws_iam_policy_document.reader.json
  tags        = var.tags
}

# IRSA: each role trusts the cluster's OIDC provider for the named service accounts only.
locals {
  oidc_issuer = var.irsa == null ? "" : element(split(":oidc-provider/", var.irsa.oidc_provider_arn), 1)
  irsa_roles = var.irsa == null ? {} : {
    writer = { accounts = var.irsa.writer_service_accounts, policy = aws_iam_policy.writer.arn }
    reader = { accounts = var.irsa.reader_service_accounts, policy = aws_iam_policy.reader.arn }
  }
}

data "aws_iam_policy_document" "assume" {
  for_each = local.irsa_roles

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [var.irsa.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "${local.oidc_issuer}:sub"
      values   = [for account in each.value.accounts : "system:serviceaccount:${var.irsa.namespace}:${account}"]
    }
  }
}

resource "aws_iam_role" "pods" {
  for_each = local.irsa_roles

  name_prefix        = "relay-${each.key}-"
  assume_role_policy = data.aws_iam_policy_document.assume[each.key].json
  tags               = var.tags
}

resource "aws_iam_role_policy_attachment" "pods" {
  for_each = local.irsa_roles

  role       = aws_iam_role.pods[each.key].name
  policy_arn = each.value.policy
}
