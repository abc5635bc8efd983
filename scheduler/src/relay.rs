//! The outbox relay loop.

use std::time::Duration;

use marquee_core::Settings;
use marquee_core::jobs::{LossWatch, Producer, Relayed, relay_once, repush_lost, repush_stale};
use sqlx::PgPool;
use tokio::sync::watch;

/// Rows pushed per pass at most; a backlog drains over consecutive passes.
const RELAY_BATCH: i64 = 1_000;

/// Batches of lost jobs pushed again per pass at most, so the other work of
/// a pass still runs during the walk of a huge backlog.
const LOST_BATCHES_PER_PASS: usize = 50;

/// `marquee_relay_jobs_total{kind}`: jobs pushed, `undispatched` (the
/// producer had not), `lost` (Redis lost its data) or `stale` (Redis may
/// have lost them).
fn relayed(kind: &'static str, jobs: usize) {
    metrics::counter!("marquee_relay_jobs_total", "kind" => kind).increment(jobs as u64);
}

/// `marquee_relay_errors_total{kind}`: passes that failed.
fn failed(kind: &'static str) {
    metrics::counter!("marquee_relay_errors_total", "kind" => kind).increment(1);
}

/// Relays undispatched outbox rows, and re-pushes jobs Redis may have lost,
/// every `relay_interval_ms` until stopped. Errors (PostgreSQL or Redis
/// down) are logged and retried next pass.
pub async fn run(
    pool: PgPool,
    producer: Producer,
    settings: Settings,
    mut stopped: watch::Receiver<bool>,
) {
    let jobs = &settings.jobs;
    let grace = Duration::from_millis(jobs.relay_grace_ms);
    let stale_after = Duration::from_secs(jobs.redispatch_after_seconds);
    // A running row's worker is gone once it has been running for longer
    // than its claim may wait for a permit plus the job timeout.
    let running_after = stale_after
        + marquee_core::jobs::LONGEST_PERMIT_WAIT
        + Duration::from_secs(settings.worker.job_timeout_seconds);
    let mut every = tokio::time::interval(Duration::from_millis(jobs.relay_interval_ms));
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut watch = LossWatch::new();
    let mut noticed = false;
    // When Redis was found empty and the id to go on from, until every job
    // it held is pushed again.
    let mut lost = None;
    loop {
        tokio::select! {
            _ = every.tick() => {}
            _ = stopped.changed() => return,
        }
        // A second loss while the first is being mended starts over.
        if let Some(at) = noticed_loss(&pool, &producer, &settings, &mut watch, &mut noticed).await
        {
            lost = Some((at, None));
        }
        // Queues found unreachable this pass (on a cluster, their master
        // is down): skipped for the rest of it, so the others go on.
        let mut unreachable = Vec::new();
        // The walk goes on over passes, a bounded stretch per pass.
        for _ in 0..LOST_BATCHES_PER_PASS {
            let Some((at, after)) = lost else { break };
            match repush_lost(&pool, &producer, at, after, RELAY_BATCH, &unreachable).await {
                Ok((step, next)) => {
                    relayed("lost", step.pushed);
                    skip_unreachable("lost", step, &mut unreachable);
                    lost = next.map(|next| (at, Some(next)));
                }
                Err(error) => {
                    failed("lost");
                    tracing::warn!(
                        error = format!("{error:#}"),
                        "pushing lost jobs again failed"
                    );
                    break;
                }
            }
        }
        loop {
            match relay_once(&pool, &producer, grace, RELAY_BATCH, &unreachable).await {
                Ok(step) => {
                    relayed("undispatched", step.pushed);
                    let more = step.taken as i64 == RELAY_BATCH || !step.unreachable.is_empty();
                    skip_unreachable("undispatched", step, &mut unreachable);
                    if !more {
                        break;
                    }
                }
                Err(error) => {
                    failed("undispatched");
                    tracing::warn!(error = format!("{error:#}"), "relay pass failed");
                    break;
                }
            }
        }
        match repush_stale(
            &pool,
            &producer,
            stale_after,
            running_after,
            RELAY_BATCH,
            &unreachable,
        )
        .await
        {
            Ok(step) => {
                relayed("stale", step.pushed);
                skip_unreachable("stale", step, &mut unreachable);
            }
            Err(error) => {
                failed("stale");
                tracing::warn!(error = format!("{error:#}"), "re-push pass failed");
            }
        }
    }
}

/// Counts and logs the queues a relay step could not push to, and adds
/// them to the pass's `unreachable` list.
fn skip_unreachable(kind: &'static str, step: Relayed, unreachable: &mut Vec<String>) {
    for (queue, error) in step.unreachable {
        failed(kind);
        tracing::warn!(
            queue,
            error = format!("{error:#}"),
            "cannot push to this queue; the others go on"
        );
        unreachable.push(queue);
    }
}

/// PostgreSQL's clock now, once this pass or an earlier one (`noticed`)
/// found Redis had lost its data. A failed check (Redis or PostgreSQL away)
/// is tried again next pass.
async fn noticed_loss(
    pool: &PgPool,
    producer: &Producer,
    settings: &Settings,
    watch: &mut LossWatch,
    noticed: &mut bool,
) -> Option<chrono::DateTime<chrono::Utc>> {
    match watch
        .lost(&producer.redis(), &settings.redis.key_prefix)
        .await
    {
        Ok(lost) => *noticed |= lost,
        Err(error) => tracing::warn!(%error, "Redis loss check failed for some queue"),
    }
    if !*noticed {
        return None;
    }
    match marquee_core::db::now(pool).await {
        Ok(at) => {
            *noticed = false;
            tracing::warn!(
                "Redis lost its data (or this is its first use): pushing every waiting job again"
            );
            Some(at)
        }
        Err(error) => {
            tracing::warn!(%error, "Redis lost its data; PostgreSQL did not answer");
            None
        }
    }
}
