-- Tickets: one per seat and per general-admission unit of a booking, each
-- with a hand-typed secret and a QR token signed by its event's key.

-- Each event's Ed25519 keys. The private half is read only by the server
-- that signs; door devices get the public half from `checkin-keys`.
-- Rotation adds a key (the newest signs); old keys keep verifying.
CREATE TABLE ticket_signing_keys (
    event_id     uuid        NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    key_id       integer     NOT NULL CHECK (key_id BETWEEN 1 AND 65535),
    public_key   bytea       NOT NULL CHECK (length(public_key) = 32),
    private_key  bytea       NOT NULL CHECK (length(private_key) = 32),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, key_id)
);

CREATE TABLE tickets (
    id              uuid        PRIMARY KEY,
    booking_id      uuid        NOT NULL REFERENCES bookings (id),
    event_id        uuid        NOT NULL REFERENCES events (id),
    user_id         uuid        NOT NULL REFERENCES users (id),
    -- Which unit of the booking: `seat:<seat id>` or `unit:<type id>:<n>`.
    item_key        text        NOT NULL,
    seat_id         uuid,
    section_id      uuid,
    ticket_type_id  uuid,
    -- "A-12" or the ticket type's name: what the door staff see.
    label           text        NOT NULL,
    -- >= 128 bits, no look-alike characters; typed by hand at the door.
    secret          text        NOT NULL UNIQUE,
    key_id          integer     NOT NULL,
    qr_token        text        NOT NULL,
    valid_from      timestamptz NOT NULL,
    valid_until     timestamptz NOT NULL,
    status          text        NOT NULL DEFAULT 'valid' CHECK (status IN ('valid', 'used', 'revoked')),
    used_at         timestamptz,
    used_device     text,
    -- A retried scan with this nonce is answered `ok` again.
    used_nonce      text,
    revoked_at      timestamptz,
    -- The event's revocation cursor (see ticket_revocation_cursors).
    revoked_seq     bigint,
    revoke_reason   text,
    -- Set when reissued: the ticket that took this one's place.
    replaced_by     uuid,
    created_at      timestamptz NOT NULL DEFAULT now(),
    CHECK ((status = 'used') = (used_at IS NOT NULL)),
    CHECK ((status = 'revoked') = (revoked_seq IS NOT NULL)),
    CHECK ((seat_id IS NULL) <> (ticket_type_id IS NULL))
)
-- A check-in changes only unindexed columns; room on each page keeps that
-- update on the page (HOT), with no index entries written.
WITH (fillfactor = 90);
-- Idempotent issuing: one live ticket per unit of a booking, however often
-- the job runs (a reissued ticket hands its unit to its replacement).
CREATE UNIQUE INDEX tickets_unit ON tickets (booking_id, item_key) WHERE replaced_by IS NULL;
CREATE INDEX tickets_user ON tickets (user_id, created_at DESC, id);
CREATE INDEX tickets_event ON tickets (event_id);
CREATE UNIQUE INDEX tickets_revoked ON tickets (event_id, revoked_seq) WHERE revoked_seq IS NOT NULL;

-- Per event, the last revocation number given out. Taking it locks the row
-- until commit, so numbers become visible in order and a door device that
-- syncs `revocations?since=N` never skips one that commits late.
CREATE TABLE ticket_revocation_cursors (
    event_id  uuid   PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    last_seq  bigint NOT NULL
);

-- What the worker rendered, once: downloads and the email read it from here.
CREATE TABLE ticket_files (
    ticket_id    uuid        PRIMARY KEY REFERENCES tickets (id) ON DELETE CASCADE,
    qr_png       bytea       NOT NULL,
    qr_svg       text        NOT NULL,
    pdf          bytea       NOT NULL,
    rendered_at  timestamptz NOT NULL DEFAULT now()
);
