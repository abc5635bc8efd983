-- Cancellation policies, refunds and the fake provider's refund books.

CREATE TABLE cancellation_policies (
    event_id                     uuid        PRIMARY KEY REFERENCES events (id) ON DELETE CASCADE,
    allow                        boolean     NOT NULL,
    deadline_hours_before_start  integer     NOT NULL CHECK (deadline_hours_before_start >= 0),
    -- [{hours_before_start, refund_percent}], any order.
    refund_tiers                 jsonb       NOT NULL,
    fee_type                     text        NOT NULL CHECK (fee_type IN ('none', 'fixed', 'percent')),
    fee_amount                   integer     NOT NULL CHECK (fee_amount >= 0),
    updated_at                   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE refunds (
    id            uuid        PRIMARY KEY,
    -- One refund per booking, however many cancels race.
    booking_id    uuid        NOT NULL UNIQUE REFERENCES bookings (id),
    amount_cents  integer     NOT NULL CHECK (amount_cents >= 0),
    currency      text        NOT NULL,
    status        text        NOT NULL CHECK (status IN ('pending', 'refunded')),
    provider_ref  text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    refunded_at   timestamptz
);
CREATE INDEX refunds_pending ON refunds (created_at) WHERE status = 'pending';

CREATE TABLE fake_provider_refunds (
    idempotency_key  text        PRIMARY KEY,
    id               text        NOT NULL UNIQUE,
    charge_id        text        NOT NULL,
    amount_cents     integer     NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);
