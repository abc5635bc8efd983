-- One-time passwords that applications send to their own users. The id is
-- shared with the task and its job; the code is drawn by the job and only
-- its keyed hash is stored.
CREATE TABLE otps (
    id           uuid PRIMARY KEY,
    owner_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    to_address   text        NOT NULL,
    purpose      text        NOT NULL DEFAULT '',
    length       integer     NOT NULL CHECK (length BETWEEN 4 AND 8),
    ttl_seconds  integer     NOT NULL CHECK (ttl_seconds BETWEEN 60 AND 3600),
    code_hash    bytea,
    expires_at   timestamptz,
    attempts     integer     NOT NULL DEFAULT 0,
    used_at      timestamptz,
    voided_at    timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX otps_lookup_idx ON otps (owner_id, to_address, purpose, created_at DESC);
