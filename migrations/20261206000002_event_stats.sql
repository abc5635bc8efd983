-- Organizer analytics: per-event rollups kept by triggers in the same
-- transactions as the rows they count, so they never drift from the sales
-- and cost no extra round trip. `marquee-api stats rebuild` recomputes
-- them from the raw rows (core/src/insights/rebuild.rs) and must give the
-- same figures.
--
-- One row per event, 15-minute slot and shard. The slot is when the counted
-- thing happened; every UTC offset in use is a multiple of 15 minutes, so a
-- slot lies within one calendar day in any time zone. Live writes go to
-- shard 1 + the writing backend's pid modulo 64: concurrent sales of one
-- event then update different rows instead of queueing on one row lock.
-- The triggers are deferred to commit, so that lock is held only while
-- the transaction commits. A scheduled job folds closed slots' shards into
-- shard 0, which a covering index serves to reads without visiting the
-- table.
--
-- No foreign key to events: a key check on every sale would lock the
-- event's row (KEY SHARE) from every transaction. Only published events
-- sell, and those are never deleted.
CREATE TABLE event_stats (
    event_id           uuid        NOT NULL,
    slot               timestamptz NOT NULL,
    shard              smallint    NOT NULL,
    -- Holds made (including waitlist offers), at their creation.
    holds              integer     NOT NULL DEFAULT 0,
    -- Bookings made, their units and their totals, at their creation.
    bookings           integer     NOT NULL DEFAULT 0,
    tickets_sold       integer     NOT NULL DEFAULT 0,
    gross_cents        bigint      NOT NULL DEFAULT 0,
    -- Bookings cancelled and their units, at the cancellation.
    cancellations      integer     NOT NULL DEFAULT 0,
    tickets_cancelled  integer     NOT NULL DEFAULT 0,
    -- Money given back (refunds that reached `refunded`), when it was.
    refunded_cents     bigint      NOT NULL DEFAULT 0,
    -- Tickets by status: +1 to the new status, -1 to the old one, when the
    -- change happened (the rebuild puts them at the ticket's creation).
    tickets_valid      integer     NOT NULL DEFAULT 0,
    tickets_used       integer     NOT NULL DEFAULT 0,
    tickets_revoked    integer     NOT NULL DEFAULT 0,
    -- Shard before slot: an event's live rows (shards 1-64) are one short
    -- range of this index.
    PRIMARY KEY (event_id, shard, slot)
);
-- What the fold job looks for: live rows of closed slots.
CREATE INDEX event_stats_live ON event_stats (slot) WHERE shard > 0;
-- Folded rows, read with index-only scans (an organizer's 90 days are tens
-- of thousands of rows spread over as many pages). Live rows (shards 1-64)
-- are not in it, so a sale's upsert stays a HOT update.
CREATE INDEX event_stats_folded ON event_stats (event_id, slot)
    INCLUDE (holds, bookings, tickets_sold, gross_cents, cancellations, tickets_cancelled,
             refunded_cents, tickets_valid, tickets_used, tickets_revoked)
    WHERE shard = 0;

CREATE FUNCTION event_stats_slot(at timestamptz) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN date_bin('15 minutes', at, TIMESTAMPTZ '2000-01-01 00:00:00+00');

-- Adds to one event's counts at `at`. Arguments are deltas. PL/pgSQL, not
-- SQL: a SQL function's INSERT is planned again on every call, PL/pgSQL
-- keeps the plan for the session (a sale calls this once or twice).
CREATE FUNCTION event_stats_add(
    p_event uuid, p_at timestamptz,
    d_holds integer DEFAULT 0, d_bookings integer DEFAULT 0,
    d_tickets_sold integer DEFAULT 0, d_gross bigint DEFAULT 0,
    d_cancellations integer DEFAULT 0, d_tickets_cancelled integer DEFAULT 0,
    d_refunded bigint DEFAULT 0, d_valid integer DEFAULT 0,
    d_used integer DEFAULT 0, d_revoked integer DEFAULT 0
) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO event_stats AS s (event_id, slot, shard, holds, bookings, tickets_sold,
                                  gross_cents, cancellations, tickets_cancelled,
                                  refunded_cents, tickets_valid, tickets_used, tickets_revoked)
    VALUES (p_event, event_stats_slot(p_at), 1 + pg_backend_pid() % 64, d_holds, d_bookings,
            d_tickets_sold, d_gross, d_cancellations, d_tickets_cancelled, d_refunded,
            d_valid, d_used, d_revoked)
    ON CONFLICT (event_id, slot, shard) DO UPDATE SET
        holds = s.holds + EXCLUDED.holds,
        bookings = s.bookings + EXCLUDED.bookings,
        tickets_sold = s.tickets_sold + EXCLUDED.tickets_sold,
        gross_cents = s.gross_cents + EXCLUDED.gross_cents,
        cancellations = s.cancellations + EXCLUDED.cancellations,
        tickets_cancelled = s.tickets_cancelled + EXCLUDED.tickets_cancelled,
        refunded_cents = s.refunded_cents + EXCLUDED.refunded_cents,
        tickets_valid = s.tickets_valid + EXCLUDED.tickets_valid,
        tickets_used = s.tickets_used + EXCLUDED.tickets_used,
        tickets_revoked = s.tickets_revoked + EXCLUDED.tickets_revoked;
END $$;

CREATE FUNCTION event_stats_hold() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM event_stats_add(NEW.event_id, NEW.created_at, d_holds => 1);
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER event_stats AFTER INSERT ON holds
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION event_stats_hold();

-- A booking's units are its hold's items (seats count 1 each).
CREATE FUNCTION event_stats_booking_units(p_hold uuid) RETURNS integer
    LANGUAGE sql STABLE
    RETURN (SELECT coalesce(sum(quantity), 0)::integer FROM hold_items WHERE hold_id = p_hold);

CREATE FUNCTION event_stats_booking() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    units integer := event_stats_booking_units(NEW.hold_id);
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM event_stats_add(NEW.event_id, NEW.created_at, d_bookings => 1,
                                d_tickets_sold => units, d_gross => NEW.total_cents);
    ELSIF OLD.status = 'cancelled' THEN
        PERFORM event_stats_add(OLD.event_id, coalesce(OLD.cancelled_at, now()),
                                d_cancellations => -1, d_tickets_cancelled => -units);
    END IF;
    IF NEW.status = 'cancelled' THEN
        PERFORM event_stats_add(NEW.event_id, coalesce(NEW.cancelled_at, now()),
                                d_cancellations => 1, d_tickets_cancelled => units);
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER event_stats_insert AFTER INSERT ON bookings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION event_stats_booking();
CREATE CONSTRAINT TRIGGER event_stats_update AFTER UPDATE OF status ON bookings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION event_stats_booking();

CREATE FUNCTION event_stats_refund() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    event uuid := (SELECT event_id FROM bookings WHERE id = NEW.booking_id);
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.status = 'refunded' THEN
        PERFORM event_stats_add(event, coalesce(OLD.refunded_at, now()),
                                d_refunded => -OLD.amount_cents::bigint);
    END IF;
    IF NEW.status = 'refunded' THEN
        PERFORM event_stats_add(event, coalesce(NEW.refunded_at, now()),
                                d_refunded => NEW.amount_cents::bigint);
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER event_stats_insert AFTER INSERT ON refunds
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.status = 'refunded')
    EXECUTE FUNCTION event_stats_refund();
CREATE CONSTRAINT TRIGGER event_stats_update AFTER UPDATE OF status, amount_cents ON refunds
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD.status = 'refunded' OR NEW.status = 'refunded')
    EXECUTE FUNCTION event_stats_refund();

-- OLD is NULL on INSERT, so only the new status counts then.
CREATE FUNCTION event_stats_ticket() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM event_stats_add(NEW.event_id, now(),
        d_valid => (NEW.status = 'valid')::integer - coalesce(OLD.status = 'valid', false)::integer,
        d_used => (NEW.status = 'used')::integer - coalesce(OLD.status = 'used', false)::integer,
        d_revoked => (NEW.status = 'revoked')::integer - coalesce(OLD.status = 'revoked', false)::integer);
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER event_stats_insert AFTER INSERT ON tickets
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION event_stats_ticket();
-- A check-in changes status and unindexed columns only, so it stays a HOT
-- update; the trigger adds one small upsert to it.
CREATE CONSTRAINT TRIGGER event_stats_update AFTER UPDATE OF status ON tickets
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION event_stats_ticket();
