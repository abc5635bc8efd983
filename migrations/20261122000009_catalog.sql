-- Catalog: venues with their seat maps, events, and each event's own
-- inventory (seats and ticket types).

CREATE TABLE venues (
    id          uuid        PRIMARY KEY,
    owner_id    uuid        NOT NULL REFERENCES users (id),
    name        text        NOT NULL,
    address     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX venues_owner ON venues (owner_id, name);

CREATE TABLE venue_sections (
    id        uuid    PRIMARY KEY,
    venue_id  uuid    NOT NULL REFERENCES venues (id) ON DELETE CASCADE,
    name      text    NOT NULL,
    position  integer NOT NULL,
    UNIQUE (venue_id, name)
);

CREATE TABLE venue_seats (
    id          uuid    PRIMARY KEY,
    section_id  uuid    NOT NULL REFERENCES venue_sections (id) ON DELETE CASCADE,
    row_label   text    NOT NULL,
    number      integer NOT NULL,
    -- "A-12": row label, dash, seat number.
    label       text    NOT NULL,
    UNIQUE (section_id, row_label, number)
);

CREATE TABLE events (
    id             uuid        PRIMARY KEY,
    organizer_id   uuid        NOT NULL REFERENCES users (id),
    venue_id       uuid        REFERENCES venues (id),
    title          text        NOT NULL,
    description    text        NOT NULL DEFAULT '',
    starts_at      timestamptz NOT NULL,
    ends_at        timestamptz CHECK (ends_at > starts_at),
    currency       text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    sales_start    timestamptz,
    sales_end      timestamptz CHECK (sales_end > sales_start),
    max_per_order  integer     NOT NULL DEFAULT 10 CHECK (max_per_order > 0),
    hold_minutes   integer     NOT NULL DEFAULT 10 CHECK (hold_minutes > 0),
    status         text        NOT NULL DEFAULT 'draft'
                   CHECK (status IN ('draft', 'published', 'cancelled', 'completed')),
    published_at   timestamptz,
    cancelled_at   timestamptz,
    completed_at   timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now(),
    search         tsvector GENERATED ALWAYS AS (
                       to_tsvector('simple', title || ' ' || description)) STORED
);
-- Browse: published events by start, and every filter.
CREATE INDEX events_browse ON events (status, starts_at, id);
CREATE INDEX events_venue ON events (venue_id, starts_at);
CREATE INDEX events_organizer ON events (organizer_id, starts_at);
CREATE INDEX events_search ON events USING gin (search);

CREATE TABLE event_section_prices (
    event_id     uuid    NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    section_id   uuid    NOT NULL REFERENCES venue_sections (id),
    price_cents  integer NOT NULL CHECK (price_cents >= 0),
    PRIMARY KEY (event_id, section_id)
);

CREATE TABLE ticket_types (
    id           uuid    PRIMARY KEY,
    event_id     uuid    NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    name         text    NOT NULL,
    price_cents  integer NOT NULL CHECK (price_cents >= 0),
    capacity     integer NOT NULL CHECK (capacity > 0),
    sold         integer NOT NULL DEFAULT 0 CHECK (sold >= 0),
    held         integer NOT NULL DEFAULT 0 CHECK (held >= 0),
    position     integer NOT NULL,
    -- Never oversold, whatever the concurrency.
    CHECK (sold + held <= capacity),
    UNIQUE (event_id, name)
);

-- One row per seat per event, created at publish: each event's inventory is
-- its own even when events share a venue.
CREATE TABLE event_seats (
    event_id     uuid        NOT NULL REFERENCES events (id) ON DELETE CASCADE,
    seat_id      uuid        NOT NULL REFERENCES venue_seats (id),
    section_id   uuid        NOT NULL REFERENCES venue_sections (id),
    label        text        NOT NULL,
    price_cents  integer     NOT NULL CHECK (price_cents >= 0),
    status       text        NOT NULL CHECK (status IN ('available', 'held', 'sold', 'blocked')),
    hold_id      uuid,
    held_until   timestamptz,
    PRIMARY KEY (event_id, seat_id)
);
CREATE INDEX event_seats_status ON event_seats (event_id, status);
