# Cache keys. The playback-token function rewrites /t/<token>/live/... to /live/... before the
# cache is consulted, so the URI in the key carries no token and every token holder of a stream
# shares one entry. It also sets x-playback-verified: 1, which is part of every key below, so a
# copy fetched with a verified token is never served to a plain /live/ request.

locals {
  verified_header = "x-playback-verified"
  token_header    = "x-playback-token"
  # Blocking playlist reload (RFC 8216bis): each combination is a different playlist.
  blocking_reload_query = ["_HLS_msn", "_HLS_part", "_HLS_skip"]
  # A time range of the DVR playlist (dvr.m3u8?start=&end=, Unix seconds): each range is a
  # different playlist. Only dvr.m3u8 keys on them, so ?start= on other playlists cannot split
  # their cache entries.
  dvr_range_query = ["start", "end"]
}

resource "aws_cloudfront_cache_policy" "playlist" {
  name        = "${var.name}-playlist"
  comment     = "LL-HLS playlists: path + blocking-reload query strings; origin Cache-Control decides"
  min_ttl     = 0
  default_ttl = 0
  max_ttl     = var.playlist_max_ttl

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_gzip   = true
    enable_accept_encoding_brotli = true

    query_strings_config {
      query_string_behavior = "whitelist"

      query_strings {
        items = local.blocking_reload_query
      }
    }

    headers_config {
      header_behavior = "whitelist"

      headers {
        items = [local.verified_header]
      }
    }

    cookies_config {
      cookie_behavior = "none"
    }
  }
}

resource "aws_cloudfront_cache_policy" "dvr" {
  name        = "${var.name}-dvr"
  comment     = "DVR playlists: path + time range (start, end) + blocking-reload query strings"
  min_ttl     = 0
  default_ttl = 0
  max_ttl     = var.playlist_max_ttl

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_gzip   = true
    enable_accept_encoding_brotli = true

    query_strings_config {
      query_string_behavior = "whitelist"

      query_strings {
        items = concat(local.dvr_range_query, local.blocking_reload_query)
      }
    }

    headers_config {
      header_behavior = "whitelist"

      headers {
        items = [local.verified_header]
      }
    }

    cookies_config {
      cookie_behavior = "none"
    }
  }
}

resource "aws_cloudfront_cache_policy" "media" {
  name        = "${var.name}-media"
  comment     = "Parts, segments, init segments: path only, immutable"
  min_ttl     = 0
  default_ttl = 86400
  max_ttl     = var.media_max_ttl

  parameters_in_cache_key_and_forwarded_to_origin {
    # fMP4 does not compress; the origin never encodes media.
    enable_accept_encoding_gzip   = false
    enable_accept_encoding_brotli = false

    query_strings_config {
      query_string_behavior = "none"
    }

    headers_config {
      header_behavior = "whitelist"

      headers {
        items = [local.verified_header]
      }
    }

    cookies_config {
      cookie_behavior = "none"
    }
  }
}

# The player page and its script: whatever the origin says (no-cache, one day).
resource "aws_cloudfront_cache_policy" "pages" {
  name        = "${var.name}-pages"
  comment     = "Player page and script: origin Cache-Control decides"
  min_ttl     = 0
  default_ttl = 0
  max_ttl     = 86400

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_gzip   = true
    enable_accept_encoding_brotli = true

    query_strings_config {
      query_string_behavior = "none"
    }

    headers_config {
      header_behavior = "none"
    }

    cookies_config {
      cookie_behavior = "none"
    }
  }
}

resource "aws_cloudfront_cache_policy" "no_cache" {
  name        = "${var.name}-no-cache"
  comment     = "Never cached"
  min_ttl     = 0
  default_ttl = 0
  max_ttl     = 0

  parameters_in_cache_key_and_forwarded_to_origin {
    enable_accept_encoding_gzip   = false
    enable_accept_encoding_brotli = false

    query_strings_config {
      query_string_behavior = "none"
    }

    headers_config {
      header_behavior = "none"
    }

    cookies_config {
      cookie_behavior = "none"
    }
  }
}

# The verified token travels to the origin outside the cache key: the origin checks it again, so
# a request that bypasses the CDN gains nothing.
resource "aws_cloudfront_origin_request_policy" "relay" {
  name    = "${var.name}-origin"
  comment = "Forwards the verified playback token to the origin"

  headers_config {
    header_behavior = "whitelist"

    headers {
      items = [local.token_header]
    }
  }

  query_strings_config {
    query_string_behavior = "none"
  }

  cookies_config {
    cookie_behavior = "none"
  }
}
