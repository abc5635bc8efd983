//! The once-per-period newsletter: the scheduler enqueues one `SendDigest`
//! per frequency and period, which fans out one `SendNewsletter` email job
//! per active subscriber. Both carry dedupe keys built from the period, so
//! however many schedulers tick and however often a fan-out is retried, each
//! subscriber gets each period's issue once.

use chrono::{DateTime, Datelike, Duration, TimeZone, Timelike, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use super::Frequency;
use crate::jobs::{self, Job, JobOptions, Producer, queues};

/// Attempts of a digest (the most a job may have).
const DIGEST_ATTEMPTS: i32 = 25;

/// Subscribers read per fan-out transaction.
const FAN_OUT_BATCH: i64 = 500;

impl Frequency {
    /// Start of the period that contains `at` (UTC; weeks start Monday).
    pub fn period_start(self, at: DateTime<Utc>) -> DateTime<Utc> {
        let day = at.date_naive();
        let midnight =
            |date: chrono::NaiveDate| Utc.from_utc_datetime(&date.and_time(chrono::NaiveTime::MIN));
        match self {
            Self::Hourly => midnight(day) + Duration::hours(i64::from(at.hour())),
            Self::Daily => midnight(day),
            Self::Weekly => {
                midnight(day) - Duration::days(i64::from(day.weekday().num_days_from_monday()))
            }
            Self::Monthly => midnight(day.with_day(1).expect("every month has a 1st")),
        }
    }
}

/// Sends one period's issue of every content type to the subscribers of one
/// frequency.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SendDigest {
    /// Whose subscribers.
    pub frequency: Frequency,
    /// The period being sent.
    pub period_start: DateTime<Utc>,
}

impl Job for SendDigest {
    const KIND: &'static str = "send_digest";
    const QUEUE: &'static str = queues::SUBSCRIPTIONS;
}

/// One subscriber's issue for one period: the content as it is when sent.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SendNewsletter {
    /// `subscribers.id`
    pub subscriber_id: Uuid,
    /// The period.
    pub period_start: DateTime<Utc>,
}

impl Job for SendNewsletter {
    const KIND: &'static str = "send_newsletter";
    const QUEUE: &'static str = queues::EMAIL;
}

/// One subscriber's newsletter as it would be sent now.
#[derive(Debug, Clone)]
pub struct Newsletter {
    /// The account whose newsletter it is.
    pub owner_id: Uuid,
    /// The subscriber's address.
    pub address: String,
    /// False once unsubscribed.
    pub active: bool,
    /// The secret of the unsubscribe link.
    pub token: String,
    /// The content's subject.
    pub subject: String,
    /// Its plain-text body.
    pub text_body: String,
    /// Its HTML body.
    pub html_body: String,
}

/// The subscriber's newsletter: the address and the content type's current
/// content. `None` if the subscription (or its content type) is gone.
pub async fn newsletter(
    db: impl sqlx::PgExecutor<'_>,
    subscriber_id: Uuid,
) -> Result<Option<Newsletter>, sqlx::Error> {
    sqlx::query_as!(
        Newsletter,
        "SELECT s.owner_id, s.address, s.active, s.token, c.subject, c.text_body, c.html_body
         FROM subscribers s JOIN subscription_contents c USING (owner_id, content_type)
         WHERE s.id = $1",
        subscriber_id,
    )
    .fetch_optional(db)
    .await
}

/// Enqueues the digest of the period containing `at` for every frequency,
/// unless it exists already. The scheduler calls it every minute, so a
/// period's digest goes out at its first tick, or as soon as a scheduler is
/// back after downtime; periods wholly inside downtime are not replayed.
/// Returns how many digests this call enqueued.
pub async fn enqueue_digests(
    pool: &PgPool,
    producer: &Producer,
    at: DateTime<Utc>,
) -> Result<usize, sqlx::Error> {
    let mut tx = pool.begin().await?;
    let mut written = Vec::new();
    for frequency in Frequency::ALL {
        let period_start = frequency.period_start(at);
        let options = JobOptions {
            // One digest per period ever exists, so it must outlast an outage
            // (25 attempts with capped backoff is hours) rather than die.
            max_attempts: Some(DIGEST_ATTEMPTS),
            dedupe_key: Some(format!(
                "digest:{}:{}",
                frequency.as_str(),
                period_start.timestamp()
            )),
            ..JobOptions::default()
        };
        let digest = SendDigest {
            frequency,
            period_start,
        };
        written.extend(jobs::enqueue_with(&mut tx, &digest, options).await?);
    }
    tx.commit().await?;
    producer.dispatch(&written).await;
    Ok(written.len())
}

/// Enqueues a `SendNewsletter` for every active subscriber of `digest`'s
/// frequency, in batches; safe to run again (it only adds what is missing).
/// Returns how many it enqueued.
pub async fn fan_out(
    pool: &PgPool,
    producer: &Producer,
    digest: &SendDigest,
) -> Result<usize, sqlx::Error> {
    let period = digest.period_start.timestamp();
    let mut after = Uuid::nil();
    let mut total = 0;
    loop {
        let subscribers = sqlx::query_scalar!(
            "SELECT id FROM subscribers WHERE active AND frequency = $1 AND id > $2
             ORDER BY id LIMIT $3",
            digest.frequency.as_str(),
            after,
            FAN_OUT_BATCH,
        )
        .fetch_all(pool)
        .await?;
        let Some(&last) = subscribers.last() else {
            return Ok(total);
        };
        after = last;
        let newsletters: Vec<(SendNewsletter, String)> = subscribers
            .into_iter()
            .map(|subscriber_id| {
                let key = format!("newsletter:{subscriber_id}:{period}");
                let job = SendNewsletter {
                    subscriber_id,
                    period_start: digest.period_start,
                };
                (job, key)
            })
            .collect();
        let mut tx = pool.begin().await?;
        let written = jobs::enqueue_many_deduped(&mut tx, &newsletters).await?;
        tx.commit().await?;
        producer.dispatch(&written).await;
        total += written.len();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn periods_are_utc_calendar_units() {
        let t = at("2026-11-18T13:45:10Z"); // a Wednesday
        assert_eq!(
            Frequency::Hourly.period_start(t),
            at("2026-11-18T13:00:00Z")
        );
        assert_eq!(Frequency::Daily.period_start(t), at("2026-11-18T00:00:00Z"));
        assert_eq!(
            Frequency::Weekly.period_start(t),
            at("2026-11-16T00:00:00Z")
        );
        assert_eq!(
            Frequency::Monthly.period_start(t),
            at("2026-11-01T00:00:00Z")
        );
    }

    #[test]
    fn a_period_boundary_belongs_to_the_new_period() {
        let monday = at("2026-11-16T00:00:00Z");
        for frequency in Frequency::ALL {
            let start = frequency.period_start(monday - Duration::seconds(1));
            assert!(start < monday, "{frequency:?}");
        }
        assert_eq!(Frequency::Weekly.period_start(monday), monday);
        assert_eq!(
            Frequency::Monthly.period_start(at("2026-12-01T00:00:00Z")),
            at("2026-12-01T00:00:00Z")
        );
    }
}
