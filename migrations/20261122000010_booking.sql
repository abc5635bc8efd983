-- Booking: holds on inventory, bookings paid through a payment provider.

CREATE TABLE holds (
    id           uuid        PRIMARY KEY,
    event_id     uuid        NOT NULL REFERENCES events (id),
    user_id      uuid        NOT NULL REFERENCES users (id),
    status       text        NOT NULL CHECK (status IN ('active', 'confirmed', 'released', 'expired')),
    total_cents  integer     NOT NULL CHECK (total_cents >= 0),
    currency     text        NOT NULL,
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
-- The sweep and the per-person limit look at active holds only.
CREATE INDEX holds_active ON holds (expires_at) WHERE status = 'active';
CREATE INDEX holds_person ON holds (user_id, event_id) WHERE status = 'active';

-- What a hold claims: one seat, or a quantity of a ticket type.
CREATE TABLE hold_items (
    hold_id         uuid    NOT NULL REFERENCES holds (id) ON DELETE CASCADE,
    seat_id         uuid,
    ticket_type_id  uuid    REFERENCES ticket_types (id),
    label           text    NOT NULL,
    quantity        integer NOT NULL CHECK (quantity > 0),
    price_cents     integer NOT NULL CHECK (price_cents >= 0),
    CHECK ((seat_id IS NULL) <> (ticket_type_id IS NULL))
);
CREATE INDEX hold_items_hold ON hold_items (hold_id);

CREATE TABLE bookings (
    id             uuid        PRIMARY KEY,
    -- Short and unambiguous (Crockford base32: no I, L, O, U).
    reference      text        NOT NULL UNIQUE,
    -- One booking per hold, however many clients confirm it at once.
    hold_id        uuid        NOT NULL UNIQUE REFERENCES holds (id),
    event_id       uuid        NOT NULL REFERENCES events (id),
    user_id        uuid        NOT NULL REFERENCES users (id),
    status         text        NOT NULL CHECK (status IN ('confirmed', 'cancelled')),
    total_cents    integer     NOT NULL,
    currency       text        NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    cancelled_at   timestamptz,
    cancel_reason  text
);
CREATE INDEX bookings_user ON bookings (user_id, created_at DESC);
CREATE INDEX bookings_event ON bookings (event_id);

-- Money taken. `pending` is written before the provider is called, so a
-- crash between the charge and the booking leaves a trace to reconcile.
CREATE TABLE payments (
    id            uuid        PRIMARY KEY,
    hold_id       uuid        NOT NULL UNIQUE REFERENCES holds (id),
    booking_id    uuid        REFERENCES bookings (id),
    provider      text        NOT NULL,
    provider_ref  text,
    amount_cents  integer     NOT NULL,
    currency      text        NOT NULL,
    status        text        NOT NULL CHECK (status IN ('pending', 'paid', 'declined', 'failed')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

-- The built-in `fake` provider's own books: one charge per idempotency key.
CREATE TABLE fake_provider_charges (
    idempotency_key  text        PRIMARY KEY,
    id               text        NOT NULL UNIQUE,
    token            text        NOT NULL,
    amount_cents     integer     NOT NULL,
    currency         text        NOT NULL,
    outcome          text        NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);

-- Replays of `Idempotency-Key` requests that succeeded: the same response.
CREATE TABLE idempotent_responses (
    user_id        uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    scope          text        NOT NULL,
    key            text        NOT NULL,
    request_hash   bytea       NOT NULL,
    status         integer,
    body           jsonb,
    created_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, scope, key)
);
