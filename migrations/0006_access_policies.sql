-- Playback access per stream: kind public, ip_allow_list or token.
-- allow_list holds the CIDRs of an ip_allow_list, space separated.
CREATE TABLE access_policies (
    stream_id TEXT PRIMARY KEY REFERENCES streams (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    allow_list TEXT NOT NULL DEFAULT '',
    updated_at BIGINT NOT NULL
);
