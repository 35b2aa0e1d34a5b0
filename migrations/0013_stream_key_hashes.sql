-- Stream keys are no longer kept in clear. `streams.stream_key` now holds
-- 'sha256:' and the hex SHA-256 of the key (publishers are looked up by it),
-- and `key_digest_ha1` the RTSP Digest HA1, MD5("publisher:relay:" + key),
-- so a Digest login can be checked without the key. The column keeps its
-- name so pods of the previous release still read the table during a
-- rolling upgrade (they refuse publishes until replaced). Rows written
-- before this migration are hashed by the server when it starts.
ALTER TABLE streams ADD COLUMN key_digest_ha1 TEXT;
