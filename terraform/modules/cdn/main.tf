# CloudFront in front of the relay origin Service.
#
# Behaviors are matched on the viewer's path before any function runs, first match wins:
#   /internal/*            404 at the edge
#   /t/*/dvr.m3u8, /live/*/dvr.m3u8  DVR playlists: keyed by the time range (start, end) too
#   /t/*.m3u8, /live/*.m3u8  playlists: short-lived, keyed by the blocking-reload query strings
#   /t/*, /live/*          parts, segments, init segments: immutable
#   everything else        player page and script

locals {
  origin_id = "relay-origin"
  # The header the origin checks for var.origin_secret (services/origin/src/cdn_gate.rs).
  origin_secret_header = "x-relay-origin-secret"

  behaviors = [
    { path = "/t/*/dvr.m3u8", cache_policy = aws_cloudfront_cache_policy.dvr.id, compress = true },
    { path = "/live/*/dvr.m3u8", cache_policy = aws_cloudfront_cache_policy.dvr.id, compress = true },
    { path = "/t/*.m3u8", cache_policy = aws_cloudfront_cache_policy.playlist.id, compress = true },
    { path = "/t/*", cache_policy = aws_cloudfront_cache_policy.media.id, compress = false },
    { path = "/live/*.m3u8", cache_policy = aws_cloudfront_cache_policy.playlist.id, compress = true },
    { path = "/live/*", cache_policy = aws_cloudfront_cache_policy.media.id, compress = false },
  ]

  # Errors pass through uncached (by default), so a part that appears a moment later is fetched.
  error_codes = [400, 403, 404, 405, 414, 416, 500, 501, 502, 503, 504]
}

resource "aws_cloudfront_distribution" "this" {
  enabled         = true
  comment         = "relay LL-HLS (${var.name})"
  is_ipv6_enabled = true
  http_version    = "http2and3"
  price_class     = var.price_class
  aliases         = var.aliases
  web_acl_id      = var.web_acl_id
  tags            = var.tags

  origin {
    origin_id   = local.origin_id
    domain_name = var.origin_domain_name

    # The origin answers viewer routes only with this header when its http.origin_secret is set.
    dynamic "custom_header" {
      for_each = var.origin_secret == null ? [] : [var.origin_secret]

      content {
        name  = local.origin_secret_header
        value = custom_header.value
      }
    }

    custom_origin_config {
      http_port                = var.origin_http_port
      https_port               = var.origin_https_port
      origin_protocol_policy   = var.origin_protocol_policy
      origin_ssl_protocols     = ["TLSv1.2"]
      origin_read_timeout      = var.origin_read_timeout
      origin_keepalive_timeout = 60
    }

    dynamic "origin_shield" {
      for_each = var.origin_shield_region == null ? [] : [var.origin_shield_region]

      content {
        enabled              = true
        origin_shield_region = origin_shield.value
      }
    }
  }

  ordered_cache_behavior {
    path_pattern           = "/internal/*"
    target_origin_id       = local.origin_id
    viewer_protocol_policy = "redirect-to-https"
    allowed_methods        = ["GET", "HEAD"]
    cached_methods         = ["GET", "HEAD"]
    cache_policy_id        = aws_cloudfront_cache_policy.no_cache.id

    function_association {
      event_type   = "viewer-request"
      function_arn = aws_cloudfront_function.deny_internal.arn
    }
  }

  dynamic "ordered_cache_behavior" {
    for_each = local.behaviors

    content {
      path_pattern             = ordered_cache_behavior.value.path
      target_origin_id         = local.origin_id
      viewer_protocol_policy   = "redirect-to-https"
      allowed_methods          = ["GET", "HEAD", "OPTIONS"]
      cached_methods           = ["GET", "HEAD"]
      compress                 = ordered_cache_behavior.value.compress
      cache_policy_id          = ordered_cache_behavior.value.cache_policy
      origin_request_policy_id = aws_cloudfront_origin_request_policy.relay.id

      function_association {
        event_type   = "viewer-request"
        function_arn = aws_cloudfront_function.playback_token.arn
      }
    }
  }

  default_cache_behavior {
    target_origin_id         = local.origin_id
    viewer_protocol_policy   = "redirect-to-https"
    allowed_methods          = ["GET", "HEAD", "OPTIONS"]
    cached_methods           = ["GET", "HEAD"]
    compress                 = true
    cache_policy_id          = aws_cloudfront_cache_policy.pages.id
    origin_request_policy_id = aws_cloudfront_origin_request_policy.relay.id

    function_association {
      event_type   = "viewer-request"
      function_arn = aws_cloudfront_function.playback_token.arn
    }
  }

  dynamic "logging_config" {
    for_each = var.access_log_bucket == null ? [] : [var.access_log_bucket]

    content {
      bucket          = logging_config.value
      prefix          = var.access_log_prefix
      include_cookies = false
    }
  }

  dynamic "custom_error_response" {
    for_each = local.error_codes

    content {
      error_code            = custom_error_response.value
      error_caching_min_ttl = var.error_caching_min_ttl
    }
  }

  restrictions {
    geo_restriction {
      restriction_type = "none"
    }
  }

  viewer_certificate {
    cloudfront_default_certificate = var.acm_certificate_arn == null
    acm_certificate_arn            = var.acm_certificate_arn
    ssl_support_method             = var.acm_certificate_arn == null ? null : "sni-only"
    minimum_protocol_version       = var.acm_certificate_arn == null ? "TLSv1" : "TLSv1.2_2021"
  }
}
