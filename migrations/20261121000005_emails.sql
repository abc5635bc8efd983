-- Every email Marquee sends: one row per sending job (id = the job's id), so
-- a retry finds the row and never sends a message recorded as sent.
CREATE TABLE emails (
    id          uuid PRIMARY KEY,
    to_address  text        NOT NULL,
    template    text        NOT NULL,
    status      text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    message_id  text        NOT NULL,
    attempts    integer     NOT NULL DEFAULT 0,
    last_error  text,
    sent_at     timestamptz,
    created_at  timestamptz NOT NULL DEFAULT now()
);
