//! What bounds guessing six-digit one-time codes (password reset and email
//! verification), beyond each code locking after 5 wrong tries and the
//! limits per address: every check counts against the client IP's budget,
//! and against one budget of *failed* checks shared by all accounts, so
//! guesses spread over many accounts and many IPs stay bounded too.
//! A check is counted before the code is compared (concurrent guesses cannot
//! overshoot) and refunded when it succeeds: people who type their code
//! right never spend the global budget. Failures and refusals are counted in
//! Prometheus (`marquee_code_guesses_failed_total{purpose}`,
//! `marquee_code_guesses_refused_total{limit}`), so an attack shows.

use marquee_core::auth::codes::Purpose;
use marquee_core::rate_limit::Decision;

use crate::client_ip::ClientIp;
use crate::problem::ApiError;
use crate::state::AppState;

/// Redis bucket of failed checks; one key for the whole installation.
const GLOBAL: (&str, &str) = ("code-failures", "all");

/// A code check allowed to run; settle it with the outcome.
#[must_use = "settle the guess with its outcome"]
pub struct Guess<'a> {
    state: &'a AppState,
    purpose: Purpose,
}

/// Counts one check of a `purpose` code from `ip`: 429 with Retry-After when
/// the IP's budget or the global failed-check budget is spent.
pub async fn begin(
    state: &AppState,
    ip: ClientIp,
    purpose: Purpose,
) -> Result<Guess<'_>, ApiError> {
    let rules = &state.settings.rate_limits;
    state
        .limit("code-ip", &ip.limit_key(), rules.code_verify_per_ip)
        .await?;
    match state
        .limiter
        .check(GLOBAL.0, GLOBAL.1, rules.code_failures_global)
        .await
    {
        Decision::Allowed => Ok(Guess { state, purpose }),
        Decision::Limited { retry_after } => {
            metrics::counter!("marquee_code_guesses_refused_total", "limit" => "global")
                .increment(1);
            tracing::warn!(
                purpose = label(purpose),
                "one-time-code checks refused: too many failed guesses across all accounts"
            );
            Err(ApiError::RateLimited {
                retry_after: retry_after.as_secs().max(1) as u32,
            })
        }
    }
}

impl Guess<'_> {
    /// A success gives the global budget its place back; a failure stays
    /// counted there and in the metric.
    pub async fn settle(self, succeeded: bool) {
        if succeeded {
            let rule = self.state.settings.rate_limits.code_failures_global;
            self.state.limiter.refund(GLOBAL.0, GLOBAL.1, rule).await;
        } else {
            metrics::counter!("marquee_code_guesses_failed_total", "purpose" => label(self.purpose))
                .increment(1);
        }
    }
}

fn label(purpose: Purpose) -> &'static str {
    match purpose {
        Purpose::PasswordReset => "password_reset",
        Purpose::VerifyEmail => "verify_email",
    }
}
