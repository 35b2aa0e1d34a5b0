-- Objects of retired streams (deleted, or renamed away from) still to be
-- deleted from storage. Rows are written in the transaction that retires the
-- stream and removed once their object is gone, so a purge cut short by a
-- restart or a storage outage resumes at the next retention sweep.
CREATE TABLE pending_purges (
    object_key TEXT PRIMARY KEY,
    stream TEXT NOT NULL,
    retired_ms BIGINT NOT NULL
);
