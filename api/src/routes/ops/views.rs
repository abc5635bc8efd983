//! Bodies of the operations endpoints.

use chrono::{DateTime, Utc};
use marquee_core::ops::{self, history::Point, jobs::Attempt, queues::Window};
use poem_openapi::Object;
use uuid::Uuid;

use super::filter::FilterBody;

/// Counts over rolling windows at minute resolution.
#[derive(Debug, Object)]
pub struct WindowView {
    /// The current and the previous minute.
    pub minute: i64,
    /// The last 60 minutes and the current one.
    pub hour: i64,
    /// The last 1,440 minutes and the current one.
    pub day: i64,
}

impl From<Window> for WindowView {
    fn from(w: Window) -> Self {
        Self {
            minute: w.minute,
            hour: w.hour,
            day: w.day,
        }
    }
}

/// A queue now.
#[derive(Debug, Object)]
pub struct QueueView {
    /// Queue name.
    pub name: String,
    /// Whether workers are held off it.
    pub paused: bool,
    /// Since when, if paused.
    #[oai(skip_serializing_if_is_none)]
    pub paused_at: Option<DateTime<Utc>>,
    /// Due, waiting for a worker.
    pub ready: i64,
    /// Waiting for their time (delayed jobs).
    pub scheduled: i64,
    /// On a worker now.
    pub running: i64,
    /// Failed; the next attempt is scheduled.
    pub retrying: i64,
    /// Failed for good.
    pub dead: i64,
    /// Age of the oldest ready job, in seconds (0 when none waits).
    pub latency_seconds: f64,
    /// Attempts finished.
    pub processed: WindowView,
    /// Of those, failed.
    pub failed: WindowView,
}

impl From<ops::QueueOverview> for QueueView {
    fn from(q: ops::QueueOverview) -> Self {
        Self {
            name: q.name,
            paused: q.paused,
            paused_at: q.paused_at,
            ready: q.ready,
            scheduled: q.scheduled,
            running: q.running,
            retrying: q.retrying,
            dead: q.dead,
            latency_seconds: q.latency_seconds,
            processed: q.processed.into(),
            failed: q.failed.into(),
        }
    }
}

/// Every configured queue.
#[derive(Debug, Object)]
pub struct QueueList {
    /// In configuration order.
    pub queues: Vec<QueueView>,
}

/// A job in a list.
#[derive(Debug, Object)]
pub struct JobView {
    /// Ledger id.
    pub id: Uuid,
    /// Queue.
    pub queue: String,
    /// Kind.
    pub kind: String,
    /// `ready`, `scheduled`, `running`, `retrying`, `dead`, `succeeded` or `cancelled`.
    pub state: String,
    /// Attempts started.
    pub attempts: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// Error of the latest failed attempt.
    #[oai(skip_serializing_if_is_none)]
    pub last_error: Option<String>,
    /// The request that caused it.
    #[oai(skip_serializing_if_is_none)]
    pub request_id: Option<String>,
    /// Worker of the latest attempt.
    #[oai(skip_serializing_if_is_none)]
    pub worker: Option<String>,
    /// Enqueued at.
    pub created_at: DateTime<Utc>,
    /// Last change.
    pub updated_at: DateTime<Utc>,
    /// Not before (delayed jobs and retries).
    #[oai(skip_serializing_if_is_none)]
    pub run_at: Option<DateTime<Utc>>,
    /// Succeeded, died or was cancelled at.
    #[oai(skip_serializing_if_is_none)]
    pub finished_at: Option<DateTime<Utc>>,
}

impl From<ops::JobSummary> for JobView {
    fn from(j: ops::JobSummary) -> Self {
        Self {
            id: j.id,
            queue: j.queue,
            kind: j.kind,
            state: j.state,
            attempts: j.attempts,
            max_attempts: j.max_attempts,
            last_error: j.last_error,
            request_id: j.request_id,
            worker: j.worker,
            created_at: j.created_at,
            updated_at: j.updated_at,
            run_at: j.run_at,
            finished_at: j.finished_at,
        }
    }
}

/// One page of jobs, newest first.
#[derive(Debug, Object)]
pub struct JobPage {
    /// The jobs.
    pub items: Vec<JobView>,
    /// Pass as `cursor` for the next page; absent on the last one.
    #[oai(skip_serializing_if_is_none)]
    pub next_cursor: Option<String>,
}

/// One attempt.
#[derive(Debug, Object)]
pub struct AttemptView {
    /// 1-based.
    pub attempt: i32,
    /// The worker process that ran it.
    #[oai(skip_serializing_if_is_none)]
    pub worker: Option<String>,
    /// Started at.
    #[oai(skip_serializing_if_is_none)]
    pub started_at: Option<DateTime<Utc>>,
    /// Ended at (absent while running, or when its worker vanished).
    #[oai(skip_serializing_if_is_none)]
    pub finished_at: Option<DateTime<Utc>>,
    /// `succeeded`, `retrying` (failed and retried), `dead`, `lost` (its
    /// worker vanished mid-attempt) or `running`.
    pub outcome: String,
    /// The failure.
    #[oai(skip_serializing_if_is_none)]
    pub error: Option<String>,
}

impl From<Attempt> for AttemptView {
    fn from(a: Attempt) -> Self {
        Self {
            attempt: a.attempt,
            worker: a.worker,
            started_at: a.started_at,
            finished_at: a.finished_at,
            outcome: a.outcome,
            error: a.error,
        }
    }
}

/// A job in full.
#[derive(Debug, Object)]
pub struct JobDetailView {
    /// What lists show.
    #[oai(flatten)]
    pub job: JobView,
    /// The payload (ids of the rows the job works on).
    pub payload: serde_json::Value,
    /// Times pushed to Redis.
    pub dispatches: i32,
    /// Every attempt, oldest first.
    pub attempts_log: Vec<AttemptView>,
}

impl From<ops::JobDetail> for JobDetailView {
    fn from(d: ops::JobDetail) -> Self {
        Self {
            job: d.summary.into(),
            payload: d.payload,
            dispatches: d.dispatches,
            attempts_log: d.attempts.into_iter().map(Into::into).collect(),
        }
    }
}

/// Which jobs a bulk action takes: `ids`, or a `filter` with at least one
/// condition (not both).
#[derive(Debug, Object)]
pub struct BulkBody {
    /// Up to 10,000 job ids.
    pub ids: Option<Vec<Uuid>>,
    /// The conditions of `GET /ops/jobs`.
    pub filter: Option<FilterBody>,
}

/// What a bulk action did.
#[derive(Debug, Object)]
pub struct BulkView {
    /// Jobs selected: the ids given, or the jobs the filter matched in a
    /// state the action takes.
    pub matched: i64,
    /// Of those, changed (the rest were in a state the action skips).
    pub changed: i64,
    /// The filter matched more than `jobs.bulk_action_max`; call again for
    /// the rest.
    pub truncated: bool,
}

/// A worker process.
#[derive(Debug, Object)]
pub struct WorkerView {
    /// Unique process name.
    pub name: String,
    /// Host.
    pub host: String,
    /// Process id.
    pub pid: i32,
    /// Marquee version.
    pub version: String,
    /// Queues it consumes.
    pub queues: Vec<String>,
    /// Jobs in flight per queue at most.
    pub concurrency: i32,
    /// Started at.
    pub started_at: DateTime<Utc>,
    /// Latest heartbeat.
    pub heartbeat_at: DateTime<Utc>,
    /// Jobs running at the latest heartbeat.
    pub in_flight: i32,
    /// `live`, or `gone` (stopped, or its heartbeat lapsed).
    pub status: String,
    /// When it stopped or went silent.
    #[oai(skip_serializing_if_is_none)]
    pub gone_at: Option<DateTime<Utc>>,
}

impl From<ops::WorkerRow> for WorkerView {
    fn from(w: ops::WorkerRow) -> Self {
        Self {
            name: w.name,
            host: w.host,
            pid: w.pid,
            version: w.version,
            queues: w.queues,
            concurrency: w.concurrency,
            started_at: w.started_at,
            heartbeat_at: w.heartbeat_at,
            in_flight: w.in_flight,
            status: if w.live { "live" } else { "gone" }.to_owned(),
            gone_at: w.gone_at,
        }
    }
}

/// Live workers, then those gone within the last hour.
#[derive(Debug, Object)]
pub struct WorkerList {
    /// The workers.
    pub items: Vec<WorkerView>,
}

/// One bucket of one queue.
#[derive(Debug, Object)]
pub struct PointView {
    /// Queue.
    pub queue: String,
    /// Start of the bucket.
    pub at: DateTime<Utc>,
    /// Attempts finished.
    pub processed: i64,
    /// Of those, failed.
    pub failed: i64,
}

impl From<Point> for PointView {
    fn from(p: Point) -> Self {
        Self {
            queue: p.queue,
            at: p.at,
            processed: p.processed,
            failed: p.failed,
        }
    }
}

/// Processed and failed over time.
#[derive(Debug, Object)]
pub struct HistoryView {
    /// `minute` or `day`.
    pub resolution: String,
    /// Every bucket of every queue asked for, oldest first per queue.
    pub points: Vec<PointView>,
}

/// One audited action.
#[derive(Debug, Object)]
pub struct AuditView {
    /// Increasing id.
    pub id: i64,
    /// When.
    pub at: DateTime<Utc>,
    /// Who (`users.id`).
    pub actor_id: Uuid,
    /// Through which API key, if one.
    #[oai(skip_serializing_if_is_none)]
    pub api_key: Option<String>,
    /// `pause`, `resume`, `retry`, `discard` or `cancel`.
    pub action: String,
    /// The queue, if one.
    #[oai(skip_serializing_if_is_none)]
    pub queue: Option<String>,
    /// The job of a single action.
    #[oai(skip_serializing_if_is_none)]
    pub job_id: Option<Uuid>,
    /// A bulk action's selection: `{"ids": n}` or `{"filter": {...}}`.
    pub target: serde_json::Value,
    /// How many it changed.
    pub changed: i32,
}

impl From<ops::AuditEntry> for AuditView {
    fn from(a: ops::AuditEntry) -> Self {
        Self {
            id: a.id,
            at: a.at,
            actor_id: a.actor_id,
            api_key: a.api_key,
            action: a.action,
            queue: a.queue,
            job_id: a.job_id,
            target: a.target,
            changed: a.changed,
        }
    }
}

/// Audited actions, newest first.
#[derive(Debug, Object)]
pub struct AuditPage {
    /// The entries.
    pub items: Vec<AuditView>,
    /// Pass as `before` for the next page; absent on the last one.
    #[oai(skip_serializing_if_is_none)]
    pub next_before: Option<i64>,
}
