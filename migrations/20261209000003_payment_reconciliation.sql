-- A payment left `pending` by a crash between the charge and the booking's
-- commit is settled against the provider by the refund sweep: a charge that
-- went through with no booking is refunded (`refunded`, with the refund's
-- reference), one that never happened is `failed` (issue 18).
ALTER TABLE payments DROP CONSTRAINT payments_status_check;
ALTER TABLE payments ADD CONSTRAINT payments_status_check
    CHECK (status IN ('pending', 'paid', 'declined', 'failed', 'refunded'));
ALTER TABLE payments ADD COLUMN refund_ref text;
ALTER TABLE payments ADD COLUMN reconciled_at timestamptz;
CREATE INDEX payments_pending ON payments (updated_at) WHERE status = 'pending';
