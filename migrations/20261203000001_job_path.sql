-- The job path writes every ledger row several times, and each write that
-- changes an indexed column adds an entry to every index whose predicate
-- the new row version matches. Indexes that hold nothing useful for most
-- rows cost on every write.

-- Almost no job has a dedupe key, but a UNIQUE constraint indexes the NULLs
-- too: one wasted index entry per write. Only keyed rows are indexed now
-- (inserts name the predicate in ON CONFLICT).
ALTER TABLE jobs DROP CONSTRAINT jobs_dedupe_key_key;
CREATE UNIQUE INDEX jobs_dedupe_key_idx ON jobs (dedupe_key) WHERE dedupe_key IS NOT NULL;
