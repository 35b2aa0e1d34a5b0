output "distribution_id" {
  description = "Distribution id, for invalidations (aws cloudfront create-invalidation)."
  value       = aws_cloudfront_distribution.this.id
}

output "distribution_arn" {
  description = "Distribution ARN."
  value       = aws_cloudfront_distribution.this.arn
}

output "domain_name" {
  description = "cloudfront.net host name viewers use (or point the aliases at)."
  value       = aws_cloudfront_distribution.this.domain_name
}

output "playback_base_url" {
  description = "The chart's playbackBaseUrl."
  value       = "https://${length(var.aliases) > 0 ? var.aliases[0] : aws_cloudfront_distribution.this.domain_name}"
}

output "key_value_store_arn" {
  description = "Key value store of the playback-token secrets (aws cloudfront-keyvaluestore put-key)."
  value       = aws_cloudfront_key_value_store.playback_keys.arn
}

output "playback_token_function_arn" {
  description = "The playback-token CloudFront Function."
  value       = aws_cloudfront_function.playback_token.arn
}
