-- A refund the provider refused for good: an operator looks, and the refund
-- sweep (which re-drives pending refunds whose job died) leaves it alone.
ALTER TABLE refunds DROP CONSTRAINT refunds_status_check;
ALTER TABLE refunds ADD CONSTRAINT refunds_status_check
    CHECK (status IN ('pending', 'refunded', 'refused'));

-- The fake provider's outage switch (development and tests): it fails the
-- next `remaining` calls of `operation` as "unavailable", deterministically.
CREATE TABLE fake_provider_outages (
    operation  text     PRIMARY KEY CHECK (operation IN ('refund')),
    remaining  integer  NOT NULL CHECK (remaining >= 0)
);

-- The refund sweep asks, per pending refund and per cancelled event, whether
-- a job for it is still alive.
CREATE INDEX jobs_process_refund ON jobs ((payload->>'refund_id'))
    WHERE kind = 'process_refund';
CREATE INDEX jobs_cancel_event_bookings ON jobs ((payload->>'event_id'))
    WHERE kind = 'cancel_event_bookings';
