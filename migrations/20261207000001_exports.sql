-- CSV exports read an event's tickets and bookings a page at a time, in id
-- order (ids are UUIDv7, so that is roughly sale order), and hold no
-- connection while the client reads. Each page starts where the last one
-- ended, which needs the id next to the event in the index; the new
-- indexes serve every lookup the old ones did.
CREATE INDEX tickets_event_id ON tickets (event_id, id);
DROP INDEX tickets_event;
CREATE INDEX bookings_event_id ON bookings (event_id, id);
DROP INDEX bookings_event;
