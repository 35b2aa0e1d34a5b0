-- The VMS hierarchy: areas hold devices, devices hold channels (streams).
-- A stream is pushed to (kind 'push', with its stream key) or pulled from
-- a camera (kind 'camera', its source in camera_sources).
CREATE TABLE areas (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);

CREATE TABLE devices (
    id TEXT PRIMARY KEY,
    area_id TEXT NOT NULL REFERENCES areas (id) ON DELETE RESTRICT,
    name TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL,
    UNIQUE (area_id, name)
);

ALTER TABLE streams ADD COLUMN device_id TEXT REFERENCES devices (id) ON DELETE RESTRICT;
ALTER TABLE streams ADD COLUMN kind TEXT NOT NULL DEFAULT 'push';
CREATE INDEX streams_device_id ON streams (device_id);

-- Camera credentials are write-only through the API.
CREATE TABLE camera_sources (
    stream_id TEXT PRIMARY KEY REFERENCES streams (id) ON DELETE CASCADE,
    url TEXT NOT NULL,
    username TEXT,
    password TEXT
);
