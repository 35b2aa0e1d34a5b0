-- The cluster registry: which ingest pod owns each live stream, under which
-- epoch, and the index of stored segments (time-range lookups never LIST the
-- bucket). Portable SQL for SQLite and PostgreSQL; flags are 0/1 integers.
CREATE TABLE live_owners (
    stream TEXT PRIMARY KEY,
    owner TEXT,
    owner_address TEXT,
    epoch BIGINT NOT NULL,
    heartbeat_ms BIGINT NOT NULL,
    ended BIGINT NOT NULL,
    open_msn BIGINT,
    next_msn BIGINT NOT NULL,
    next_init_version BIGINT NOT NULL,
    part_target_ms BIGINT,
    target_duration BIGINT NOT NULL
);

CREATE TABLE stored_segments (
    stream TEXT NOT NULL,
    msn BIGINT NOT NULL,
    epoch BIGINT NOT NULL,
    program_date_time_ms BIGINT NOT NULL,
    duration_ms BIGINT NOT NULL,
    discontinuity BIGINT NOT NULL,
    discontinuity_sequence BIGINT NOT NULL,
    init_version BIGINT NOT NULL,
    gap BIGINT NOT NULL,
    object_key TEXT NOT NULL,
    PRIMARY KEY (stream, msn)
);

CREATE INDEX stored_segments_by_time ON stored_segments (stream, program_date_time_ms);
