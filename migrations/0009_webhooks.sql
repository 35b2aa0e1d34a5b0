-- Webhook receivers. events: space separated on_publish, on_unpublish, on_play.
-- The secret keys the HMAC-SHA256 signature of every delivery.
CREATE TABLE webhooks (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL UNIQUE,
    events TEXT NOT NULL,
    secret TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    created_at BIGINT NOT NULL
);
