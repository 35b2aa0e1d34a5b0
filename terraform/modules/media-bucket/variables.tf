variable "bucket_name" {
  description = "Name of the bucket holding live segments and recordings. Dedicate it to relay (see the IAM notes in main.tf)."
  type        = string
}

variable "key_prefix" {
  description = "Prefix of every key, the same as the server's s3.prefix, without a trailing slash. Empty: keys start at the bucket root."
  type        = string
  default     = ""

  validation {
    condition     = can(regex("^([A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*)?$", var.key_prefix))
    error_message = "key_prefix is empty or /-separated names of [A-Za-z0-9._-], without leading or trailing slash."
  }
}

variable "live_expiration_days" {
  description = "Days after which objects under live/ are deleted. Must exceed the longest DVR window (24 h); the default leaves a day of margin."
  type        = number
  default     = 2

  validation {
    condition     = var.live_expiration_days >= 1 && floor(var.live_expiration_days) == var.live_expiration_days
    error_message = "live_expiration_days must be a whole number of days, at least 1 (S3 lifecycle rules count in days)."
  }
}

variable "recordings_prefix" {
  description = "Top-level key folder of recordings, below key_prefix."
  type        = string
  default     = "recordings"
}

variable "recordings_expiration_days" {
  description = "Days after which recordings are deleted. null keeps them until deleted by the API."
  type        = number
  default     = null

  validation {
    condition     = var.recordings_expiration_days == null || try(var.recordings_expiration_days >= 1, false)
    error_message = "recordings_expiration_days must be null or at least 1."
  }
}

variable "abort_incomplete_multipart_days" {
  description = "Days after which unfinished multipart uploads (billed until aborted) are aborted."
  type        = number
  default     = 1
}

variable "kms_key_arn" {
  description = "KMS key for SSE-KMS. null uses SSE-S3 (AES256), which needs no key permissions."
  type        = string
  default     = null
}

variable "force_destroy" {
  description = "Let terraform destroy delete a non-empty bucket."
  type        = bool
  default     = false
}

variable "irsa" {
  description = <<-EOT
    IAM roles for service accounts (EKS). null creates no roles; attach the output policies yourself.
    oidc_provider_arn: the cluster's IAM OIDC provider. writer_service_accounts get read-write access
    (the chart's ingest and api accounts), reader_service_accounts read-only (origin).
  EOT
  type = object({
    oidc_provider_arn       = string
    namespace               = string
    writer_service_accounts = optional(list(string), ["relay-ingest", "relay-api"])
    reader_service_accounts = optional(list(string), ["relay-origin"])
  })
  default = null
}

variable "tags" {
  description = "Tags for every resource."
  type        = map(string)
  default     = {}
}
