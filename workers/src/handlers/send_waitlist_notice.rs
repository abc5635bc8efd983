//! `send_waitlist_notice`: an offer with its deadline, an offer that ran
//! out, or a line closed because the event was cancelled.

use marquee_core::jobs::JobError;
use marquee_core::waitlist::{self, NoticeKind, SendWaitlistNotice};

use crate::email::send_once;
use crate::registry::JobContext;

/// Sends the notice once (its id is the job's). An offer that was taken,
/// declined or withdrawn before this ran is not announced any more.
pub async fn run(job: SendWaitlistNotice, ctx: JobContext) -> Result<(), JobError> {
    let notice = waitlist::notice(&ctx.pool, job.entry_id)
        .await
        .map_err(JobError::retryable)?
        .ok_or_else(|| JobError::permanent("no such waitlist entry"))?;
    let template = match job.kind {
        NoticeKind::Offered if notice.status != "offered" => {
            tracing::info!(entry.id = %job.entry_id, status = %notice.status, "offer over before its email");
            return Ok(());
        }
        NoticeKind::Offered => "waitlist_offered",
        NoticeKind::Expired => "waitlist_expired",
        NoticeKind::Closed => "waitlist_closed",
    };
    let public_url = ctx.settings.http.public_url.trim_end_matches('/');
    let context = serde_json::json!({
        "name": notice.name,
        "title": notice.title,
        "starts_at": notice.starts_at.format("%Y-%m-%d %H:%M UTC").to_string(),
        "quantity": notice.quantity,
        "offered": notice.offered_quantity,
        "partial": notice.offered_quantity.is_some_and(|n| n < notice.quantity),
        "deadline": notice.offer_expires_at.map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string()),
        "link": notice.hold_id.map(|hold| format!("{public_url}/api/v1/holds/{hold}")),
        "event_link": format!("{public_url}/api/v1/events/{}", notice.event_id),
    });
    send_once(&ctx, &notice.email, template, context).await
}
