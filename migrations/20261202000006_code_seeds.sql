-- One-time codes and OTPs are derived from a random per-row seed, so every
-- attempt of the job that emails a code sends the same code (a crash after
-- the send can no longer leave a mailbox holding a code that never works).
-- The default covers rows written before this migration and by older
-- replicas during a rolling deploy; new rows get 32 bytes drawn by the API.
ALTER TABLE one_time_codes ADD COLUMN seed bytea NOT NULL DEFAULT uuid_send(gen_random_uuid());
ALTER TABLE otps ADD COLUMN seed bytea NOT NULL DEFAULT uuid_send(gen_random_uuid());
