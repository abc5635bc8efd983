-- The ledger pages by id, and the old dedupe constraint goes. Each index
-- entry costs a job about 2 µs of PostgreSQL on each write that adds one
-- (its insert and its outcome), and index entries were most of what a no-op
-- job cost PostgreSQL (docs/BENCHMARKS.md, eleventh slice).
--
-- Job ids are UUIDv7, so their order is the order jobs were created in: the
-- primary key already walks the ledger newest first, and the separate
-- `(created_at, id)` index only repeated it: the listing's creation-time
-- filters bound the ids as well (core/src/ops/jobs.rs). The listing
-- indexes are keyed by id instead, which makes their entries 8 bytes
-- narrower. (Rows an older
-- release wrote for a tickets email have a name-based id, and sort by it.)
--
-- The UNIQUE constraint on `dedupe_key` indexed the NULL of every row.
-- Migration 20261203000001 added the partial index that only keyed rows
-- enter, and every enqueue since names its predicate. The release before
-- this one already did, so a rolling deploy from it runs no binary that
-- needs the constraint (upgrade one release at a time; README, Upgrading).
ALTER TABLE jobs DROP CONSTRAINT jobs_dedupe_key_key;

DROP INDEX jobs_created_idx;

DROP INDEX jobs_queue_status_idx;
CREATE INDEX jobs_queue_status_idx ON jobs (queue, status, id DESC);

DROP INDEX jobs_kind_idx;
CREATE INDEX jobs_kind_idx ON jobs (kind, id DESC);

DROP INDEX jobs_waiting_idx;
CREATE INDEX jobs_waiting_idx ON jobs (queue, id DESC)
    WHERE status IN ('queued', 'dispatched');
