-- Streams that publishers push to, each with its secret stream key.
-- Portable SQL: the same file runs on SQLite (embedded) and PostgreSQL.
CREATE TABLE streams (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    stream_key TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);
