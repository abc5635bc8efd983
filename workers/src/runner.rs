//! Runs one delivered job: claim it in the ledger, run its handler, record
//! the outcome and, on a retryable failure, schedule the next attempt with
//! our own backoff.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::Utc;
use futures::FutureExt;
use marquee_core::Settings;
use marquee_core::jobs::{
    self, Claimed, Finish, JobError, JobRef, JobStatus, Producer, Push, REQUEST_ID, Release,
    RetryPolicy,
};
use sqlx::PgPool;
use tokio::sync::SemaphorePermit;
use tracing::Instrument;
use uuid::Uuid;

use crate::batch::WriteRetry;
use crate::email::Mailer;
use crate::ledger_writes::{Claim, LedgerWrites};
use crate::permits::Permits;
use crate::presence::InFlight;
use crate::registry::{JobContext, Registry};

/// Shared by every job of a worker process.
pub struct Runner {
    registry: Registry,
    ledger: LedgerWrites,
    pool: PgPool,
    producer: Producer,
    policy: RetryPolicy,
    job_timeout: Duration,
    settings: Arc<Settings>,
    mailer: Mailer,
    records: PgPool,
    payments: Arc<dyn marquee_core::booking::payments::PaymentProvider>,
    in_flight: Arc<InFlight>,
    live: marquee_core::live::Publisher,
    /// Deliveries inside [`Runner::run`] now: claiming, waiting for a
    /// permit, giving a claim back, running or writing an outcome.
    held: Arc<std::sync::atomic::AtomicI64>,
}

/// Counts one delivery in [`Runner::held`] until dropped.
struct Holding(Arc<std::sync::atomic::AtomicI64>);

impl Holding {
    fn new(held: &Arc<std::sync::atomic::AtomicI64>) -> Self {
        held.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        Self(held.clone())
    }
}

impl Drop for Holding {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}

/// History counter slots (see `queue_minutes`); each process picks one.
const HISTORY_SLOTS: i16 = 16;

impl Runner {
    /// Starts the ledger writers; call inside a tokio runtime.
    pub fn new(
        pool: PgPool,
        producer: Producer,
        registry: Registry,
        settings: &Settings,
        worker_name: &str,
        in_flight: Arc<InFlight>,
    ) -> anyhow::Result<Arc<Self>> {
        let mailer = Mailer::from_settings(&settings.email)?;
        let payments: Arc<dyn marquee_core::booking::payments::PaymentProvider> =
            match settings.payments.provider {
                marquee_core::config::PaymentProviderKind::Fake => {
                    Arc::new(marquee_core::booking::payments::FakeProvider::new(
                        marquee_core::db::connect_lazy(&settings.database, 4)?,
                    ))
                }
            };
        // One per send permit and two spare: an email holding a permit never
        // waits for a connection that a job waiting for a permit holds.
        let permits = settings
            .email
            .smtp
            .max_connections
            .max(settings.email.resend.max_in_flight);
        let records = marquee_core::db::connect_lazy(&settings.database, permits + 2)?;
        let retry = WriteRetry {
            first: Duration::from_millis(settings.worker.ledger_retry_first_ms),
            max: Duration::from_millis(settings.worker.ledger_retry_max_ms),
        };
        let slot = rand::random_range(0..HISTORY_SLOTS);
        let ledger = LedgerWrites::spawn(&pool, worker_name, slot, retry);
        let live = marquee_core::live::Publisher::new(
            pool.clone(),
            marquee_core::redis::connect(&settings.redis)?,
            &settings.redis.key_prefix,
        );
        Ok(Arc::new(Self {
            live,
            registry,
            ledger,
            pool,
            producer,
            policy: RetryPolicy::from_settings(&settings.jobs),
            job_timeout: Duration::from_secs(settings.worker.job_timeout_seconds),
            settings: Arc::new(settings.clone()),
            mailer,
            records,
            payments,
            in_flight,
            held: Arc::default(),
        }))
    }

    /// Deliveries this process is still handling (see [`Self::run`]): zero
    /// once every job it was handed has run, or given its claim back, and
    /// recorded that. What is left for apalis then is acknowledging.
    pub fn held(&self) -> i64 {
        self.held.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Runs one delivery of a job. Ledger writes that fail are retried
    /// inside the batchers until they succeed, so apalis (whose own retries
    /// end in a dead set that strands the job) never sees them. An `Err`
    /// means the job is not this worker's to run: `ended` came before its
    /// handler started, or a claimed job got no permit within
    /// [`jobs::LONGEST_PERMIT_WAIT`] (either way its claim, if any, is given
    /// back and apalis-redis delivers the task again), or the ledger writers
    /// are gone (the runtime is shutting down). A job still retrying its
    /// outcome when the process stops is orphaned and re-run elsewhere:
    /// safe, because the claim skips finished jobs.
    ///
    /// While `permits` allows (quick handlers, see [`Permits`]), the job is
    /// claimed first, then waits for a handler permit for at most
    /// [`jobs::LONGEST_PERMIT_WAIT`]; otherwise it takes its permit first.
    /// Either way it gives the permit back as soon as its
    /// handler returns, so the outcome write waits outside it. Claiming
    /// ahead of the permit lets the claims of all the jobs apalis holds
    /// (`worker.pipeline`) share a few large batches while the handlers
    /// run; a claim inside the permit kept each handler waiting a batch
    /// round trip (no-op jobs at concurrency 50: 4.4-5.5k/s, against
    /// 8.1-8.2k/s claiming ahead).
    pub async fn run(
        &self,
        job: JobRef,
        permits: &Permits,
        ended: impl Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let _holding = Holding::new(&self.held);
        tokio::pin!(ended);
        if (&mut ended).now_or_never().is_some() {
            anyhow::bail!("the worker stopped before this job was claimed; handed back unclaimed");
        }
        let (place, ahead) = permits.join();
        let started = if ahead {
            self.claim_then_permit(job.id, permits, ended.as_mut())
                .await?
        } else {
            self.permit_then_claim(job.id, permits, ended.as_mut())
                .await?
        };
        let Some((claimed, permit)) = started else {
            return Ok(());
        };
        drop(place);
        let span = tracing::info_span!(
            "job",
            job.id = %claimed.id,
            job.kind = %claimed.kind,
            job.attempt = claimed.attempts,
            request_id = claimed.request_id.as_deref().unwrap_or(""),
        );
        let request_id = claimed.request_id.clone().unwrap_or_default();
        let queue = claimed.queue.clone();
        self.in_flight.started(&queue);
        let result = REQUEST_ID
            .scope(
                request_id,
                self.attempt(claimed, permit, permits).instrument(span),
            )
            .await;
        self.in_flight.ended(&queue);
        result
    }

    /// Claims a delivered job; `None` for one already finished or unknown
    /// (a duplicate delivery), which is skipped.
    /// A job a live worker runs is an error, so apalis delivers it again
    /// later: by then it is finished (and skipped) or its worker is gone.
    async fn claim(&self, id: Uuid) -> anyhow::Result<Option<Claimed>> {
        match self.ledger.claims.call(id).await? {
            Claim::Run(claimed) => Ok(Some(claimed)),
            Claim::Skip => {
                tracing::debug!(job.id = %id, "job already finished or unknown; duplicate delivery skipped");
                Ok(None)
            }
            Claim::Busy => {
                anyhow::bail!("another live worker runs this job; delivered again later")
            }
        }
    }

    /// Claims the job, then waits for a permit for at most
    /// [`jobs::LONGEST_PERMIT_WAIT`]. `None`: a duplicate delivery, skipped.
    async fn claim_then_permit<'p>(
        &self,
        id: Uuid,
        permits: &'p Permits,
        mut ended: Pin<&mut impl Future<Output = ()>>,
    ) -> anyhow::Result<Option<(Claimed, SemaphorePermit<'p>)>> {
        let Some(claimed) = self.claim(id).await? else {
            return Ok(None);
        };
        let waited = tokio::time::timeout(jobs::LONGEST_PERMIT_WAIT, async {
            tokio::select! {
                biased;
                () = &mut ended => None,
                permit = permits.semaphore.acquire() => Some(permit),
            }
        })
        .await;
        match waited {
            Ok(Some(permit)) => Ok(Some((claimed, permit?))),
            // The run ended (pause, stop, failure), or the handlers were
            // slower than the bound expected.
            Ok(None) | Err(_) => Err(self.give_back(&claimed).await),
        }
    }

    /// Takes a permit, then claims the job. `None`: a duplicate delivery,
    /// skipped.
    async fn permit_then_claim<'p>(
        &self,
        id: Uuid,
        permits: &'p Permits,
        mut ended: Pin<&mut impl Future<Output = ()>>,
    ) -> anyhow::Result<Option<(Claimed, SemaphorePermit<'p>)>> {
        let permit = tokio::select! {
            biased;
            () = &mut ended => {
                anyhow::bail!("the worker stopped before this job got a handler; handed back unclaimed");
            }
            permit = permits.semaphore.acquire() => permit?,
        };
        let Some(claimed) = self.claim(id).await? else {
            return Ok(None);
        };
        // The claim may have taken long (the ledger writer retries while
        // PostgreSQL is away): a run that ended meanwhile starts nothing.
        if ended.now_or_never().is_some() {
            return Err(self.give_back(&claimed).await);
        }
        Ok(Some((claimed, permit)))
    }

    /// Gives back the claim of a job that will not start here. The error
    /// tells apalis so, and apalis-redis delivers the task again.
    async fn give_back(&self, claimed: &Claimed) -> anyhow::Error {
        if let Err(error) = self.ledger.releases.call(Release::from(claimed)).await {
            return error;
        }
        tracing::debug!(job.id = %claimed.id, "claim given back before the job started");
        anyhow::anyhow!("this job did not start here; its claim was given back")
    }

    async fn attempt(
        &self,
        claimed: Claimed,
        permit: SemaphorePermit<'_>,
        permits: &Permits,
    ) -> anyhow::Result<()> {
        let started = Instant::now();
        let result = if claimed.attempts > claimed.max_attempts {
            Err(JobError::Permanent(format!(
                "attempt {} exceeds max_attempts {}: earlier attempts were lost with their worker",
                claimed.attempts, claimed.max_attempts
            )))
        } else {
            let result = self.execute(&claimed).await;
            permits.ran(started.elapsed());
            result
        };
        let elapsed = started.elapsed();
        drop(permit);
        let finish = self.outcome(&claimed, result);
        let outcome = finish.status.as_str();
        metrics::counter!("marquee_jobs_total", "queue" => claimed.queue.clone(), "outcome" => outcome)
            .increment(1);
        metrics::histogram!("marquee_job_duration_seconds", "queue" => claimed.queue.clone())
            .record(elapsed.as_secs_f64());
        match &finish.status {
            JobStatus::Succeeded => {
                tracing::debug!(elapsed_ms = elapsed.as_millis() as u64, "job succeeded")
            }
            JobStatus::Retrying => {
                tracing::warn!(error = finish.error.as_deref(), retry_at = ?finish.retry_at, "job failed; will retry")
            }
            _ => tracing::error!(error = finish.error.as_deref(), "job is dead"),
        }
        let retry = finish.retry_at.map(|run_at| Push {
            job_id: claimed.id,
            task_id: jobs::task_id_for_attempt(claimed.id, claimed.attempts + 1),
            queue: claimed.queue.clone(),
            run_at: Some(run_at),
        });
        if !self.ledger.finishes.call(finish).await? {
            // The run is no longer this attempt's: another claim took the job
            // over while it stalled (and logged it as lost), or the job was
            // finished meanwhile.
            tracing::warn!("outcome not recorded: the job's run is no longer this attempt's");
            return Ok(());
        }
        // Pushed only after the ledger says "retrying", so the next attempt
        // can never be claimed before this one is recorded. If Redis is
        // down, the relay pushes it later.
        if let Some(push) = retry
            && let Err(error) = self.producer.push_and_mark(&[push]).await
        {
            tracing::warn!(%error, "could not push the retry; the relay will");
        }
        Ok(())
    }

    async fn execute(&self, claimed: &Claimed) -> Result<(), JobError> {
        let Some(handler) = self.registry.get(&claimed.kind) else {
            return Err(JobError::Permanent(format!(
                "no handler for job kind `{}`",
                claimed.kind
            )));
        };
        let ctx = JobContext {
            job_id: claimed.id,
            attempt: claimed.attempts,
            max_attempts: claimed.max_attempts,
            pool: self.pool.clone(),
            records: self.records.clone(),
            payments: self.payments.clone(),
            producer: self.producer.clone(),
            settings: self.settings.clone(),
            mailer: self.mailer.clone(),
            live: self.live.clone(),
        };
        let run = AssertUnwindSafe(handler(claimed.payload.clone(), ctx)).catch_unwind();
        match tokio::time::timeout(self.job_timeout, run).await {
            Ok(Ok(result)) => result,
            Ok(Err(_panic)) => Err(JobError::Retryable("handler panicked".to_owned())),
            Err(_) => Err(JobError::Retryable(format!(
                "timed out after {:?}",
                self.job_timeout
            ))),
        }
    }

    fn outcome(&self, claimed: &Claimed, result: Result<(), JobError>) -> Finish {
        let (status, error, retry_at) = match result {
            Ok(()) => (JobStatus::Succeeded, None, None),
            Err(error) if error.is_retryable() && claimed.attempts < claimed.max_attempts => {
                let delay = self.policy.backoff(claimed.attempts);
                let retry_at = Utc::now() + chrono::Duration::from_std(delay).unwrap_or_default();
                (JobStatus::Retrying, Some(error.to_string()), Some(retry_at))
            }
            Err(error) => (JobStatus::Dead, Some(error.to_string()), None),
        };
        Finish {
            id: claimed.id,
            status,
            error,
            retry_at,
            attempt: claimed.attempts,
            claimed_at: claimed.claimed_at,
        }
    }
}
