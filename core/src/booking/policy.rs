//! Cancellation policies: whether a booking may be cancelled now, and how
//! much comes back.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use uuid::Uuid;

use crate::auth::Invalid;

/// A refund step: cancelling at least `hours_before_start` before the
/// start refunds `refund_percent`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundTier {
    /// Hours before the start.
    pub hours_before_start: i32,
    /// 0-100.
    pub refund_percent: i32,
}

/// What a cancellation costs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FeeType {
    /// Nothing kept.
    None,
    /// `amount` minor units kept.
    Fixed,
    /// `amount` percent of the total kept.
    Percent,
}

/// An event's policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// Whether people may cancel at all.
    pub allow: bool,
    /// No cancelling closer to the start than this.
    pub deadline_hours_before_start: i32,
    /// Refund steps.
    pub refund_tiers: Vec<RefundTier>,
    /// Fee kind.
    pub fee_type: FeeType,
    /// Fee amount (minor units or percent).
    pub fee_amount: i32,
}

impl Default for Policy {
    /// Cancel up to 24 h before the start; 100% back a week or more
    /// before, 50% two days or more before, nothing after; no fee.
    fn default() -> Self {
        Self {
            allow: true,
            deadline_hours_before_start: 24,
            refund_tiers: vec![
                RefundTier {
                    hours_before_start: 168,
                    refund_percent: 100,
                },
                RefundTier {
                    hours_before_start: 48,
                    refund_percent: 50,
                },
            ],
            fee_type: FeeType::None,
            fee_amount: 0,
        }
    }
}

impl Policy {
    /// All problems at once.
    pub fn check(self) -> Result<Self, Vec<Invalid>> {
        let mut problems = Vec::new();
        if !(0..=24 * 366).contains(&self.deadline_hours_before_start) {
            problems.push(Invalid::new(
                "deadline_hours_before_start",
                "must be 0-8784",
            ));
        }
        if self.refund_tiers.len() > 10 {
            problems.push(Invalid::new("refund_tiers", "at most 10 tiers"));
        }
        if self
            .refund_tiers
            .iter()
            .any(|t| !(0..=100).contains(&t.refund_percent))
        {
            problems.push(Invalid::new("refund_tiers.refund_percent", "must be 0-100"));
        }
        if self
            .refund_tiers
            .iter()
            .any(|t| !(0..=24 * 366).contains(&t.hours_before_start))
        {
            problems.push(Invalid::new(
                "refund_tiers.hours_before_start",
                "must be 0-8784",
            ));
        }
        let fee_ok = match self.fee_type {
            FeeType::None => self.fee_amount == 0,
            FeeType::Fixed => (0..=100_000_000).contains(&self.fee_amount),
            FeeType::Percent => (0..=100).contains(&self.fee_amount),
        };
        if !fee_ok {
            problems.push(Invalid::new(
                "fee.amount",
                "0 for none, 0-100 for percent, >= 0 for fixed",
            ));
        }
        if problems.is_empty() {
            Ok(self)
        } else {
            Err(problems)
        }
    }

    /// The refund for cancelling a booking of `total_cents` at `at`, or why
    /// it cannot be cancelled. A tier applies from exactly its hour: at
    /// 48 h before the start the 48 h tier counts.
    pub fn refund(
        &self,
        total_cents: i32,
        starts_at: DateTime<Utc>,
        at: DateTime<Utc>,
    ) -> Result<i32, String> {
        if !self.allow {
            return Err("this event does not allow cancellations".to_owned());
        }
        if at > starts_at - Duration::hours(i64::from(self.deadline_hours_before_start)) {
            return Err(format!(
                "cancellations close {} hours before the start",
                self.deadline_hours_before_start
            ));
        }
        let percent = self
            .refund_tiers
            .iter()
            .filter(|t| at <= starts_at - Duration::hours(i64::from(t.hours_before_start)))
            .map(|t| t.refund_percent)
            .max()
            .unwrap_or(0);
        let total = i64::from(total_cents);
        let refund = total * i64::from(percent) / 100;
        let fee = match self.fee_type {
            FeeType::None => 0,
            FeeType::Fixed => i64::from(self.fee_amount),
            FeeType::Percent => total * i64::from(self.fee_amount) / 100,
        };
        Ok((refund - fee).max(0) as i32)
    }
}

/// A stored policy, before its fee type is parsed.
struct PolicyRow {
    allow: bool,
    deadline_hours_before_start: i32,
    refund_tiers: sqlx::types::Json<Vec<RefundTier>>,
    fee_type: String,
    fee_amount: i32,
}

/// The event's policy, or the default.
pub async fn get(db: impl sqlx::PgExecutor<'_>, event: Uuid) -> Result<Policy, sqlx::Error> {
    let row = sqlx::query_as!(
        PolicyRow,
        r#"SELECT allow, deadline_hours_before_start,
                refund_tiers AS "refund_tiers: sqlx::types::Json<Vec<RefundTier>>",
                fee_type, fee_amount
         FROM cancellation_policies WHERE event_id = $1"#,
        event,
    )
    .fetch_optional(db)
    .await?;
    Ok(match row {
        None => Policy::default(),
        Some(row) => Policy {
            allow: row.allow,
            deadline_hours_before_start: row.deadline_hours_before_start,
            refund_tiers: row.refund_tiers.0,
            fee_type: match row.fee_type.as_str() {
                "fixed" => FeeType::Fixed,
                "percent" => FeeType::Percent,
                _ => FeeType::None,
            },
            fee_amount: row.fee_amount,
        },
    })
}

/// Sets the event's policy (it applies to cancellations from now on).
pub async fn put(pool: &PgPool, event: Uuid, policy: &Policy) -> Result<(), sqlx::Error> {
    let fee_type = match policy.fee_type {
        FeeType::None => "none",
        FeeType::Fixed => "fixed",
        FeeType::Percent => "percent",
    };
    sqlx::query!(
        "INSERT INTO cancellation_policies (event_id, allow, deadline_hours_before_start, refund_tiers, fee_type, fee_amount)
         VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (event_id) DO UPDATE SET allow = $2, deadline_hours_before_start = $3,
             refund_tiers = $4, fee_type = $5, fee_amount = $6, updated_at = now()",
        event,
        policy.allow,
        policy.deadline_hours_before_start,
        // Encoded as JSON, not checked against `JsonValue`.
        sqlx::types::Json(&policy.refund_tiers) as _,
        fee_type,
        policy.fee_amount,
    )
    .execute(pool)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn each_tier_applies_from_exactly_its_hour() {
        let policy = Policy::default();
        let start = at("2026-12-31T20:00:00Z");
        let hours_before = |h: i64| start - Duration::hours(h);
        let second = Duration::seconds(1);
        assert_eq!(policy.refund(10_000, start, hours_before(168)), Ok(10_000));
        assert_eq!(
            policy.refund(10_000, start, hours_before(168) + second),
            Ok(5_000)
        );
        assert_eq!(policy.refund(10_000, start, hours_before(48)), Ok(5_000));
        assert_eq!(
            policy.refund(10_000, start, hours_before(48) + second),
            Ok(0)
        );
        assert_eq!(policy.refund(10_000, start, hours_before(24)), Ok(0));
        assert!(
            policy
                .refund(10_000, start, hours_before(24) + second)
                .is_err(),
            "past the deadline"
        );
    }

    #[test]
    fn fees_come_off_the_refund_and_never_below_zero() {
        let mut policy = Policy {
            fee_type: FeeType::Fixed,
            fee_amount: 700,
            ..Policy::default()
        };
        let start = at("2026-12-31T20:00:00Z");
        let early = start - Duration::days(30);
        assert_eq!(policy.refund(10_000, start, early), Ok(9_300));
        assert_eq!(policy.refund(500, start, early), Ok(0));
        policy.fee_type = FeeType::Percent;
        policy.fee_amount = 10;
        assert_eq!(policy.refund(10_000, start, early), Ok(9_000));
        policy.allow = false;
        assert!(policy.refund(10_000, start, early).is_err());
    }
}
