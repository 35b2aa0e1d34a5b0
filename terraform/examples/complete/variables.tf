variable "region" {
  description = "Region of the bucket and the EKS cluster."
  type        = string
  default     = "eu-west-1"
}

variable "bucket_name" {
  description = "Globally unique bucket name."
  type        = string
}

variable "oidc_provider_arn" {
  description = "The EKS cluster's IAM OIDC provider (aws eks describe-cluster ... identity.oidc.issuer)."
  type        = string
}

variable "namespace" {
  description = "Kubernetes namespace of the Helm release."
  type        = string
  default     = "video"
}

variable "release_name" {
  description = "Helm release name; the chart names service accounts <release>-<role> (or relay-<role> for a release named relay)."
  type        = string
  default     = "relay"
}

variable "origin_domain_name" {
  description = "Load balancer DNS name of the origin Service (install the chart first with origin.service.type=LoadBalancer)."
  type        = string
}

variable "recordings_expiration_days" {
  description = "Retention of recordings; null keeps them."
  type        = number
  default     = 30
}

variable "origin_secret" {
  description = "Header value CloudFront sends the origin; the same as the chart's originSecret Secret. Null: not sent."
  type        = string
  default     = null
  sensitive   = true
}

variable "access_log_bucket" {
  description = "S3 bucket domain name for CloudFront access logs; null for none."
  type        = string
  default     = null
}
