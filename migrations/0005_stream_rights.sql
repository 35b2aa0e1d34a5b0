-- Per-stream rights of a user: one row per granted right
-- (view_live, view_recordings, export, manage).
CREATE TABLE stream_rights (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    stream_id TEXT NOT NULL REFERENCES streams (id) ON DELETE CASCADE,
    right_name TEXT NOT NULL,
    PRIMARY KEY (user_id, stream_id, right_name)
);
CREATE INDEX stream_rights_stream_id ON stream_rights (stream_id);
