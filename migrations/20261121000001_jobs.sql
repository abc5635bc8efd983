-- The job ledger doubles as the outbox: a row is written in the caller's
-- transaction (status 'queued'), pushed to Redis after commit ('dispatched'),
-- and then driven by workers through running -> succeeded | retrying | dead.
CREATE TABLE jobs (
    id              uuid PRIMARY KEY,
    queue           text        NOT NULL,
    kind            text        NOT NULL,
    payload         jsonb       NOT NULL,
    status          text        NOT NULL DEFAULT 'queued'
                    CHECK (status IN ('queued', 'dispatched', 'running', 'succeeded', 'retrying', 'dead')),
    attempts        integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    max_attempts    integer     NOT NULL DEFAULT 5 CHECK (max_attempts BETWEEN 1 AND 100),
    last_error      text,
    request_id      text,
    -- Set for jobs that must exist at most once, e.g. one per cron tick.
    dedupe_key      text UNIQUE,
    -- How many times the job was pushed to Redis: 1 on the happy path.
    dispatches      integer     NOT NULL DEFAULT 0,
    worker          text,
    run_at          timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    dispatched_at   timestamptz,
    started_at      timestamptz,
    finished_at     timestamptz,
    -- When the finished job's task data was deleted from Redis.
    pruned_at       timestamptz
);

-- The relay's scan: rows still waiting for a push to Redis.
CREATE INDEX jobs_undispatched_idx ON jobs (updated_at)
    WHERE dispatched_at IS NULL AND status IN ('queued', 'retrying');
-- Operators list jobs by queue and status (dead jobs first of all).
CREATE INDEX jobs_queue_status_idx ON jobs (queue, status, created_at DESC);
-- Jobs in flight, which the relay re-pushes if Redis lost them.
CREATE INDEX jobs_in_flight_idx ON jobs (dispatched_at)
    WHERE status IN ('dispatched', 'running', 'retrying');
-- Finished jobs whose Redis data is still to be deleted.
CREATE INDEX jobs_unpruned_idx ON jobs (finished_at)
    WHERE pruned_at IS NULL AND status IN ('succeeded', 'dead');
