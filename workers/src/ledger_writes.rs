//! A worker process's ledger writers: claims, claims given back, and
//! outcomes, each coalesced across every job the process holds (see
//! [`Batcher`]).

use std::collections::HashSet;
use std::future::Future;

use futures::FutureExt;
use marquee_core::jobs::{self, Claimed, Finish, Recorded, Release};
use sqlx::PgPool;
use uuid::Uuid;

use crate::batch::{Batcher, WriteRetry};

/// Most ledger rows written by one statement.
const LEDGER_BATCH: usize = 512;

/// What a claim made of one delivery.
#[derive(Debug, Clone)]
pub(crate) enum Claim {
    /// Run it.
    Run(Claimed),
    /// Finished, unknown, or a second delivery within one batch: skip it.
    Skip,
    /// A live worker runs it (a duplicate delivery): have it delivered
    /// again later.
    Busy,
}

/// The three writers of a worker process.
pub(crate) struct LedgerWrites {
    /// Claims by job id.
    pub claims: Batcher<Uuid, Claim>,
    /// Claims given back before their handler started.
    pub releases: Batcher<Release, ()>,
    /// Outcomes of attempts; `false` for one not recorded because its run
    /// is no longer the job's (see [`jobs::finish_batch`]).
    pub finishes: Batcher<Finish, bool>,
}

impl LedgerWrites {
    /// Starts the writers; call inside a tokio runtime. `worker` names this
    /// process in the rows it claims; `slot` is its history counter slot.
    pub fn spawn(pool: &PgPool, worker: &str, slot: i16, retry: WriteRetry) -> Self {
        // Exported from the start (at 0), so dashboards and alerts find
        // the series before the first retry.
        for write in ["claim", "release", "finish"] {
            metrics::counter!("marquee_ledger_write_retries_total", "write" => write).increment(0);
        }
        let (claim_pool, claimer) = (pool.clone(), worker.to_owned());
        let claims = Batcher::spawn("claim", LEDGER_BATCH, retry, move |ids: Vec<Uuid>| {
            let (pool, worker) = (claim_pool.clone(), claimer.clone());
            async move {
                let jobs::Claims { mut claimed, busy } =
                    jobs::claim_batch(&pool, &ids, &worker, slot).await?;
                // One reply per request; a duplicate delivery in the same
                // batch is skipped.
                Ok(ids
                    .iter()
                    .map(|id| {
                        if let Some(at) = claimed.iter().position(|c| c.id == *id) {
                            Claim::Run(claimed.swap_remove(at))
                        } else if busy.contains(id) {
                            Claim::Busy
                        } else {
                            Claim::Skip
                        }
                    })
                    .collect())
            }
            .boxed()
        });
        let (release_pool, releaser) = (pool.clone(), worker.to_owned());
        let releases = spawn_write("release", retry, move |releases: Vec<Release>| {
            let (pool, worker) = (release_pool.clone(), releaser.clone());
            async move { jobs::release_batch(&pool, &releases, &worker).await }
        });
        let (finish_pool, finisher) = (pool.clone(), worker.to_owned());
        let finishes = Batcher::spawn(
            "finish",
            LEDGER_BATCH,
            retry,
            move |outcomes: Vec<Finish>| {
                let (pool, worker) = (finish_pool.clone(), finisher.clone());
                async move {
                    let recorded: HashSet<Recorded> =
                        jobs::finish_batch(&pool, &outcomes, &worker, slot)
                            .await?
                            .into_iter()
                            .collect();
                    Ok(outcomes
                        .iter()
                        .map(|f| {
                            recorded.contains(&Recorded {
                                id: f.id,
                                claimed_at: f.claimed_at,
                            })
                        })
                        .collect())
                }
                .boxed()
            },
        );
        Self {
            claims,
            releases,
            finishes,
        }
    }
}

/// A writer whose callers wait only for the write to be done.
fn spawn_write<Req, F, Fut>(name: &'static str, retry: WriteRetry, write: F) -> Batcher<Req, ()>
where
    Req: Clone + Send + 'static,
    F: Fn(Vec<Req>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), sqlx::Error>> + Send + 'static,
{
    Batcher::spawn(name, LEDGER_BATCH, retry, move |requests: Vec<Req>| {
        let replies = requests.len();
        let written = write(requests);
        async move {
            written.await?;
            Ok(vec![(); replies])
        }
        .boxed()
    })
}
