//! Coalesces many small ledger writes into one statement. No timer: the
//! loop takes whatever is waiting the moment it is free, so a lone job pays
//! one round trip and a busy worker pays one round trip per batch.

use std::future::Future;
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

type Reply<Resp> = oneshot::Sender<Result<Resp, Arc<anyhow::Error>>>;

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

impl<Req: Send + 'static, Resp: Send + 'static> Batcher<Req, Resp> {
    /// Spawns the loop. `exec` gets up to `max_batch` requests and returns
    /// one response per request, in order.
    pub fn spawn<F>(max_batch: usize, exec: F) -> Self
    where
        F: Fn(Vec<Req>) -> BoxFuture<'static, anyhow::Result<Vec<Resp>>> + Send + Sync + 'static,
    {
        let (tx, mut rx) = mpsc::channel::<(Req, Reply<Resp>)>(max_batch * 4);
        tokio::spawn(async move {
            let mut pending = Vec::with_capacity(max_batch);
            while rx.recv_many(&mut pending, max_batch).await > 0 {
                let (requests, replies): (Vec<Req>, Vec<Reply<Resp>>) = pending.drain(..).unzip();
                match exec(requests).await {
                    Ok(responses) => {
                        for (reply, response) in replies.into_iter().zip(responses) {
                            let _ = reply.send(Ok(response));
                        }
                    }
                    Err(error) => {
                        let error = Arc::new(error);
                        for reply in replies {
                            let _ = reply.send(Err(error.clone()));
                        }
                    }
                }
            }
        });
        Self { tx }
    }

    /// Submits one request and waits for its batch to be written.
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
            let result = response
                .await
                .map_err(|_| anyhow::anyhow!("ledger writer stopped"))?;
            result.map_err(|e| anyhow::anyhow!("ledger write failed: {e:#}"))
        }
    }
}
