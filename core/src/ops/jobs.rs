//! Listing and reading jobs: filters, cursor paging, every attempt.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

/// Where a job is, as operators see it. `ready` and `scheduled` split the
/// ledger's `queued` and `dispatched` by whether the job is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    /// Due, waiting for a worker.
    Ready,
    /// Waiting for its time (a delayed job).
    Scheduled,
    /// A worker is on it.
    Running,
    /// Failed; the next attempt is scheduled.
    Retrying,
    /// Failed for good.
    Dead,
    /// Done.
    Succeeded,
    /// Stopped by an operator before it ran.
    Cancelled,
}

impl JobState {
    /// Every state.
    pub const ALL: [JobState; 7] = [
        Self::Ready,
        Self::Scheduled,
        Self::Running,
        Self::Retrying,
        Self::Dead,
        Self::Succeeded,
        Self::Cancelled,
    ];

    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ready => "ready",
            Self::Scheduled => "scheduled",
            Self::Running => "running",
            Self::Retrying => "retrying",
            Self::Dead => "dead",
            Self::Succeeded => "succeeded",
            Self::Cancelled => "cancelled",
        }
    }

    /// Parses a wire name.
    pub fn parse(value: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == value)
    }

    /// How the ledger says it: one status, a run, or for the two waiting
    /// states (`queued` or `dispatched`) whether the job is not yet due.
    fn ledger(self) -> Ledger {
        match self {
            Self::Ready => Ledger::Waiting { scheduled: false },
            Self::Scheduled => Ledger::Waiting { scheduled: true },
            Self::Running => Ledger::Running,
            other => Ledger::Status(other.as_str()),
        }
    }
}

/// A [`JobState`] in ledger terms.
enum Ledger {
    Status(&'static str),
    /// Has a run (`job_runs`).
    Running,
    Waiting {
        scheduled: bool,
    },
}

/// Which jobs: every condition given must hold.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct JobFilter {
    /// Queue name.
    pub queue: Option<String>,
    /// Job kind.
    pub kind: Option<String>,
    /// State.
    pub state: Option<JobState>,
    /// One job.
    pub id: Option<Uuid>,
    /// A substring of the last error (case-insensitive).
    pub error: Option<String>,
    /// Created at or after.
    pub created_from: Option<DateTime<Utc>>,
    /// Created before.
    pub created_to: Option<DateTime<Utc>>,
    /// The request that caused the job.
    pub request_id: Option<String>,
}

impl JobFilter {
    /// Whether no condition is set (a bulk action refuses that: it would
    /// touch every job).
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Where a page ends: the last job on the page, in the order pages are
/// read (newest first by id: ids are UUIDv7, so they sort by creation).
/// Opaque to callers. The token is `<creation time in µs>.<id>`, as in the
/// release before, so that release's replicas read it during a rolling
/// deploy (and this one reads theirs; either pages on in its own order).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    /// `jobs.created_at` of the last job on the page.
    pub created_at: DateTime<Utc>,
    /// Its id.
    pub id: Uuid,
}

impl Cursor {
    /// The token handed to callers.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!(
            "{}.{}",
            self.created_at.timestamp_micros(),
            self.id
        ))
    }

    /// Reads a token; `None` for anything that is not one.
    pub fn decode(token: &str) -> Option<Self> {
        let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
        let text = String::from_utf8(bytes).ok()?;
        let (micros, id) = text.split_once('.')?;
        let created_at = DateTime::from_timestamp_micros(micros.parse().ok()?)?;
        // Beyond what PostgreSQL's timestamptz holds is no cursor of ours.
        if !(1970..=9999).contains(&chrono::Datelike::year(&created_at)) {
            return None;
        }
        Some(Self {
            created_at,
            id: id.parse().ok()?,
        })
    }
}

/// The lowest UUIDv7 of `at`'s millisecond.
fn id_floor(at: DateTime<Utc>) -> Uuid {
    let millis = u128::try_from(at.timestamp_millis()).unwrap_or(0) & 0xFFFF_FFFF_FFFF;
    Uuid::from_u128(millis << 80)
}

/// How far a job's id time may be from its `created_at` (the start of the
/// enqueuing transaction, by the database's clock; the id is made in that
/// transaction, by the enqueuing process's clock). The creation-time filters
/// bound the ids by it, so the primary key serves them. Rows with a
/// name-based id (tickets emails of releases before 20261205000001) fall
/// outside every time range until retention deletes them.
const ID_CLOCK_SLACK: chrono::Duration = chrono::Duration::minutes(5);

/// A job in a list.
#[derive(Debug, Clone, Serialize)]
pub struct JobSummary {
    /// Ledger id.
    pub id: Uuid,
    /// Queue.
    pub queue: String,
    /// Kind.
    pub kind: String,
    /// State (see [`JobState`]).
    pub state: String,
    /// Attempts started.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Error of the latest failed attempt.
    pub last_error: Option<String>,
    /// Request that caused it.
    pub request_id: Option<String>,
    /// Worker of the latest attempt.
    pub worker: Option<String>,
    /// Enqueued at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Not before (delayed jobs, retries).
    pub run_at: Option<DateTime<Utc>>,
    /// Succeeded, died or was cancelled at.
    pub finished_at: Option<DateTime<Utc>>,
}

/// Escapes `%`, `_` and `\` so a substring matches literally in ILIKE.
fn contains_pattern(substring: &str) -> String {
    let mut pattern = String::with_capacity(substring.len() + 2);
    pattern.push('%');
    for c in substring.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    pattern
}

/// One page of jobs matching `filter`, newest first, after `after`; and the
/// cursor of the next page when there may be one.
pub async fn list(
    pool: &PgPool,
    filter: &JobFilter,
    after: Option<Cursor>,
    limit: i64,
) -> Result<(Vec<JobSummary>, Option<Cursor>), sqlx::Error> {
    // One status is an equality and a waiting state a literal `IN`, so a
    // queue's page is an ordered walk of `jobs_queue_status_idx` or the
    // partial `jobs_waiting_idx`; `status = ANY($n)` would sort every match.
    // A running job keeps its waiting status and has a run (`job_runs`):
    // listing them joins from those few rows.
    let (status, waiting, scheduled, running) = match filter.state.map(JobState::ledger) {
        None => (None, None, None, None),
        Some(Ledger::Running) => (None, None, None, Some(true)),
        Some(Ledger::Status(status)) => (Some(status), None, None, None),
        Some(Ledger::Waiting { scheduled }) => (None, Some(true), Some(scheduled), None),
    };
    let mut tx = pool.begin().await?;
    // Each absent condition is `$n IS NULL OR ...`; a plan made for the
    // values at hand drops those and picks the index that fits.
    sqlx::query!("SET LOCAL plan_cache_mode = force_custom_plan")
        .execute(&mut *tx)
        .await?;
    let rows = sqlx::query_as!(
        JobSummary,
        r#"SELECT id, jobs.queue, kind,
                CASE WHEN r.job_id IS NOT NULL THEN 'running'
                     WHEN status IN ('queued', 'dispatched')
                     THEN CASE WHEN run_at > now() THEN 'scheduled' ELSE 'ready' END
                     ELSE status END AS "state!",
                COALESCE(r.attempt, attempts) AS "attempts!", max_attempts, last_error,
                request_id, COALESCE(r.worker, jobs.worker) AS worker,
                created_at, updated_at, run_at, finished_at
         FROM jobs
         -- Only an unfinished job's run counts (a finished one could keep a
         -- stale duplicate's).
         LEFT JOIN job_runs r
                ON r.job_id = jobs.id AND jobs.status NOT IN ('succeeded', 'dead', 'cancelled')
         WHERE ($1::text IS NULL OR jobs.queue = $1)
           AND ($2::text IS NULL OR kind = $2)
           AND ($3::text IS NULL OR (status = $3 AND r.job_id IS NULL))
           AND ($13::bool IS NULL
                OR (jobs.id = ANY(ARRAY(SELECT job_id FROM job_runs))
                    AND r.job_id IS NOT NULL))
           AND ($12::bool IS NULL OR (status IN ('queued', 'dispatched') AND r.job_id IS NULL))
           AND ($4::bool IS NULL OR (run_at IS NOT NULL AND run_at > now()) = $4)
           AND ($5::uuid IS NULL OR id = $5)
           AND ($6::text IS NULL OR last_error ILIKE $6)
           AND ($7::timestamptz IS NULL OR created_at >= $7)
           AND ($8::timestamptz IS NULL OR created_at < $8)
           AND ($9::text IS NULL OR request_id = $9)
           AND ($10::uuid IS NULL OR id < $10)
           AND ($14::uuid IS NULL OR id >= $14)
           AND ($15::uuid IS NULL OR id < $15)
         ORDER BY id DESC
         LIMIT $11"#,
        filter.queue,
        filter.kind,
        status,
        scheduled,
        filter.id,
        filter.error.as_deref().map(contains_pattern),
        filter.created_from,
        filter.created_to,
        filter.request_id,
        after.map(|c| c.id),
        limit,
        waiting,
        running,
        filter.created_from.map(|at| id_floor(at - ID_CLOCK_SLACK)),
        // The next millisecond's floor: `id_floor` drops the sub-millisecond.
        filter
            .created_to
            .map(|at| id_floor(at + ID_CLOCK_SLACK + chrono::Duration::milliseconds(1))),
    )
    .fetch_all(&mut *tx)
    .await?;
    tx.commit().await?;
    let next = (rows.len() as i64 == limit)
        .then(|| rows.last())
        .flatten()
        .map(|last| Cursor {
            created_at: last.created_at,
            id: last.id,
        });
    Ok((rows, next))
}

/// One attempt of a job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Attempt {
    /// 1-based.
    pub attempt: i32,
    /// The worker process that ran it.
    pub worker: Option<String>,
    /// Started at.
    pub started_at: Option<DateTime<Utc>>,
    /// Ended at (`None` while running, or when its worker vanished).
    pub finished_at: Option<DateTime<Utc>>,
    /// `succeeded`, `retrying` (failed, retried), `dead`, `lost` (its worker
    /// vanished) or `running`.
    pub outcome: String,
    /// The failure.
    pub error: Option<String>,
}

/// A job with its payload and every attempt.
#[derive(Debug, Clone, Serialize)]
pub struct JobDetail {
    /// What lists show.
    pub summary: JobSummary,
    /// The payload (ids only, by convention).
    pub payload: serde_json::Value,
    /// Times pushed to Redis.
    pub dispatches: i32,
    /// Oldest first; a running attempt last.
    pub attempts: Vec<Attempt>,
}

/// One job in full; `None` if there is no such job.
pub async fn detail(pool: &PgPool, id: Uuid) -> Result<Option<JobDetail>, sqlx::Error> {
    let Some(record) = crate::jobs::find(pool, id).await? else {
        return Ok(None);
    };
    let mut attempts: Vec<Attempt> =
        serde_json::from_value(record.attempt_log.clone()).unwrap_or_default();
    // The attempt running now, or the one that succeeded, is not in the
    // log: the row's own columns are that attempt. (Rows that succeeded
    // under an older release logged it already; a log entry with the same
    // number but another outcome, such as a `lost` one, is another attempt.)
    let current = match record.status {
        crate::jobs::JobStatus::Running => Some("running"),
        crate::jobs::JobStatus::Succeeded => Some("succeeded"),
        _ => None,
    };
    if let Some(outcome) = current
        && !attempts
            .last()
            .is_some_and(|a| a.attempt == record.attempts && a.outcome == outcome)
    {
        attempts.push(Attempt {
            attempt: record.attempts,
            worker: record.worker.clone(),
            started_at: record.started_at,
            finished_at: record.finished_at.filter(|_| outcome == "succeeded"),
            outcome: outcome.to_owned(),
            error: None,
        });
    }
    let state = match record.status.as_str() {
        "queued" | "dispatched" if record.run_at.is_some_and(|at| at > Utc::now()) => "scheduled",
        "queued" | "dispatched" => "ready",
        other => other,
    };
    Ok(Some(JobDetail {
        summary: JobSummary {
            id: record.id,
            queue: record.queue,
            kind: record.kind,
            state: state.to_owned(),
            attempts: record.attempts,
            max_attempts: record.max_attempts,
            last_error: record.last_error,
            request_id: record.request_id,
            worker: record.worker,
            created_at: record.created_at,
            updated_at: record.updated_at,
            run_at: record.run_at,
            finished_at: record.finished_at,
        },
        payload: record.payload,
        dispatches: record.dispatches,
        attempts,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_junk_is_refused() {
        let cursor = Cursor {
            created_at: DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap(),
            id: Uuid::now_v7(),
        };
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
        let far_past =
            URL_SAFE_NO_PAD.encode("-300000000000000000.00000000-0000-0000-0000-000000000000");
        for junk in [
            "",
            "abc",
            "!!!",
            &URL_SAFE_NO_PAD.encode("12.not-a-uuid"),
            &URL_SAFE_NO_PAD.encode(cursor.id.to_string()),
            &far_past,
        ] {
            assert_eq!(Cursor::decode(junk), None, "{junk}");
        }
    }

    #[test]
    fn the_id_bound_of_a_time_is_its_millisecond() {
        let at = DateTime::from_timestamp_micros(1_764_000_000_123_456).unwrap();
        let floor = id_floor(at);
        let v7 = |nanos| {
            Uuid::new_v7(uuid::Timestamp::from_unix(
                uuid::NoContext,
                1_764_000_000,
                nanos,
            ))
        };
        assert!(v7(122_999_000) < floor, "the millisecond before is below");
        assert!(floor <= v7(123_000_000) && floor <= v7(123_999_000));
        assert!(v7(123_999_000) < id_floor(at + chrono::Duration::milliseconds(1)));
    }

    #[test]
    fn error_substrings_match_literally() {
        assert_eq!(contains_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
