-- Email work submitted by applications. A task's id is its job's id, so its
-- status, attempts and last error come from the job ledger.
CREATE TABLE tasks (
    id               uuid PRIMARY KEY REFERENCES jobs (id),
    owner_id         uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    type             text        NOT NULL,
    name             text,
    payload          jsonb       NOT NULL,
    idempotency_key  text,
    request_hash     bytea,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (owner_id, idempotency_key)
);
