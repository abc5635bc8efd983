//! A tokio SMTP sink for the email bench. It accepts every message and
//! only counts it, so the bench measures Marquee's pipeline and not the
//! sink (aiosmtpd, the tests' real SMTP server, parses and writes each
//! message in Python). `sink_alone` shows what it takes by itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use lettre::message::Mailbox;
use lettre::transport::smtp::PoolConfig;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A running sink on a loopback port; stops when dropped.
pub struct Sink {
    pub port: u16,
    received: Arc<AtomicUsize>,
    accept: JoinHandle<()>,
}

impl Sink {
    pub async fn start() -> anyhow::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let received = Arc::new(AtomicUsize::new(0));
        let counter = received.clone();
        let accept = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(session(stream, counter.clone()));
            }
        });
        Ok(Self {
            port,
            received,
            accept,
        })
    }

    /// Messages accepted so far.
    pub fn received(&self) -> usize {
        self.received.load(Ordering::Relaxed)
    }

    /// Waits until `expected` messages arrived.
    pub async fn wait_for(&self, expected: usize, timeout: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + timeout;
        while self.received() < expected {
            anyhow::ensure!(
                Instant::now() < deadline,
                "the sink received {}/{expected} after {timeout:?}",
                self.received()
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }
}

impl Drop for Sink {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// One SMTP session: enough of RFC 5321 for lettre (EHLO, MAIL, RCPT, DATA,
/// RSET, NOOP, QUIT), every command accepted.
async fn session(stream: TcpStream, received: Arc<AtomicUsize>) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    writer.write_all(b"220 sink ESMTP\r\n").await?;
    let mut line = Vec::with_capacity(1024);
    loop {
        line.clear();
        if reader.read_until(b'\n', &mut line).await? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).map(|v| v.to_ascii_uppercase());
        match verb.as_deref() {
            Some(b"EHLO") => writer.write_all(b"250-sink\r\n250 8BITMIME\r\n").await?,
            Some(b"DATA") => {
                writer.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                loop {
                    line.clear();
                    if reader.read_until(b'\n', &mut line).await? == 0 {
                        return Ok(());
                    }
                    if line == b".\r\n" {
                        break;
                    }
                }
                received.fetch_add(1, Ordering::Relaxed);
                writer.write_all(b"250 2.0.0 queued\r\n").await?;
            }
            Some(b"QUIT") => {
                writer.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => writer.write_all(b"250 OK\r\n").await?,
        }
    }
}

/// Messages per second the sink takes from lettre alone (`connections`
/// pooled connections, 50 senders): the ceiling it puts on the pipeline.
pub async fn sink_alone(messages: usize, connections: u32) -> anyhow::Result<f64> {
    let sink = Sink::start().await?;
    let mailer: AsyncSmtpTransport<Tokio1Executor> =
        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
            .port(sink.port)
            .pool_config(PoolConfig::new().max_size(connections))
            .build();
    let from: Mailbox = "Marquee <bench@marquee.local>".parse()?;
    let started = Instant::now();
    let senders: Vec<_> = (0..50)
        .map(|s| {
            let (mailer, from) = (mailer.clone(), from.clone());
            let mine = messages / 50 + usize::from(s < messages % 50);
            tokio::spawn(async move {
                for n in 0..mine {
                    let message = Message::builder()
                        .from(from.clone())
                        .to(format!("fan{s}-{n}@example.com").parse()?)
                        .subject("Your tickets")
                        .body("Row A, seat 12. Doors open at 7.".to_owned())?;
                    mailer.send(message).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for sender in senders {
        sender.await??;
    }
    sink.wait_for(messages, Duration::from_secs(60)).await?;
    Ok(messages as f64 / started.elapsed().as_secs_f64())
}
