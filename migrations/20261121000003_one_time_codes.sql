-- One-time codes sent by email (password reset, email verification). The
-- row is created by the API; the email job generates the code, stores only
-- its hash and sends it, so the plain code never sits in a queue.
CREATE TABLE one_time_codes (
    id          uuid PRIMARY KEY,
    user_id     uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     text        NOT NULL CHECK (purpose IN ('password_reset', 'verify_email')),
    code_hash   bytea,
    expires_at  timestamptz NOT NULL,
    attempts    integer     NOT NULL DEFAULT 0,
    used_at     timestamptz,
    voided_at   timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX one_time_codes_user_idx ON one_time_codes (user_id, purpose, created_at DESC);
