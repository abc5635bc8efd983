-- What each ledger statement of the job path costs PostgreSQL per job:
-- execution time and WAL bytes, without the network, the worker or Redis.
-- 200 batches of 100 jobs: the enqueue's INSERT, then the claim and the
-- outcome (succeeded) as core/src/jobs/claim.rs and ledger.rs write them
-- at this commit (copied here as SQL functions; keep them in step).
--
-- Run against a scratch database holding exactly migrations/:
--   createdb -h 127.0.0.1 -U postgres ledger_costs
--   for f in migrations/*.sql; do psql -h 127.0.0.1 -U postgres -d ledger_costs -qf $f; done
--   psql -h 127.0.0.1 -U postgres -d ledger_costs -f benches/ledger/statement_costs.sql
-- It empties `jobs`, `queue_minutes` and `queue_days` of that database.
-- To price an index, drop it and run again (docs/BENCHMARKS.md, fifth slice).
\set QUIET on
CREATE OR REPLACE FUNCTION ledger_claim(ids uuid[]) RETURNS SETOF uuid LANGUAGE sql AS $f$
WITH claimed AS (
            UPDATE jobs SET status = 'running', attempts = attempts + 1, worker = 'w1',
                started_at = now(), updated_at = now(),
                dispatched_at = COALESCE(jobs.dispatched_at, now()),
                dispatches = GREATEST(jobs.dispatches, 1),
                attempt_log = CASE WHEN jobs.status = 'running'
                    THEN jobs.attempt_log || jsonb_build_array(jsonb_build_object(
                        'attempt', jobs.attempts, 'worker', jobs.worker,
                        'started_at', jobs.started_at, 'finished_at', NULL,
                        'outcome', 'lost', 'error', 'its worker stopped before the attempt ended'))
                    ELSE jobs.attempt_log END
            FROM (SELECT id, status = 'running' AS was_running,
                         status = 'retrying' AS was_retrying
                  FROM jobs WHERE id = ANY(ids) ORDER BY id FOR UPDATE) AS locked
            WHERE jobs.id = locked.id AND jobs.status NOT IN ('succeeded', 'dead', 'cancelled')
            RETURNING jobs.id, queue, kind, payload, attempts, max_attempts, request_id,
                      started_at, locked.was_running AS lost, locked.was_retrying
         ), lost AS (
            SELECT queue, count(*) AS n FROM claimed WHERE lost IS TRUE GROUP BY queue
         ), minutes AS (
            INSERT INTO queue_minutes AS m (queue, minute, slot, processed, failed)
            SELECT queue, date_trunc('minute', now()), 1, n, n FROM lost
            ON CONFLICT (queue, minute, slot) DO UPDATE
               SET processed = m.processed + excluded.processed, failed = m.failed + excluded.failed
         ), days AS (
            INSERT INTO queue_days AS d (queue, day, slot, processed, failed)
            SELECT queue, (now() AT TIME ZONE 'UTC')::date, 1, n, n FROM lost
            ON CONFLICT (queue, day, slot) DO UPDATE
               SET processed = d.processed + excluded.processed, failed = d.failed + excluded.failed
         )
         SELECT id FROM claimed
$f$;
CREATE OR REPLACE FUNCTION ledger_finish(ids uuid[]) RETURNS void LANGUAGE sql AS $f$
WITH recorded AS (
            UPDATE jobs AS j SET
                status = v.status,
                last_error = COALESCE(left(v.error, 2000), j.last_error),
                run_at = v.retry_at,
                dispatched_at = CASE WHEN v.status = 'retrying' THEN NULL ELSE j.dispatched_at END,
                finished_at = CASE WHEN v.status IN ('succeeded', 'dead') THEN now() END,
                updated_at = now(),
                attempt_log = CASE WHEN v.status = 'succeeded' THEN j.attempt_log
                    ELSE j.attempt_log || jsonb_build_array(jsonb_build_object(
                        'attempt', j.attempts, 'worker', j.worker, 'started_at', j.started_at,
                        'finished_at', now(), 'outcome', v.status, 'error', left(v.error, 2000)))
                    END
            FROM UNNEST(ids, array_fill('succeeded'::text, ARRAY[cardinality(ids)]), array_fill(NULL::text, ARRAY[cardinality(ids)]), array_fill(NULL::timestamptz, ARRAY[cardinality(ids)]))
                 AS v(id, status, error, retry_at),
                 (SELECT id FROM jobs WHERE id = ANY(ids) ORDER BY id FOR UPDATE) AS locked
            WHERE j.id = v.id AND j.id = locked.id
              AND j.status NOT IN ('succeeded', 'dead', 'cancelled')
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
SET ledger_costs.design = 'shipped';
TRUNCATE jobs; TRUNCATE queue_minutes; TRUNCATE queue_days;
\ir drive.sql
