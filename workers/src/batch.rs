//! Coalesces many small ledger writes into one statement. No timer: the
//! loop takes whatever is waiting the moment it is free, so a lone job pays
//! one round trip and a busy worker pays one round trip per batch.
//!
//! A failed write is retried here, with capped exponential backoff, until it
//! succeeds. It is never handed back to apalis: apalis-redis gives a task 25
//! tries over about five minutes and then parks it dead with its data kept,
//! which stranded jobs whenever PostgreSQL was away for longer than that.
//! While a batch retries, later requests wait in the channel (backpressure).

use std::future::Future;
use std::time::Duration;

use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

type Reply<Resp> = oneshot::Sender<Resp>;

/// Backoff between tries of a failed ledger write.
#[derive(Debug, Clone, Copy)]
pub struct WriteRetry {
    /// Delay after the first failure; doubled after each next one.
    pub first: Duration,
    /// Longest delay.
    pub max: Duration,
}

impl WriteRetry {
    /// Delay after the `failures`-th failure in a row (1-based).
    fn delay(&self, failures: u32) -> Duration {
        self.first
            .checked_mul(2u32.saturating_pow(failures.saturating_sub(1).min(31)))
            .unwrap_or(self.max)
            .min(self.max)
    }
}

/// A handle to a batching loop; clone it freely.
pub struct Batcher<Req, Resp> {
    tx: mpsc::Sender<(Req, Reply<Resp>)>,
}

impl<Req, Resp> Clone for Batcher<Req, Resp> {
    fn clone(&self) -> Self {
        Self {
            tx: self.tx.clone(),
        }
    }
}

impl<Req: Clone + Send + 'static, Resp: Send + 'static> Batcher<Req, Resp> {
    /// Spawns the loop. `exec` gets up to `max_batch` requests and returns
    /// one response per request, in order; a failed batch is tried again
    /// after `retry`'s backoff, for as long as the process lives. `write`
    /// names the write in logs and in `marquee_ledger_write_retries_total`.
    pub fn spawn<F>(write: &'static str, max_batch: usize, retry: WriteRetry, exec: F) -> Self
    where
        F: Fn(Vec<Req>) -> BoxFuture<'static, anyhow::Result<Vec<Resp>>> + Send + Sync + 'static,
    {
        let (tx, mut rx) = mpsc::channel::<(Req, Reply<Resp>)>(max_batch * 4);
        tokio::spawn(async move {
            let mut pending = Vec::with_capacity(max_batch);
            while rx.recv_many(&mut pending, max_batch).await > 0 {
                let (requests, replies): (Vec<Req>, Vec<Reply<Resp>>) = pending.drain(..).unzip();
                let mut failures = 0u32;
                let responses = loop {
                    match exec(requests.clone()).await {
                        Ok(responses) => break responses,
                        Err(error) => {
                            failures += 1;
                            let delay = retry.delay(failures);
                            metrics::counter!("marquee_ledger_write_retries_total", "write" => write)
                                .increment(1);
                            tracing::warn!(
                                write,
                                jobs = requests.len(),
                                failures,
                                retry_in_ms = delay.as_millis() as u64,
                                error = format!("{error:#}"),
                                "ledger write failed; retrying"
                            );
                            tokio::time::sleep(delay).await;
                        }
                    }
                };
                if failures > 0 {
                    tracing::info!(write, failures, "ledger write succeeded after retries");
                }
                for (reply, response) in replies.into_iter().zip(responses) {
                    let _ = reply.send(response);
                }
            }
        });
        Self { tx }
    }

    /// Submits one request and waits for its batch to be written. Errors
    /// only if the loop is gone (the runtime is shutting down).
    pub fn call(
        &self,
        request: Req,
    ) -> impl Future<Output = anyhow::Result<Resp>> + Send + 'static {
        let tx = self.tx.clone();
        async move {
            let (reply, response) = oneshot::channel();
            tx.send((request, reply))
                .await
                .map_err(|_| anyhow::anyhow!("ledger writer stopped"))?;
            response
                .await
                .map_err(|_| anyhow::anyhow!("ledger writer stopped"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_and_is_capped() {
        let retry = WriteRetry {
            first: Duration::from_millis(50),
            max: Duration::from_secs(5),
        };
        assert_eq!(retry.delay(1), Duration::from_millis(50));
        assert_eq!(retry.delay(2), Duration::from_millis(100));
        assert_eq!(retry.delay(7), Duration::from_millis(3200));
        assert_eq!(retry.delay(8), Duration::from_secs(5));
        assert_eq!(retry.delay(1000), Duration::from_secs(5));
    }
}
