-- Event tags: up to 10 per event, normalised by the application (lower
-- case, 1-32 letters, digits and '-'). Browse matches all the tags given
-- (`tags @> filter`), through the GIN index.
ALTER TABLE events ADD COLUMN tags text[] NOT NULL DEFAULT '{}'
    CHECK (cardinality(tags) <= 10);
CREATE INDEX events_tags ON events USING gin (tags);
