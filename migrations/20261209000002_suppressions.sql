-- Addresses an account's mail no longer goes to: a recipient the mail
-- server refused for good (5xx on RCPT), or a person who unsubscribed from
-- all of the account's mail. Tasks to them end dead with reason
-- `suppressed` without touching the transport; the owner lists and lifts
-- entries through /api/v1/suppressions (issue 18).
-- The mailbox of an address as tasks give it: `Ada <Ada@X.com>` and
-- ` ada@x.com` are one mailbox, `ada@x.com`. Lists compare through it.
CREATE FUNCTION mail_address(a text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT
    RETURN lower(btrim(coalesce(substring(a FROM '<([^<>]*)>\s*$'), a)));

CREATE TABLE suppressions (
    owner_id   uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The mailbox: mail_address() of what the task gave.
    address    text        NOT NULL,
    reason     text        NOT NULL CHECK (reason IN ('bounced', 'unsubscribed')),
    -- The server's answer, for a bounce.
    detail     text,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner_id, address)
);
CREATE INDEX suppressions_owner_recent ON suppressions (owner_id, created_at DESC, address);
