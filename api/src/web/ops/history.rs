//! Throughput and failures over time, drawn from the per-minute and
//! per-day counters: 48 hours per minute, 90 days per day.

use chrono::{Duration, Utc};
use marquee_core::ops::history::{self, Resolution};
use poem::{Response, handler};

use super::operator;
use crate::web::chart::{Point, count, svg};
use crate::web::page::{Stop, Web};

/// Processed and failed attempts over every queue, per bucket.
async fn charts(
    web: &Web,
    resolution: Resolution,
    span: Duration,
    label: &str,
) -> Result<(String, String, i64, i64), Stop> {
    let now = Utc::now();
    let queues = &web.state.settings.worker.queues;
    let points = history::series(&web.state.pool, queues, resolution, now - span, now)
        .await
        .map_err(|e| web.fail(e))?;
    // Series come per queue, oldest first: add the queues up per bucket.
    let mut buckets: std::collections::BTreeMap<chrono::DateTime<Utc>, (i64, i64)> =
        Default::default();
    for p in &points {
        let bucket = buckets.entry(p.at).or_default();
        bucket.0 += p.processed;
        bucket.1 += p.failed;
    }
    let format = match resolution {
        Resolution::Minute => "%d %H:%M",
        Resolution::Day => "%-d %b",
    };
    let series = |pick: fn(&(i64, i64)) -> i64| -> Vec<Point> {
        buckets
            .iter()
            .map(|(at, v)| Point {
                label: at.format(format).to_string(),
                value: pick(v) as f64,
            })
            .collect()
    };
    let processed: i64 = buckets.values().map(|v| v.0).sum();
    let failed: i64 = buckets.values().map(|v| v.1).sum();
    Ok((
        svg(
            &format!("Jobs processed, {label}"),
            &series(|v| v.0),
            "processed",
            count,
        ),
        svg(
            &format!("Jobs failed, {label}"),
            &series(|v| v.1),
            "failed",
            count,
        ),
        processed,
        failed,
    ))
}

/// `GET /ops/history`
#[handler]
pub async fn show(web: Web) -> Result<Response, Stop> {
    operator(&web)?;
    let (minute_done, minute_failed, minute_total, minute_failures) = charts(
        &web,
        Resolution::Minute,
        Duration::hours(history::MINUTES_KEPT_HOURS),
        "per minute, last 48 hours",
    )
    .await?;
    let (day_done, day_failed, day_total, day_failures) = charts(
        &web,
        Resolution::Day,
        Duration::days(history::DAYS_KEPT),
        "per day, last 90 days",
    )
    .await?;
    let safe = minijinja::Value::from_safe_string;
    Ok(web.page(
        "ops/history.html",
        minijinja::context! {
            minute_done => safe(minute_done), minute_failed => safe(minute_failed),
            day_done => safe(day_done), day_failed => safe(day_failed),
            minute_total, minute_failures, day_total, day_failures,
        },
    ))
}
