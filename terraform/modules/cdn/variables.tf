variable "name" {
  description = "Name of the distribution's policies, functions and key value store (letters, digits, - and _)."
  type        = string
  default     = "relay"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,40}$", var.name))
    error_message = "name must be 1-40 letters, digits, - or _."
  }
}

variable "origin_domain_name" {
  description = "DNS name of the origin Service's load balancer (or Ingress), as shown by kubectl get service <release>-relay-origin."
  type        = string
}

variable "origin_protocol_policy" {
  description = "How CloudFront connects to the origin: http-only (the chart's Service listens on plain HTTP) or https-only."
  type        = string
  default     = "http-only"

  validation {
    condition     = contains(["http-only", "https-only", "match-viewer"], var.origin_protocol_policy)
    error_message = "origin_protocol_policy must be http-only, https-only or match-viewer."
  }
}

variable "origin_http_port" {
  description = "Port of the origin load balancer for HTTP."
  type        = number
  default     = 80
}

variable "origin_https_port" {
  description = "Port of the origin load balancer for HTTPS."
  type        = number
  default     = 443
}

variable "origin_read_timeout" {
  description = "Seconds CloudFront waits for the origin. A blocking playlist request is held up to three target durations (6 s by default)."
  type        = number
  default     = 30
}

variable "origin_shield_region" {
  description = "Region of an Origin Shield in front of the origin, which collapses the edges' requests into one. null: no shield."
  type        = string
  default     = null
}

variable "aliases" {
  description = "Extra host names (CNAMEs) of the distribution; they need acm_certificate_arn."
  type        = list(string)
  default     = []
}

variable "acm_certificate_arn" {
  description = "ACM certificate (in us-east-1) covering aliases. null uses the cloudfront.net certificate."
  type        = string
  default     = null
}

variable "price_class" {
  description = "CloudFront price class: PriceClass_100, PriceClass_200 or PriceClass_All."
  type        = string
  default     = "PriceClass_100"
}

variable "web_acl_id" {
  description = "WAF web ACL to attach (ARN for WAFv2). null: none."
  type        = string
  default     = null
}

variable "playlist_max_ttl" {
  description = "Longest time an edge keeps a playlist. The origin sends max-age=0 for live playlists and 60 for blocking-reload answers; CloudFront honours those within [0, playlist_max_ttl]."
  type        = number
  default     = 60
}

variable "media_max_ttl" {
  description = "Longest time an edge keeps a part, segment or init segment. The origin marks them immutable for a year."
  type        = number
  default     = 31536000
}

variable "error_caching_min_ttl" {
  description = "Seconds an error is cached. 0: a part that is not there yet (404) or a held request that timed out (503) is asked again at once."
  type        = number
  default     = 0
}

variable "token_function_path" {
  description = "Code of the playback-token CloudFront Function."
  type        = string
  default     = null
}

variable "playback_keys" {
  description = <<-EOT
    Playback-token signing secrets by key id, written to the key value store as
    playback-key:<kid>. They end up in the Terraform state: leave this empty and write the keys
    with the AWS CLI or the management API when the state is not secret.
  EOT
  type        = map(string)
  default     = {}
  sensitive   = true
}

variable "origin_secret" {
  description = <<-EOT
    Sent to the origin as x-relay-origin-secret on every request; set the same value as the
    relay's http.origin_secret (chart: originSecret) so the origin refuses viewers who bypass the
    CDN. It ends up in the Terraform state. Null: not sent.
  EOT
  type        = string
  default     = null
  sensitive   = true
}

variable "on_play_sessions" {
  description = <<-EOT
    Set when the relay has an on_play webhook: the edge then serves media only to session tokens
    (claim ses), as the origin does, so another valid token cannot read cached media of a stream
    on_play guards. index.m3u8, where a session starts, still takes any valid token.
  EOT
  type        = bool
  default     = false
}

variable "access_log_bucket" {
  description = <<-EOT
    Domain name of an S3 bucket for CloudFront's standard access logs (for example
    logs-bucket.s3.amazonaws.com; the bucket needs ACLs enabled for the log delivery). Null: no
    access logs. Logs hold viewer addresses and paths; tokens never appear in paths here, since
    the edge function rewrites /t/<token>/ before logging.
  EOT
  type        = string
  default     = null
}

variable "access_log_prefix" {
  description = "Key prefix of the access logs in access_log_bucket."
  type        = string
  default     = "cloudfront/"
}

variable "tags" {
  description = "Tags for the distribution."
  type        = map(string)
  default     = {}
}
