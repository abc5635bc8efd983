//! Payment providers. Only the `fake` provider ships: no card network can
//! be reached from here, so it is deterministic, keeps its own books in
//! PostgreSQL, and is the documented development default.
//!
//! | token | outcome |
//! |---|---|
//! | `tok_ok` | paid |
//! | `tok_declined` (or any unknown token) | declined (402) |
//! | `tok_error` | provider failure, retryable (503) |
//! | `tok_slow` | paid, but the answer comes 10 s after the charge is made (crash tests kill the API in between) |
//! | `tok_stall` | paid, after a 10 s pause before the charge is made (crash tests kill the API before it) |
//!
//! Refunds always succeed, unless an outage is switched on with
//! [`FakeProvider::fail_next_refunds`]: the next N refund calls then fail as
//! "unavailable" (retryable), counted in `fake_provider_outages`, so every
//! process using the same database sees the same outage.

use futures::FutureExt;
use futures::future::BoxFuture;
use sqlx::PgPool;

/// A charge to make, once per idempotency key.
#[derive(Debug, Clone)]
pub struct ChargeRequest {
    /// The same key never charges twice (we use the hold id).
    pub idempotency_key: String,
    /// The card token from the client.
    pub token: String,
    /// Minor units.
    pub amount_cents: i64,
    /// ISO 4217.
    pub currency: String,
}

/// Why no money moved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PaymentError {
    /// The card was refused; retrying will not help.
    #[error("payment declined: {0}")]
    Declined(String),
    /// The provider failed; retry later.
    #[error("payment provider unavailable: {0}")]
    Unavailable(String),
}

/// Takes money.
pub trait PaymentProvider: Send + Sync + std::fmt::Debug {
    /// Stored with each payment.
    fn name(&self) -> &'static str;

    /// Charges, or returns the charge made earlier under the same key.
    /// `Ok` is the provider's charge id.
    fn charge<'a>(
        &'a self,
        request: &'a ChargeRequest,
    ) -> BoxFuture<'a, Result<String, PaymentError>>;

    /// The successful charge made under `idempotency_key`, if any: what
    /// reconciliation asks after a crash left a payment in doubt. `Ok` is
    /// its charge id.
    fn find_charge<'a>(
        &'a self,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, PaymentError>>;

    /// Pays `amount_cents` of `charge_id` back, once per idempotency key.
    /// `Ok` is the provider's refund id.
    fn refund<'a>(
        &'a self,
        request: &'a RefundRequest,
    ) -> BoxFuture<'a, Result<String, PaymentError>>;
}

/// Money to give back.
#[derive(Debug, Clone)]
pub struct RefundRequest {
    /// The same key never refunds twice (we use the refund id).
    pub idempotency_key: String,
    /// The provider's charge.
    pub charge_id: String,
    /// Minor units.
    pub amount_cents: i64,
}

/// The deterministic test and development provider.
#[derive(Debug, Clone)]
pub struct FakeProvider {
    pool: PgPool,
}

impl FakeProvider {
    /// Keeps its books in `fake_provider_charges`.
    pub fn new(pool: PgPool) -> Self {
        Self { pool }
    }

    /// Makes the next `calls` refund calls fail as unavailable (0 ends the
    /// outage): a deterministic provider outage for tests and demos.
    pub async fn fail_next_refunds(pool: &PgPool, calls: i32) -> Result<(), sqlx::Error> {
        sqlx::query!(
            "INSERT INTO fake_provider_outages (operation, remaining) VALUES ('refund', $1)
             ON CONFLICT (operation) DO UPDATE SET remaining = EXCLUDED.remaining",
            calls,
        )
        .execute(pool)
        .await?;
        Ok(())
    }

    async fn refund_now(&self, request: &RefundRequest) -> Result<String, PaymentError> {
        let unavailable = |e: sqlx::Error| PaymentError::Unavailable(e.to_string());
        let outage = sqlx::query_scalar!(
            "UPDATE fake_provider_outages SET remaining = remaining - 1
             WHERE operation = 'refund' AND remaining > 0 RETURNING remaining",
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(unavailable)?;
        if let Some(left) = outage {
            return Err(PaymentError::Unavailable(format!(
                "the fake provider is down ({left} more refund calls fail)"
            )));
        }
        sqlx::query!(
            "INSERT INTO fake_provider_refunds (idempotency_key, id, charge_id, amount_cents)
             VALUES ($1, $2, $3, $4) ON CONFLICT (idempotency_key) DO NOTHING",
            request.idempotency_key,
            format!("fake_re_{}", uuid::Uuid::new_v4().simple()),
            request.charge_id,
            i32::try_from(request.amount_cents).unwrap_or(i32::MAX),
        )
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        sqlx::query_scalar!(
            "SELECT id FROM fake_provider_refunds WHERE idempotency_key = $1",
            request.idempotency_key,
        )
        .fetch_one(&self.pool)
        .await
        .map_err(unavailable)
    }

    async fn find_charge_now(&self, key: &str) -> Result<Option<String>, PaymentError> {
        sqlx::query_scalar!(
            "SELECT id FROM fake_provider_charges WHERE idempotency_key = $1 AND outcome = 'paid'",
            key,
        )
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| PaymentError::Unavailable(e.to_string()))
    }

    async fn charge_now(&self, request: &ChargeRequest) -> Result<String, PaymentError> {
        if request.token == "tok_stall" {
            tokio::time::sleep(CRASH_WINDOW).await;
        }
        let outcome = match request.token.as_str() {
            "tok_ok" | "tok_slow" | "tok_stall" => "paid",
            "tok_error" => {
                return Err(PaymentError::Unavailable(
                    "the fake provider failed (tok_error)".to_owned(),
                ));
            }
            _ => "declined",
        };
        let unavailable = |e: sqlx::Error| PaymentError::Unavailable(e.to_string());
        sqlx::query!(
            "INSERT INTO fake_provider_charges (idempotency_key, id, token, amount_cents, currency, outcome)
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (idempotency_key) DO NOTHING",
            request.idempotency_key,
            format!("fake_ch_{}", uuid::Uuid::new_v4().simple()),
            request.token,
            i32::try_from(request.amount_cents).unwrap_or(i32::MAX),
            request.currency,
            outcome,
        )
        .execute(&self.pool)
        .await
        .map_err(unavailable)?;
        // The first charge under a key decides (a paid key stays paid).
        let charge = sqlx::query!(
            "SELECT id, outcome FROM fake_provider_charges WHERE idempotency_key = $1",
            request.idempotency_key,
        )
        .fetch_one(&self.pool)
        .await
        .map_err(unavailable)?;
        let id = charge.id;
        if charge.outcome == "paid" {
            if request.token == "tok_slow" {
                tokio::time::sleep(CRASH_WINDOW).await;
            }
            return Ok(id);
        }
        if outcome == "paid" {
            // A new card after a decline: a new attempt under a new key.
            sqlx::query!(
                "UPDATE fake_provider_charges SET outcome = 'paid', token = $2 WHERE idempotency_key = $1",
                request.idempotency_key,
                request.token,
            )
            .execute(&self.pool)
            .await
            .map_err(unavailable)?;
            return Ok(id);
        }
        Err(PaymentError::Declined("the card was declined".to_owned()))
    }
}

impl PaymentProvider for FakeProvider {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn charge<'a>(
        &'a self,
        request: &'a ChargeRequest,
    ) -> BoxFuture<'a, Result<String, PaymentError>> {
        self.charge_now(request).boxed()
    }

    fn find_charge<'a>(
        &'a self,
        idempotency_key: &'a str,
    ) -> BoxFuture<'a, Result<Option<String>, PaymentError>> {
        self.find_charge_now(idempotency_key).boxed()
    }

    fn refund<'a>(
        &'a self,
        request: &'a RefundRequest,
    ) -> BoxFuture<'a, Result<String, PaymentError>> {
        self.refund_now(request).boxed()
    }
}

/// How long `tok_slow` and `tok_stall` pause: room for a test to kill the
/// process at that point of a checkout.
const CRASH_WINDOW: std::time::Duration = std::time::Duration::from_secs(10);
