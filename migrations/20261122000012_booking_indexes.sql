-- Checkout, release, expiry and cancel find a hold's seats by hold_id while
-- holding locks; without an index each scanned every event's seats.
CREATE INDEX event_seats_hold ON event_seats (hold_id) WHERE hold_id IS NOT NULL;
-- Bookings join their payment.
CREATE INDEX payments_booking ON payments (booking_id);
