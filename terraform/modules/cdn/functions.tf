# Viewer-request functions. playback-token.js runs on every behavior but /internal/*: besides
# checking /t/<token>/ paths, it removes the x-playback-token and x-playback-verified headers a
# viewer might send, and one behavior without it would let a viewer forge x-playback-verified and
# read token-only copies from the cache.

resource "aws_cloudfront_key_value_store" "playback_keys" {
  name    = "${var.name}-playback-keys"
  comment = "Playback-token secrets, playback-key:<kid> -> secret text"
}

# Key ids are not secret; the values stay sensitive.
resource "aws_cloudfrontkeyvaluestore_key" "playback" {
  for_each = nonsensitive(toset(keys(var.playback_keys)))

  key_value_store_arn = aws_cloudfront_key_value_store.playback_keys.arn
  key                 = "playback-key:${each.value}"
  value               = var.playback_keys[each.value]
}

# With an on_play webhook, media needs session tokens at the edge too (playback-token.js).
resource "aws_cloudfrontkeyvaluestore_key" "on_play_sessions" {
  count = var.on_play_sessions ? 1 : 0

  key_value_store_arn = aws_cloudfront_key_value_store.playback_keys.arn
  key                 = "on-play-sessions"
  value               = "required"
}

resource "aws_cloudfront_function" "playback_token" {
  name                         = "${var.name}-playback-token"
  runtime                      = "cloudfront-js-2.0"
  comment                      = "Verifies /t/<token>/ playback tokens and strips the token from the cache key"
  publish                      = true
  code                         = file(coalesce(var.token_function_path, "${path.module}/../../cloudfront/playback-token.js"))
  key_value_store_associations = [aws_cloudfront_key_value_store.playback_keys.arn]
}

# The origin's /internal/ routes serve other pods, never viewers.
resource "aws_cloudfront_function" "deny_internal" {
  name    = "${var.name}-deny-internal"
  runtime = "cloudfront-js-2.0"
  comment = "Answers 404 to /internal/ paths at the edge"
  publish = true
  code    = <<-EOT
    function handler(event) {
      return { statusCode: 404, statusDescription: 'Not Found', headers: { 'cache-control': { value: 'no-store' } } };
    }
  EOT
}
