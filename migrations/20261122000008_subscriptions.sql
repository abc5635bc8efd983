-- Newsletters. An owner (the user behind an API key) publishes content types;
-- addresses subscribe to one at a frequency; the scheduler sends each content
-- type's current content once per period.
CREATE TABLE subscription_contents (
    owner_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    content_type  text        NOT NULL,
    subject       text        NOT NULL,
    text_body     text        NOT NULL DEFAULT '',
    html_body     text        NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (owner_id, content_type)
);

CREATE TABLE subscribers (
    id            uuid        PRIMARY KEY,
    owner_id      uuid        NOT NULL,
    content_type  text        NOT NULL,
    address       text        NOT NULL,
    frequency     text        NOT NULL CHECK (frequency IN ('@hourly', '@daily', '@weekly', '@monthly')),
    active        boolean     NOT NULL,
    -- The secret in the unsubscribe link.
    token         text        NOT NULL UNIQUE,
    -- The newest change applied (its task's `seq`, or a fresh value when the
    -- link was used): tasks processed out of order never undo a newer one.
    changed_seq   bigint      NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (owner_id, content_type, address),
    FOREIGN KEY (owner_id, content_type)
        REFERENCES subscription_contents (owner_id, content_type) ON DELETE CASCADE
);

-- Submission order of tasks across API replicas: a sequence, not a clock.
ALTER TABLE tasks ADD COLUMN seq bigserial;

-- The digest fan-out walks active subscribers of one frequency by id.
CREATE INDEX subscribers_due ON subscribers (frequency, id) WHERE active;

-- An email whose send started but was never recorded (the worker died
-- mid-send) is "sending"; the retry resends it with the same Message-ID and
-- counts it here.
ALTER TABLE emails DROP CONSTRAINT emails_status_check;
ALTER TABLE emails ADD CONSTRAINT emails_status_check
    CHECK (status IN ('pending', 'sending', 'sent', 'failed'));
ALTER TABLE emails ADD COLUMN interrupted_sends integer NOT NULL DEFAULT 0;
