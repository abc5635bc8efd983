-- Waitlist: people waiting for sold-out inventory, in join order, and the
-- offers made to them. An offer is an ordinary hold in the person's name
-- (holds.waitlist_entry_id marks it), so checkout, release and expiry treat
-- it like any hold.

ALTER TABLE events ADD COLUMN waitlist_offer_minutes integer NOT NULL DEFAULT 30
    CHECK (waitlist_offer_minutes BETWEEN 1 AND 1440);

CREATE TABLE waitlist_entries (
    id                uuid        PRIMARY KEY,
    -- Join order. Assigned while the event's waitlist lock is held, so
    -- within an event it is also the order in which joins committed.
    seq               bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
    event_id          uuid        NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    user_id           uuid        NOT NULL REFERENCES users (id),
    quantity          integer     NOT NULL CHECK (quantity > 0),
    -- What the person waits for: a ticket type, seats of a section, or
    -- (both NULL) anything the event sells.
    ticket_type_id    uuid        REFERENCES ticket_types (id) ON DELETE CASCADE,
    section_id        uuid        REFERENCES venue_sections (id),
    status            text        NOT NULL DEFAULT 'waiting'
                      CHECK (status IN ('waiting', 'offered', 'converted', 'expired',
                                        'declined', 'left', 'closed')),
    hold_id           uuid        REFERENCES holds (id),
    offered_quantity  integer     CHECK (offered_quantity > 0),
    offered_at        timestamptz,
    offer_expires_at  timestamptz,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK (ticket_type_id IS NULL OR section_id IS NULL),
    CHECK ((status = 'waiting') = (hold_id IS NULL) OR status IN ('left', 'closed'))
);

-- One open entry per person per event; after it ends they may join again,
-- at the back.
CREATE UNIQUE INDEX waitlist_entries_open ON waitlist_entries (event_id, user_id)
    WHERE status IN ('waiting', 'offered');
-- The line itself: promotion walks it, positions count it, holds check it.
CREATE INDEX waitlist_entries_waiting ON waitlist_entries (event_id, seq)
    WHERE status = 'waiting';
CREATE INDEX waitlist_entries_event ON waitlist_entries (event_id, seq);
CREATE INDEX waitlist_entries_user ON waitlist_entries (user_id, event_id);
CREATE UNIQUE INDEX waitlist_entries_hold ON waitlist_entries (hold_id)
    WHERE hold_id IS NOT NULL;

ALTER TABLE holds ADD COLUMN waitlist_entry_id uuid REFERENCES waitlist_entries (id);

-- One row per event with a waitlist: whether a PromoteWaitlist job is
-- queued and has not started yet. Freeing inventory sets it (and queues a
-- job only when it was clear); the job clears it before it reads the
-- inventory, so a burst of frees makes one job and no free is missed.
CREATE TABLE waitlist_promotions (
    event_id  uuid    PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    pending   boolean NOT NULL DEFAULT false
);
