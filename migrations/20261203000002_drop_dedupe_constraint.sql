-- The later migration promised by 20261203000001_job_path.sql: the release
-- before this one already names the predicate in its `ON CONFLICT`, so it
-- infers the partial index `jobs_dedupe_key_idx`, which keeps keys unique.
-- The full constraint only added an entry for the NULL key of every row
-- version: one index insert fewer per ledger write from here on (three per
-- job: enqueue, claim, outcome).
ALTER TABLE jobs DROP CONSTRAINT jobs_dedupe_key_key;
