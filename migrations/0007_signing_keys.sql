-- HS256 keys for playback tokens. The newest key that is not retired signs;
-- every key that is not retired verifies.
CREATE TABLE signing_keys (
    kid TEXT PRIMARY KEY,
    secret TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);
