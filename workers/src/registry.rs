//! Which code runs for which job kind: the one place handlers are registered.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;
use marquee_core::Settings;
use marquee_core::auth::codes::SendCode;
use marquee_core::booking::cancel::{CancelEventBookings, ProcessRefund};
use marquee_core::booking::checkout::SendBookingConfirmation;
use marquee_core::booking::holds::ExpireHolds;
use marquee_core::booking::redrive::RedriveRefunds;
use marquee_core::insights::FoldEventStats;
use marquee_core::jobs::{Job, JobError, Noop, Producer, PruneQueues, WelcomeEmail};
use marquee_core::otp::IssueOtp;
use marquee_core::subscriptions::{SendDigest, SendNewsletter, Subscribe, Unsubscribe};
use marquee_core::tasks::SendMessage;
use marquee_core::tickets::IssueTickets;
use marquee_core::tickets::files::SendTickets;
use marquee_core::waitlist::{PromoteWaitlist, SendWaitlistNotice};
use sqlx::PgPool;
use uuid::Uuid;

use crate::email::Mailer;
use crate::handlers;

/// What a handler gets besides its payload.
#[derive(Debug, Clone)]
pub struct JobContext {
    /// `jobs.id`
    pub job_id: Uuid,
    /// This attempt (1-based).
    pub attempt: i32,
    /// Attempts allowed.
    pub max_attempts: i32,
    /// The database.
    pub pool: PgPool,
    /// Connections of their own for the `emails` record around each send.
    /// Never waiting behind `pool` keeps short the window in which a crash
    /// makes a resend, and lets a handler that holds a `pool` transaction
    /// wait for an SMTP permit without starving the permit holders.
    pub records: PgPool,
    /// For jobs that enqueue jobs.
    pub producer: Producer,
    /// Loaded settings.
    pub settings: Arc<Settings>,
    /// Outgoing mail.
    pub mailer: Mailer,
    /// Pays refunds back.
    pub payments: Arc<dyn marquee_core::booking::payments::PaymentProvider>,
    /// Tells live clients about committed changes.
    pub live: marquee_core::live::Publisher,
}

type BoxedHandler = Arc<
    dyn Fn(serde_json::Value, JobContext) -> BoxFuture<'static, Result<(), JobError>> + Send + Sync,
>;

/// Handlers by job kind.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<&'static str, BoxedHandler>,
}

impl Registry {
    /// Every handler Marquee ships.
    pub fn standard() -> Self {
        Self::default()
            .on::<Noop, _, _>(handlers::noop::run)
            .on::<PruneQueues, _, _>(handlers::prune_queues::run)
            .on::<WelcomeEmail, _, _>(handlers::welcome_email::run)
            .on::<SendCode, _, _>(handlers::send_code::run)
            .on::<SendMessage, _, _>(handlers::send_message::run)
            .on::<IssueOtp, _, _>(handlers::issue_otp::run)
            .on::<Subscribe, _, _>(handlers::subscription_change::subscribe)
            .on::<Unsubscribe, _, _>(handlers::subscription_change::unsubscribe)
            .on::<SendDigest, _, _>(handlers::send_digest::run)
            .on::<SendNewsletter, _, _>(handlers::send_newsletter::run)
            .on::<ExpireHolds, _, _>(handlers::expire_holds::run)
            .on::<ProcessRefund, _, _>(handlers::process_refund::run)
            .on::<CancelEventBookings, _, _>(handlers::cancel_event_bookings::run)
            .on::<RedriveRefunds, _, _>(handlers::redrive_refunds::run)
            .on::<FoldEventStats, _, _>(handlers::fold_event_stats::run)
            .on::<SendBookingConfirmation, _, _>(handlers::send_booking_confirmation::run)
            .on::<IssueTickets, _, _>(handlers::issue_tickets::run)
            .on::<SendTickets, _, _>(handlers::send_tickets::run)
            .on::<PromoteWaitlist, _, _>(handlers::promote_waitlist::run)
            .on::<SendWaitlistNotice, _, _>(handlers::send_waitlist_notice::run)
    }

    /// Registers `handler` for jobs of kind `J`. A payload that does not
    /// decode is a permanent failure: retrying cannot fix it.
    pub fn on<J, F, Fut>(mut self, handler: F) -> Self
    where
        J: Job,
        F: Fn(J, JobContext) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), JobError>> + Send + 'static,
    {
        let handler = Arc::new(handler);
        let boxed: BoxedHandler = Arc::new(move |payload, ctx| {
            let handler = handler.clone();
            async move {
                let job: J = serde_json::from_value(payload).map_err(|e| {
                    JobError::permanent(format!("payload of `{}` does not decode: {e}", J::KIND))
                })?;
                handler(job, ctx).await
            }
            .boxed()
        });
        self.handlers.insert(J::KIND, boxed);
        self
    }

    /// The handler of `kind`.
    pub(crate) fn get(&self, kind: &str) -> Option<&BoxedHandler> {
        self.handlers.get(kind)
    }
}
