-- Operations: what operators need to see and steer the job system, kept
-- cheap to read at millions of ledger rows and bounded in size.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Every finished attempt of a job, appended by the statement that records
-- the outcome (an attempt still running is the row's worker/started_at).
-- At most max_attempts entries, each error cut to 2,000 characters.
ALTER TABLE jobs ADD COLUMN attempt_log jsonb NOT NULL DEFAULT '[]';

-- Operators page through the ledger newest first, by (created_at, id).
DROP INDEX jobs_queue_status_idx;
CREATE INDEX jobs_queue_status_idx ON jobs (queue, status, created_at DESC, id DESC);
CREATE INDEX jobs_created_idx ON jobs (created_at DESC, id DESC);
CREATE INDEX jobs_kind_idx ON jobs (kind, created_at DESC, id DESC);
CREATE INDEX jobs_request_idx ON jobs (request_id) WHERE request_id IS NOT NULL;
-- Only failed attempts leave an error, so this index stays small.
CREATE INDEX jobs_error_trgm_idx ON jobs USING gin (last_error gin_trgm_ops)
    WHERE last_error IS NOT NULL;
-- Per-queue counts by state read only the jobs not yet succeeded, which
-- retention keeps to the backlog plus at most dead_max_rows dead ones.
CREATE INDEX jobs_open_idx ON jobs (queue, status, run_at)
    WHERE status NOT IN ('succeeded', 'cancelled');
-- Queue latency (the oldest job waiting to run, per queue), and listing a
-- queue's ready or scheduled jobs page by page in order.
CREATE INDEX jobs_waiting_idx ON jobs (queue, created_at DESC, id DESC)
    WHERE status IN ('queued', 'dispatched');
-- Retention deletes rows whose Redis data is gone, oldest prune first.
CREATE INDEX jobs_pruned_idx ON jobs (status, pruned_at) WHERE pruned_at IS NOT NULL;
CREATE INDEX jobs_dead_idx ON jobs (finished_at) WHERE status = 'dead';

-- A paused queue is paused for every worker process, now and after any
-- restart: workers poll this table.
CREATE TABLE queue_pauses (
    queue      text PRIMARY KEY,
    paused_at  timestamptz NOT NULL DEFAULT now(),
    paused_by  uuid REFERENCES users (id) ON DELETE SET NULL
);

-- Worker processes, written by themselves: one row per process, a
-- heartbeat every worker.heartbeat_seconds. A row whose expires_at passed
-- without a heartbeat is a worker that is gone (killed, or lost its host).
CREATE TABLE workers (
    name          text PRIMARY KEY,
    host          text        NOT NULL,
    pid           integer     NOT NULL,
    version       text        NOT NULL,
    queues        text[]      NOT NULL,
    concurrency   integer     NOT NULL,
    started_at    timestamptz NOT NULL DEFAULT now(),
    heartbeat_at  timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL,
    in_flight     integer     NOT NULL DEFAULT 0,
    -- Set by a clean shutdown.
    stopped_at    timestamptz
);
CREATE INDEX workers_expires_idx ON workers (expires_at);

-- Attempts finished per queue and minute (kept 48 h) and per day (90 days),
-- added to by the same statement that records the outcomes, so the figures
-- are exact with any number of workers and never need the ledger counted.
-- Each worker process adds to its own slot (0-15), so workers finishing
-- jobs at the same moment do not queue on one counter row; readers sum.
CREATE TABLE queue_minutes (
    queue      text        NOT NULL,
    minute     timestamptz NOT NULL,
    slot       smallint    NOT NULL,
    processed  bigint      NOT NULL DEFAULT 0,
    failed     bigint      NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, minute, slot)
);
CREATE TABLE queue_days (
    queue      text     NOT NULL,
    day        date     NOT NULL,
    slot       smallint NOT NULL,
    processed  bigint   NOT NULL DEFAULT 0,
    failed     bigint   NOT NULL DEFAULT 0,
    PRIMARY KEY (queue, day, slot)
);

-- Who paused, resumed, retried, discarded or cancelled what.
CREATE TABLE ops_audit (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor_id    uuid        NOT NULL,
    -- The API key's name when a key acted, else NULL (a signed-in person).
    api_key     text,
    action      text        NOT NULL
                CHECK (action IN ('pause', 'resume', 'retry', 'discard', 'cancel')),
    queue       text,
    -- The job of a single action, or the ids / filter of a bulk one.
    job_id      uuid,
    target      jsonb       NOT NULL DEFAULT '{}',
    changed     integer     NOT NULL
);
CREATE INDEX ops_audit_at_idx ON ops_audit (at DESC, id DESC);

-- Cancelled is a final status: an operator stopped the job before it ran.
-- A dead job retried by hand gets one attempt more than it had, so
-- max_attempts loses its upper bound (the API still caps what callers ask).
ALTER TABLE jobs DROP CONSTRAINT jobs_max_attempts_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_max_attempts_check CHECK (max_attempts >= 1);
ALTER TABLE jobs DROP CONSTRAINT jobs_status_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_status_check
    CHECK (status IN ('queued', 'dispatched', 'running', 'succeeded', 'retrying', 'dead', 'cancelled'));

-- A task's status came from its job row by a join; retention now deletes
-- old job rows, so the job's final outcome is copied onto the task first
-- (these columns stay NULL while the job row exists).
ALTER TABLE tasks DROP CONSTRAINT tasks_id_fkey;
ALTER TABLE tasks
    ADD COLUMN status        text,
    ADD COLUMN attempts      integer,
    ADD COLUMN max_attempts  integer,
    ADD COLUMN last_error    text,
    ADD COLUMN updated_at    timestamptz,
    ADD COLUMN finished_at   timestamptz;

-- Cancelled jobs' Redis data is pruned like any finished job's. A job whose
-- task is still queued (a cancelled job not delivered yet) cannot be pruned
-- yet: prune_checked_at sends it to the back of the line until it can.
ALTER TABLE jobs ADD COLUMN prune_checked_at timestamptz;
DROP INDEX jobs_unpruned_idx;
CREATE INDEX jobs_unpruned_idx ON jobs ((COALESCE(prune_checked_at, finished_at)))
    WHERE pruned_at IS NULL AND status IN ('succeeded', 'dead', 'cancelled');
