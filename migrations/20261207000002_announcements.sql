-- Organizer announcements to everyone watching an event live. `seq` is the
-- message's number in the event's live stream, taken from Redis after the
-- row commits (so numbering never holds a transaction); it stays NULL if
-- the process died before publishing. A reconnecting client is sent the
-- ones numbered after the last message it saw. Deleting a draft deletes its
-- announcements.
CREATE TABLE event_announcements (
    id          uuid        PRIMARY KEY,
    event_id    uuid        NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    seq         bigint,
    message     text        NOT NULL CHECK (char_length(message) BETWEEN 1 AND 500),
    author_id   uuid        NOT NULL REFERENCES users (id),
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX event_announcements_newest ON event_announcements (event_id, created_at DESC, id DESC);
CREATE INDEX event_announcements_seq ON event_announcements (event_id, seq) WHERE seq IS NOT NULL;
