output "bucket_name" {
  description = "Bucket name: the chart's config.s3.bucket."
  value       = aws_s3_bucket.this.bucket
}

output "bucket_arn" {
  description = "Bucket ARN."
  value       = aws_s3_bucket.this.arn
}

output "bucket_region" {
  description = "Region of the bucket: the chart's config.s3.region when pods run elsewhere."
  value       = aws_s3_bucket.this.region
}

output "key_prefix" {
  description = "The chart's config.s3.prefix."
  value       = var.key_prefix
}

output "writer_policy_arn" {
  description = "Policy for ingest and api pods (read, write, delete, multipart under the prefix)."
  value       = aws_iam_policy.writer.arn
}

output "reader_policy_arn" {
  description = "Policy for origin pods (read under the prefix)."
  value       = aws_iam_policy.reader.arn
}

output "writer_role_arn" {
  description = "IRSA role for the ingest and api service accounts (null without irsa)."
  value       = try(aws_iam_role.pods["writer"].arn, null)
}

output "reader_role_arn" {
  description = "IRSA role for the origin service account (null without irsa)."
  value       = try(aws_iam_role.pods["reader"].arn, null)
}
