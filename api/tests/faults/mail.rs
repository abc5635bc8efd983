//! Mail through a real SMTP sink in fault tests: each worker process gets a
//! metrics port, so the repeats the sink saw can be checked against what
//! the workers counted (`marquee_emails_interrupted_total`).

use std::collections::HashSet;

use marquee_core::auth::{self, NewUser};
use marquee_core::jobs::WelcomeEmail;
use marquee_worker::testing::SmtpSink;
use uuid::Uuid;

use crate::stack::Stack;

pub struct Mail {
    pub sink: SmtpSink,
    metrics_ports: Vec<String>,
    port: String,
}

impl Mail {
    pub fn start() -> Self {
        let sink = SmtpSink::start();
        let port = sink.port.to_string();
        Self {
            sink,
            metrics_ports: Vec::new(),
            port,
        }
    }

    /// Settings every process of the stack takes: SMTP to the sink.
    pub fn env(&self) -> [(&str, &str); 2] {
        [
            ("MARQUEE__EMAIL__TRANSPORT", "smtp"),
            ("MARQUEE__EMAIL__SMTP__PORT", self.port.as_str()),
        ]
    }

    /// Adds a worker that serves its metrics on a port of its own.
    pub fn add_worker(&mut self, stack: &mut Stack, name: &str) {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port()
            .to_string();
        stack.add_worker_with(name, &[("MARQUEE__WORKER__METRICS_PORT", port.as_str())]);
        self.metrics_ports.push(port);
    }

    /// Enqueues `n` welcome emails (one user, one email per job).
    pub async fn enqueue(&self, stack: &mut Stack, n: usize) -> Vec<Uuid> {
        let new = NewUser::parse("ada@example.com", "Ada Lovelace", "correct horse").unwrap();
        let user_id = match auth::create_user(&stack.ctx.pool, &new, "not-a-real-hash")
            .await
            .unwrap()
        {
            Some(user) => user.id,
            None => {
                auth::find_by_email(&stack.ctx.pool, "ada@example.com")
                    .await
                    .unwrap()
                    .unwrap()
                    .id
            }
        };
        stack
            .enqueue_returning(&vec![WelcomeEmail { user_id }; n])
            .await
    }

    /// Checks that every email of `jobs` arrived at least once and that
    /// each repeat was counted by a worker still running (the dead ones'
    /// counters died with them, so pass `all_counted: false` after a kill
    /// that may have cut a repeat's count short). Returns (received,
    /// repeats, counted).
    pub async fn delivered_at_least_once(&self, jobs: &[Uuid]) -> (usize, usize, usize) {
        let ids: Vec<String> = self
            .sink
            .messages()
            .iter()
            .filter_map(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("Message-ID: <"))
                    .and_then(|l| l.split('@').next())
                    .map(str::to_owned)
            })
            .collect();
        let distinct: HashSet<&str> = ids.iter().map(String::as_str).collect();
        for job in jobs {
            assert!(
                distinct.contains(job.to_string().as_str()),
                "email {job} never arrived"
            );
        }
        let mut counted = 0;
        for port in &self.metrics_ports {
            let Ok(response) = reqwest::get(format!("http://127.0.0.1:{port}/metrics")).await
            else {
                continue; // a worker the test killed
            };
            let text = response.text().await.unwrap();
            counted += text
                .lines()
                .find_map(|l| l.strip_prefix("marquee_emails_interrupted_total "))
                .map_or(0, |v| v.trim().parse::<f64>().unwrap() as usize);
        }
        let repeats = ids.len() - distinct.len();
        assert!(repeats <= counted, "{repeats} repeats, {counted} counted");
        (ids.len(), repeats, counted)
    }
}
