-- When a camera is pulled: 'always', or 'on_demand' while viewers ask for it
-- and linger_ms after the last request. Viewer requests are recorded per
-- stream in camera_demand (unix ms) by the pods that serve them, so the
-- ingest pods can start and stop on-demand pulls.
ALTER TABLE camera_sources ADD COLUMN pull_mode TEXT NOT NULL DEFAULT 'always';
ALTER TABLE camera_sources ADD COLUMN linger_ms BIGINT NOT NULL DEFAULT 30000;

CREATE TABLE camera_demand (
    stream TEXT PRIMARY KEY,
    requested_ms BIGINT NOT NULL
);
