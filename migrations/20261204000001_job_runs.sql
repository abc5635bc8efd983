-- Attempts in flight get their own narrow table. A claim used to rewrite
-- the ledger row (status 'running', attempts, worker, started_at), and
-- since `status` is in most of the ledger's indexes that rewrite added an
-- entry to seven of them: a third of the job path's PostgreSQL time for a
-- state that lasts milliseconds. Now a claim locks the ledger row and
-- inserts one row here (one index); the outcome deletes it and writes the
-- attempt into the ledger with the outcome, in one rewrite.
--
-- A job is running exactly while it has a row here (its ledger row keeps
-- the status it had before: queued, dispatched or retrying). `jobs.attempts`
-- counts the attempts recorded in the ledger; a run's `attempt` is the one
-- under way. Rows written as 'running' by an older release are still read
-- as running, so a rolling deploy can run both.
--
-- No foreign key: the check would cost every claim a lookup the claim's
-- own lock already did, and only unfinished jobs have runs, which retention
-- never deletes.
CREATE TABLE job_runs (
    job_id            uuid        PRIMARY KEY,
    queue             text        NOT NULL,
    attempt           integer     NOT NULL CHECK (attempt >= 1),
    worker            text        NOT NULL,
    started_at        timestamptz NOT NULL,
    -- Set when this claim replaced one whose worker vanished (or an older
    -- release's 'running' row): the attempt that was lost, for the log.
    lost_attempt      integer,
    lost_worker       text,
    lost_started_at   timestamptz
);

-- Rows an older release marks 'running' are left as they are: every reader
-- and writer of this release reads them as running (a claim logs them as
-- lost), and an older worker can still give back or finish its own claims.
-- Older API and scheduler replicas do not know runs, so during a rolling
-- deploy upgrade them before the workers (README, "Upgrading").
