-- Addresses an account's mail no longer goes to: a recipient the mail
-- server refused for good (5xx on RCPT), or a person who unsubscribed from
-- all of the account's mail. Tasks to them end dead with reason
-- `suppressed` without touching the transport; the owner lists and lifts
-- entries through /api/v1/suppressions (issue 18).
CREATE TABLE suppressions (
    owner_id   uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- Trimmed and lower-cased.
    address    text        NOT NULL,
    reason     text        NOT NULL CHECK (reason IN ('bounced', 'unsubscribed')),
    -- The server's answer, for a bounce.
    detail     text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner_id, address)
);
CREATE INDEX suppressions_owner_recent ON suppressions (owner_id, created_at DESC, address);
