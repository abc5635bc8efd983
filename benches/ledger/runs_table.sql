-- Prices a design, not the shipped code: in-flight attempts kept in a
-- narrow table of their own (`job_runs`, one index) instead of in `jobs`,
-- so a claim no longer rewrites the ledger row and its ~17 index entries.
-- Compare with statement_costs.sql (the shipped claim and outcome), run
-- against the same scratch database in the same sitting:
--   psql -h 127.0.0.1 -U postgres -d ledger_costs -f benches/ledger/statement_costs.sql
--   psql -h 127.0.0.1 -U postgres -d ledger_costs -f benches/ledger/runs_table.sql
-- It empties `jobs`, `queue_minutes` and `queue_days` and creates `job_runs`
-- in that database (docs/BENCHMARKS.md, seventh slice).
--
-- The claim locks its jobs rows FOR KEY SHARE, in id order, so a cancel
-- (which takes them FOR UPDATE) cannot slip between the status check and
-- the run's insert; a second claim of a job in flight (a lost attempt)
-- conflicts on `job_runs`'s key. The outcome deletes the run and writes
-- the attempt into the ledger row, as the shipped outcome does, plus the
-- columns the claim no longer writes.
\set QUIET on
CREATE TABLE IF NOT EXISTS job_runs (
    job_id     uuid PRIMARY KEY,
    queue      text NOT NULL,
    worker     text NOT NULL,
    attempt    integer NOT NULL,
    started_at timestamptz NOT NULL
);
CREATE OR REPLACE FUNCTION ledger_claim(ids uuid[]) RETURNS SETOF uuid LANGUAGE sql AS $f$
WITH locked AS (
            SELECT id, queue, kind, payload, attempts, max_attempts, request_id,
                   status = 'retrying' AS was_retrying
            FROM jobs WHERE id = ANY(ids) AND status NOT IN ('succeeded', 'dead', 'cancelled')
            ORDER BY id FOR KEY SHARE
         ), runs AS (
            INSERT INTO job_runs AS r (job_id, queue, worker, attempt, started_at)
            SELECT id, queue, 'w1', attempts + 1, now() FROM locked
            ON CONFLICT (job_id) DO UPDATE
               SET worker = excluded.worker, attempt = r.attempt + 1, started_at = excluded.started_at
            RETURNING job_id, attempt, started_at, xmax <> 0 AS lost
         )
         SELECT locked.id FROM locked JOIN runs ON runs.job_id = locked.id
$f$;
CREATE OR REPLACE FUNCTION ledger_finish(ids uuid[]) RETURNS void LANGUAGE sql AS $f$
WITH locked AS MATERIALIZED (
            SELECT id FROM jobs WHERE id = ANY(ids) AND status NOT IN ('succeeded', 'dead', 'cancelled')
            ORDER BY id FOR UPDATE
         ), ended AS (
            DELETE FROM job_runs USING locked WHERE job_runs.job_id = locked.id
            RETURNING job_id, worker, attempt, started_at
         ), recorded AS (
            UPDATE jobs AS j SET
                status = v.status,
                attempts = ended.attempt, worker = ended.worker, started_at = ended.started_at,
                dispatched_at = COALESCE(j.dispatched_at, ended.started_at),
                dispatches = GREATEST(j.dispatches, 1),
                last_error = COALESCE(left(v.error, 2000), j.last_error),
                run_at = v.retry_at,
                finished_at = CASE WHEN v.status IN ('succeeded', 'dead') THEN now() END,
                updated_at = now()
            FROM ended JOIN UNNEST(ids, array_fill('succeeded'::text, ARRAY[cardinality(ids)]), array_fill(NULL::text, ARRAY[cardinality(ids)]), array_fill(NULL::timestamptz, ARRAY[cardinality(ids)]))
                 AS v(id, status, error, retry_at) ON v.id = ended.job_id
            WHERE j.id = ended.job_id
            RETURNING j.queue, v.status
         ), per_queue AS (
            SELECT queue, count(*) AS processed,
                   count(*) FILTER (WHERE status <> 'succeeded') AS failed
            FROM recorded GROUP BY queue
         ), minutes AS (
            INSERT INTO queue_minutes AS m (queue, minute, slot, processed, failed)
            SELECT queue, date_trunc('minute', now()), 1, processed, failed FROM per_queue
            ON CONFLICT (queue, minute, slot) DO UPDATE
               SET processed = m.processed + excluded.processed, failed = m.failed + excluded.failed
         )
         INSERT INTO queue_days AS d (queue, day, slot, processed, failed)
         SELECT queue, (now() AT TIME ZONE 'UTC')::date, 1, processed, failed FROM per_queue
         ON CONFLICT (queue, day, slot) DO UPDATE
            SET processed = d.processed + excluded.processed, failed = d.failed + excluded.failed
$f$;
SET ledger_costs.design = 'runs table';
TRUNCATE jobs; TRUNCATE job_runs; TRUNCATE queue_minutes; TRUNCATE queue_days;
\ir drive.sql
DO $$
BEGIN
  IF (SELECT count(*) FROM jobs WHERE status = 'succeeded' AND attempts = 1) <> 200 * 100
     OR EXISTS (SELECT 1 FROM job_runs) THEN
    RAISE EXCEPTION 'the design did not finish every job exactly once';
  END IF;
END $$;
