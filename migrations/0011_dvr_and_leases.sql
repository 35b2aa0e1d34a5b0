-- Per-stream DVR windows (streams without a row use the configured default)
-- and named leases: one holder at a time for cluster-wide singletons such as
-- the retention sweeper or a camera pull.
CREATE TABLE stream_dvr_windows (
    stream TEXT PRIMARY KEY,
    window_secs BIGINT NOT NULL
);

CREATE TABLE leases (
    name TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    expires_ms BIGINT NOT NULL
);
